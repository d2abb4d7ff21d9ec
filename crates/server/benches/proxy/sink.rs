//! The upload sink: a tiny rack stand-in that counts object bytes and throws them away (the
//! fake rack keeps objects in memory, so it cannot take 1 GiB). It answers
//! `POST /apps/{app}/objects/{key}` with `{"Url":"object://app/key"}` and `GET /system` (the
//! gateway's readiness probe) with a small JSON. It runs on its own thread and runtime so that
//! it does not share the load generator's workers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::ensure;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub struct Sink {
    pub addr: SocketAddr,
    /// Bytes of the last completed object upload.
    pub last_object: Arc<AtomicU64>,
}

/// Starts the sink on 127.0.0.1 (port 0) in a background thread that lives as long as the
/// process.
pub fn start() -> anyhow::Result<Sink> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let last_object = Arc::new(AtomicU64::new(0));
    let last = last_object.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("upload-sink".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let last = last.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| handle(req, last.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        })?;
    Ok(Sink { addr, last_object })
}

async fn handle(
    req: Request<Incoming>,
    last: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let json = |status: StatusCode, body: String| -> Result<Response<Full<Bytes>>, Infallible> {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        Ok(r)
    };
    if req.method() == Method::GET && path == "/system" {
        return json(
            StatusCode::OK,
            r#"{"name":"bench-sink","provider":"bench","status":"running","version":"bench"}"#
                .into(),
        );
    }
    let object = path
        .strip_prefix("/apps/")
        .and_then(|rest| rest.split_once("/objects/"))
        .map(|(app, key)| format!("object://{app}/{key}"));
    match (req.method() == Method::POST, object) {
        (true, Some(url)) => {
            let mut body = req.into_body();
            let mut n = 0u64;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            n += d.len() as u64;
                        }
                    }
                    Err(_) => return json(StatusCode::BAD_REQUEST, r#"{"error":"body"}"#.into()),
                }
            }
            last.store(n, Ordering::SeqCst);
            json(StatusCode::OK, format!(r#"{{"Url":"{url}"}}"#))
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.into()),
    }
}

/// One upload's result.
pub struct Upload {
    pub elapsed: std::time::Duration,
    pub mbps: f64,
}

/// Bytes each upload sends.
pub const UPLOAD: u64 = 1 << 30;
const OBJECT: &str = "/apps/myapp/objects/bench/upload-1g.bin";

/// Uploads 1 GiB to `t` and checks that the sink got every byte.
pub async fn upload(sink: &Sink, t: &super::load::Target) -> anyhow::Result<Upload> {
    sink.last_object.store(0, Ordering::SeqCst);
    let (elapsed, status, body) = super::load::upload(t, OBJECT, UPLOAD).await?;
    ensure!(
        status.is_success(),
        "{}: upload answered {status}: {}",
        t.name,
        String::from_utf8_lossy(&body)
    );
    let got = sink.last_object.load(Ordering::SeqCst);
    ensure!(
        got == UPLOAD,
        "{}: the sink received {got} bytes, expected {UPLOAD}",
        t.name
    );
    Ok(Upload {
        elapsed,
        mbps: UPLOAD as f64 / 1e6 / elapsed.as_secs_f64(),
    })
}
