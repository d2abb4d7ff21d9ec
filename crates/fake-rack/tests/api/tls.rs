//! `--tls`: HTTPS with a self-signed certificate that tests can trust by pinning it.

use fake_rack::{Options, Timing};

use super::helpers::{PASSWORD, basic};

#[tokio::test]
async fn tls_serves_https_with_a_self_signed_certificate() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rack = fake_rack::spawn(
        listener,
        Options {
            password: PASSWORD.to_owned(),
            timing: Timing::fast(),
            tls: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert!(rack.url().starts_with("https://"));
    let certificate = rack.tls_certificate().unwrap();
    assert_eq!(certificate.sha256_fingerprint.len(), 64);
    assert!(certificate.pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let trusted = reqwest::Certificate::from_pem(certificate.pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([trusted])
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/system?", rack.url()))
        .header("Authorization", basic("convox", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let system: serde_json::Value = response.json().await.unwrap();
    assert!(system["version"].as_str().unwrap().starts_with("3."));

    // A client that does not trust the certificate is refused.
    let strict = reqwest::Client::new();
    assert!(
        strict
            .get(format!("{}/system?", rack.url()))
            .send()
            .await
            .is_err()
    );
    rack.shutdown().await;
}
