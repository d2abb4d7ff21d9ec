//! TLS to the rack: a CA file or a pinned fingerprint is required; skipping verification is an
//! explicit opt-in.

use reqwest::StatusCode;

use crate::harness::{Gateway, each_backend};

#[tokio::test]
async fn a_pinned_fingerprint_trusts_the_racks_self_signed_certificate_and_a_wrong_one_does_not() {
    each_backend(|ts| async move {
        let rack = Gateway::rack(true).await;
        let fingerprint = rack.tls_certificate().unwrap().sha256_fingerprint.clone();
        let gw = Gateway::start_on(ts, rack, &[("RGW_RACK_TLS_FINGERPRINT", &fingerprint)]).await;
        let cx = gw.convox(&gw.token("viewer-tok", "viewer").await);
        assert_eq!(cx.get("/apps").await.status(), StatusCode::OK);
        gw.stop().await;
    })
    .await;
    each_backend(|ts| async move {
        let rack = Gateway::rack(true).await;
        let wrong = "00".repeat(32);
        let gw = Gateway::start_on(ts, rack, &[("RGW_RACK_TLS_FINGERPRINT", &wrong)]).await;
        let cx = gw.convox(&gw.token("viewer-tok", "viewer").await);
        let r = cx.get("/apps").await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert!(r.text().await.unwrap().contains("fingerprint"));
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_ca_file_trusts_the_rack_and_no_trust_setting_refuses_it() {
    each_backend(|ts| async move {
        let rack = Gateway::rack(true).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("rack-ca.pem");
        std::fs::write(&ca, &rack.tls_certificate().unwrap().pem).unwrap();
        let gw = Gateway::start_on(ts, rack, &[("RGW_RACK_CA_FILE", ca.to_str().unwrap())]).await;
        let cx = gw.convox(&gw.token("viewer-tok", "viewer").await);
        let r = cx.get("/apps").await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        gw.stop().await;
    })
    .await;
    each_backend(|ts| async move {
        let rack = Gateway::rack(true).await;
        let gw = Gateway::start_on(ts, rack, &[]).await;
        let cx = gw.convox(&gw.token("viewer-tok", "viewer").await);
        assert_eq!(cx.get("/apps").await.status(), StatusCode::BAD_GATEWAY);
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn insecure_mode_must_be_asked_for_explicitly() {
    each_backend(|ts| async move {
        let rack = Gateway::rack(true).await;
        let gw = Gateway::start_on(ts, rack, &[("RGW_RACK_TLS_INSECURE", "true")]).await;
        let cx = gw.convox(&gw.token("viewer-tok", "viewer").await);
        assert_eq!(cx.get("/apps").await.status(), StatusCode::OK);
        gw.stop().await;
    })
    .await;
}
