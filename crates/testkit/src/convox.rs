//! A client that speaks to a rack API exactly like the Go SDK behind the `convox` CLI: Basic
//! auth with any username, `Accept: */*`, a `Content-Type` on every request, the trailing `?`,
//! form-encoded params, options in websocket upgrade headers, and Convox stream framing.
//! Point it at a fake rack directly or at the gateway's `/api/v1/rack-proxy`.

use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The marker the rack writes before an exec's exit code.
pub const EXIT_MARKER: &str = "F1E49A85-0AD7-4AEF-A618-C249C6E6568D";

/// An open rack websocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A Convox SDK look-alike bound to one base URL and password.
#[derive(Clone)]
pub struct Convox {
    base: String,
    password: String,
    client: reqwest::Client,
}

/// `Authorization: Basic` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

impl Convox {
    /// A client for `base` (no trailing slash), e.g. `http://127.0.0.1:8447/api/v1/rack-proxy`.
    pub fn new(base: impl Into<String>, password: impl Into<String>) -> Self {
        Convox {
            base: base.into(),
            password: password.into(),
            client: reqwest::Client::new(),
        }
    }

    /// The same endpoint with other credentials.
    pub fn with_password(&self, password: impl Into<String>) -> Self {
        Convox {
            password: password.into(),
            ..self.clone()
        }
    }

    /// The full URL of a route (the SDK always appends `?`).
    pub fn url(&self, path: &str) -> String {
        if path.contains('?') {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?", self.base)
        }
    }

    /// A request with the SDK's headers.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header(AUTHORIZATION, basic("convox", &self.password))
            .header(ACCEPT, "*/*")
            .header("Version", "dev")
            .header("User-Agent", "convox.go/dev")
    }

    /// `GET` with the SDK's empty-body content type.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .send()
            .await
            .expect("GET failed to send")
    }

    /// `GET` that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    /// A form-encoded request.
    pub async fn send_form(&self, method: Method, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded::to_string(fields).expect("form encodes");
        self.request(method, path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("form request failed to send")
    }

    /// `POST` form.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.send_form(Method::POST, path, fields).await
    }

    /// `POST` raw bytes.
    pub async fn post_bytes(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.request(Method::POST, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("POST failed to send")
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .send()
            .await
            .expect("DELETE failed to send")
    }

    /// Uploads a tarball the way `convox deploy` does; returns the object URL.
    pub async fn upload(&self, app: &str, tarball: Vec<u8>) -> String {
        let response = self
            .post_bytes(&format!("/apps/{app}/objects/tmp/0123456789abcdef0123456789abcd.tgz"), tarball)
            .await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "upload: {text}");
        let object: Value = serde_json::from_str(&text).expect("object JSON");
        object["Url"].as_str().expect("Url").to_owned()
    }

    /// `POST builds` with the object URL; returns the Build.
    pub async fn create_build(&self, app: &str, url: &str, extra: &[(&str, &str)]) -> Value {
        let mut fields = vec![("url", url)];
        fields.extend_from_slice(extra);
        let response = self.post_form(&format!("/apps/{app}/builds"), &fields).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "create build: {text}");
        serde_json::from_str(&text).expect("build JSON")
    }

    /// Polls a build every 20 ms until it is no longer `created`/`running`.
    pub async fn wait_build(&self, app: &str, id: &str) -> Value {
        for _ in 0..500 {
            let build = self.get_json(&format!("/apps/{app}/builds/{id}")).await;
            match build["status"].as_str() {
                Some("created" | "running") => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => return build,
            }
        }
        panic!("build {id} never finished");
    }

    /// Polls the app until it reports `running` twice in a row (the CLI's promote wait).
    pub async fn wait_running(&self, app: &str) -> Value {
        let mut streak = 0;
        for _ in 0..500 {
            let a = self.get_json(&format!("/apps/{app}")).await;
            if a["status"] == "running" {
                streak += 1;
                if streak == 2 {
                    return a;
                }
            } else {
                streak = 0;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("app {app} never settled in running");
    }

    /// Opens a websocket with the SDK's headers plus `headers` (options travel as headers).
    pub async fn socket(&self, path: &str, headers: &[(&str, &str)]) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        let ws = self.base.replacen("http", "ws", 1);
        let mut request = format!("{ws}{path}").into_client_request()?;
        let host = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        let h = request.headers_mut();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        };
        put("authorization", basic("convox", &self.password));
        put("origin", format!("http://{host}"));
        put("version", "dev".into());
        put("user-agent", "convox.go/dev".into());
        for (name, value) in headers {
            if let (Ok(n), Ok(v)) = (
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }
}

/// Output of one stream, read until the rack's end-of-stream frame.
#[derive(Debug, Default)]
pub struct StreamOutput {
    /// Bytes before the exit marker.
    pub output: Vec<u8>,
    /// The exit code after the marker, if one came.
    pub exit_code: Option<i32>,
    /// Whether the stream ended with the empty binary frame (rather than a close).
    pub saw_eof_frame: bool,
}

impl StreamOutput {
    /// Output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

/// Sends stdin text frames, then the empty binary frame (stdin EOF).
pub async fn send_stdin(socket: &mut Socket, input: &str) {
    if !input.is_empty() {
        socket.send(Message::text(input)).await.expect("stdin frame");
    }
    socket.send(Message::binary(Vec::<u8>::new())).await.expect("stdin EOF frame");
}

/// Reads frames until the empty binary frame or close, within `limit`.
pub async fn read_stream(socket: &mut Socket, limit: Duration) -> StreamOutput {
    let mut out = StreamOutput::default();
    let mut raw = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        let Ok(Some(Ok(msg))) = next else { break };
        match msg {
            Message::Text(t) => raw.extend_from_slice(t.as_bytes()),
            Message::Binary(b) if b.is_empty() => {
                out.saw_eof_frame = true;
                break;
            }
            Message::Binary(b) => raw.extend_from_slice(&b),
            Message::Close(_) => break,
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    match text.find(EXIT_MARKER) {
        Some(i) => {
            out.output = raw[..i].to_vec();
            let rest = &text[i + EXIT_MARKER.len()..];
            out.exit_code = rest
                .trim_start_matches(':')
                .lines()
                .next()
                .and_then(|l| l.trim().parse().ok());
        }
        None => out.output = raw,
    }
    out
}

/// A gzip tarball of `files` (path, contents), as `convox deploy` uploads.
pub fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, contents.as_bytes())
            .expect("tar entry");
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .expect("tarball finishes")
}
