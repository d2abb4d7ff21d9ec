//! `TestRack`: a fake rack on port 0 plus typed helpers that send what the Go SDK sends.

use std::time::Duration;

use base64::Engine;
use fake_rack::{FakeRack, Options, Timing};
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const PASSWORD: &str = "secret";
pub const APP: &str = "myapp";
pub const EXIT_MARKER: &str = "F1E49A85-0AD7-4AEF-A618-C249C6E6568D";
pub const MANIFEST: &str =
    "services:\n  web:\n    build: .\n    port: 3000\n  worker:\n    image: busybox:${TAG}\n";

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestRack {
    pub rack: FakeRack,
    pub client: reqwest::Client,
}

pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

impl TestRack {
    pub async fn start() -> Self {
        Self::start_with(Options {
            password: PASSWORD.to_owned(),
            apps: vec![APP.to_owned()],
            timing: Timing::fast(),
            ..Options::default()
        })
        .await
    }

    pub async fn start_with(options: Options) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rack = fake_rack::spawn(listener, options).await.unwrap();
        let client = reqwest::Client::new();
        Self { rack, client }
    }

    pub fn url(&self, path: &str) -> String {
        // The SDK always appends `?`, even with an empty query.
        if path.contains('?') {
            format!("{}{path}", self.rack.url())
        } else {
            format!("{}{path}?", self.rack.url())
        }
    }

    /// A request with the SDK's headers: Basic auth, `Accept: */*`, a Content-Type always.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header(AUTHORIZATION, basic("convox", PASSWORD))
            .header(ACCEPT, "*/*")
            .header("Version", "dev")
            .header("User-Agent", "convox.go/dev")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn send_form(
        &self,
        method: reqwest::Method,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.request(method, path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.send_form(reqwest::Method::POST, path, fields).await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Response {
        self.request(reqwest::Method::POST, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(reqwest::Method::DELETE, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .send()
            .await
            .unwrap()
    }

    /// Uploads a tarball the way `convox deploy` does and returns the object URL.
    pub async fn upload(&self, app: &str, tarball: Vec<u8>) -> String {
        let key = format!("tmp/{}.tgz", "0123456789abcdef0123456789abcd");
        let response = self
            .post_bytes(&format!("/apps/{app}/objects/{key}"), tarball)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let object: Value = response.json().await.unwrap();
        object["Url"].as_str().unwrap().to_owned()
    }

    /// `POST builds` with the object URL plus extra fields; returns the Build.
    pub async fn create_build(&self, app: &str, url: &str, extra: &[(&str, &str)]) -> Value {
        let mut fields = vec![("url", url)];
        fields.extend_from_slice(extra);
        let response = self
            .post_form(&format!("/apps/{app}/builds"), &fields)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Polls a build until it is no longer `created`/`running`.
    pub async fn wait_build(&self, app: &str, id: &str) -> Value {
        for _ in 0..200 {
            let build = self.get_json(&format!("/apps/{app}/builds/{id}")).await;
            match build["status"].as_str() {
                Some("created" | "running") => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => return build,
            }
        }
        panic!("build {id} never finished");
    }

    /// Upload + build + wait; returns the finished Build.
    pub async fn build(&self, app: &str, tarball: Vec<u8>) -> Value {
        let url = self.upload(app, tarball).await;
        let build = self.create_build(app, &url, &[]).await;
        self.wait_build(app, build["id"].as_str().unwrap()).await
    }

    /// Polls the app until it reports `running` twice in a row; returns it.
    pub async fn wait_running(&self, app: &str) -> Value {
        let mut streak = 0;
        for _ in 0..200 {
            let got = self.get_json(&format!("/apps/{app}")).await;
            if got["status"] == "running" {
                streak += 1;
                if streak == 2 {
                    return got;
                }
            } else {
                streak = 0;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("app {app} never settled");
    }

    /// Build + promote + wait; returns the release id now running.
    pub async fn deploy(&self, app: &str, tarball: Vec<u8>) -> String {
        let build = self.build(app, tarball).await;
        assert_eq!(build["status"], "complete", "{build}");
        let release = build["release"].as_str().unwrap().to_owned();
        self.promote(app, &release).await;
        release
    }

    pub async fn promote(&self, app: &str, release: &str) {
        let response = self
            .post_form(
                &format!("/apps/{app}/releases/{release}/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "ok\n");
        let settled = self.wait_running(app).await;
        assert_eq!(settled["release"], release);
    }

    /// Opens a socket route with the SDK's headers plus `headers`.
    pub async fn socket(&self, path: &str, headers: &[(&str, &str)]) -> Socket {
        self.socket_as(path, &basic("convox", PASSWORD), headers)
            .await
            .unwrap()
    }

    pub async fn socket_as(
        &self,
        path: &str,
        authorization: &str,
        headers: &[(&str, &str)],
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("{}{path}", self.rack.ws_url())
            .into_client_request()
            .unwrap();
        let map = request.headers_mut();
        map.insert(
            "Authorization",
            HeaderValue::from_str(authorization).unwrap(),
        );
        map.insert("Origin", HeaderValue::from_str(&self.rack.url()).unwrap());
        for (name, value) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::try_from(*name).unwrap();
            map.insert(name, HeaderValue::from_str(value).unwrap());
        }
        tokio_tungstenite::connect_async(request)
            .await
            .map(|(socket, _)| socket)
    }
}

/// What a socket sent until its end-of-stream frame.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Text frames in order.
    pub frames: Vec<String>,
    /// True when the empty binary frame arrived.
    pub eof: bool,
}

impl Transcript {
    pub fn text(&self) -> String {
        self.frames.concat()
    }

    /// Output before the exit marker, and the exit code after it (0 when absent).
    pub fn output_and_code(&self) -> (String, i32) {
        let text = self.text();
        match text.split_once(EXIT_MARKER) {
            Some((output, rest)) => {
                let code = rest.trim_start_matches(':').lines().next().unwrap_or("0");
                (output.to_owned(), code.trim().parse().unwrap())
            }
            None => (text, 0),
        }
    }
}

/// Reads text frames until the empty binary frame (or close), with a deadline.
pub async fn read_to_eof(socket: &mut Socket) -> Transcript {
    let mut transcript = Transcript::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("socket stream did not end in time");
        match next {
            Some(Ok(Message::Text(text))) => transcript.frames.push(text.as_str().to_owned()),
            Some(Ok(Message::Binary(bytes))) => {
                assert!(bytes.is_empty(), "only the empty binary frame is expected");
                transcript.eof = true;
                return transcript;
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return transcript,
            Some(Ok(_)) => {}
        }
    }
}

/// Reads text frames until their concatenation contains `needle`.
pub async fn read_until(socket: &mut Socket, needle: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains(needle) {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("never saw {needle:?}; got {text:?}"));
        match next {
            Some(Ok(Message::Text(t))) => text.push_str(t.as_str()),
            Some(Ok(Message::Binary(_) | Message::Close(_))) | None | Some(Err(_)) => {
                panic!("stream ended before {needle:?}; got {text:?}")
            }
            Some(Ok(_)) => {}
        }
    }
    text
}

pub async fn send_stdin(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
}

pub async fn send_eof(socket: &mut Socket) {
    socket
        .send(Message::binary(Vec::<u8>::new()))
        .await
        .unwrap();
}

/// A gzip tarball with the given files (relative names, no `./`).
pub fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The usual app source: a manifest and a Dockerfile.
pub fn app_source() -> Vec<u8> {
    tarball(&[
        ("convox.yml", MANIFEST.as_bytes()),
        ("Dockerfile", b"FROM busybox\n"),
    ])
}
