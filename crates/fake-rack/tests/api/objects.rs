//! The per-app object store (§1 Objects): store, fetch, head quirk, delete, hostile keys.

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{APP, PASSWORD, TestRack, basic};

#[tokio::test]
async fn objects_round_trip_and_head_answers_a_json_bool() {
    let t = TestRack::start().await;
    let body = vec![7u8; 100_000];
    let response = t
        .post_bytes(&format!("/apps/{APP}/objects/dir/blob.bin"), body.clone())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let fetched = t.get(&format!("/apps/{APP}/objects/dir/blob.bin")).await;
    assert_eq!(
        fetched.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), body.as_slice());

    for (key, _exists) in [("dir/blob.bin", true), ("missing", false)] {
        let head = t
            .request(reqwest::Method::HEAD, &format!("/apps/{APP}/objects/{key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.status(),
            StatusCode::OK,
            "{key}: 200 even when missing"
        );
        assert_eq!(head.headers()["content-type"], "application/json");
    }

    assert_eq!(
        t.delete(&format!("/apps/{APP}/objects/dir/blob.bin"))
            .await
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    assert_eq!(
        t.get(&format!("/apps/{APP}/objects/dir/blob.bin"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// Sends a raw request so the path reaches the rack without client-side normalisation.
async fn raw_request(t: &TestRack, method: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(t.rack.addr()).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        t.rack.addr(),
        basic("convox", PASSWORD)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn object_keys_with_dot_dot_segments_are_refused() {
    let t = TestRack::start().await;
    for (method, path) in [
        ("POST", "/apps/myapp/objects/tmp/../../etc/passwd"),
        ("GET", "/apps/myapp/objects/../secret"),
        ("POST", "/apps/myapp/objects/tmp%2F..%2Fescape"),
    ] {
        let response = raw_request(&t, method, path).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{path}: {response}");
        assert!(
            response.ends_with("\r\n\r\ninvalid object key\n"),
            "{path}: {response}"
        );
    }
    // The path reached the rack raw (no normalisation on the way).
    let recorded = t.rack.requests();
    assert_eq!(recorded[0].path, "/apps/myapp/objects/tmp/../../etc/passwd");
}

#[tokio::test]
async fn objects_of_an_unknown_app_are_not_found() {
    let t = TestRack::start().await;
    let response = t.post_bytes("/apps/nope/objects/x", b"x".to_vec()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_uploads_are_refused() {
    let t = TestRack::start_with(fake_rack::Options {
        password: PASSWORD.to_owned(),
        limits: fake_rack::Limits {
            max_object_bytes: 1000,
            ..fake_rack::Limits::default()
        },
        ..fake_rack::Options::default()
    })
    .await;
    let response = t
        .post_bytes(&format!("/apps/{APP}/objects/big"), vec![0; 1001])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = t
        .post_bytes(&format!("/apps/{APP}/objects/ok"), vec![0; 1000])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
