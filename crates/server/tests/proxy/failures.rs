//! A slow or dying rack: clear 502/504 answers, and the gateway stays up.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::net::TcpListener;

use crate::harness::{Gateway, each_backend};

#[tokio::test]
async fn an_unreachable_rack_answers_502_and_the_gateway_stays_up() {
    each_backend(|ts| async move {
        // A port nobody listens on.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let rack_url = format!("http://convox:pw@127.0.0.1:{port}");
        let gw = Gateway::start_with(ts, &[("RGW_RACK_URL", &rack_url)]).await;
        let cx = gw.convox(&gw.token("admin-tok", "admin").await);
        let r = cx.get("/apps").await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert!(r.text().await.unwrap().contains("unreachable"));
        let health = reqwest::get(format!("{}/healthz", gw.base)).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let ready = reqwest::get(format!("{}/readyz", gw.base)).await.unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_rack_that_never_answers_times_out_with_504() {
    each_backend(|ts| async move {
        // Accepts connections and then says nothing.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = silent.accept().await {
                held.push(sock);
            }
        });
        let rack_url = format!("http://convox:pw@127.0.0.1:{port}");
        let gw = Gateway::start_with(
            ts,
            &[
                ("RGW_RACK_URL", &rack_url),
                ("RGW_RACK_IDLE_TIMEOUT_SECS", "1"),
            ],
        )
        .await;
        let cx = gw.convox(&gw.token("admin-tok", "admin").await);
        let started = std::time::Instant::now();
        let r = cx.get("/apps").await;
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(5));
        hold.abort();
        gw.stop().await;
    })
    .await;
}
