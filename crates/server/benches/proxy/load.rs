//! The load generator: raw hyper HTTP/1.1 client connections (one keep-alive connection per
//! client, so every target sees exactly the same client), sequential latency runs, concurrent
//! throughput runs and a streamed upload body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// No single request may take longer than this (bounded loops, even against a wedged target).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One thing to send requests to.
#[derive(Clone)]
pub struct Target {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// Path prefix in front of the rack API path (`""` for the rack itself).
    pub prefix: String,
    /// `Authorization` value the client sends.
    pub auth: HeaderValue,
}

impl Target {
    pub fn get(&self, path: &str) -> Request<Empty<Bytes>> {
        Request::get(format!("{}{path}", self.prefix))
            .header(header::HOST, self.addr.to_string())
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .expect("static request parts are valid")
    }
}

/// `Basic base64(convox:<password>)`.
pub fn basic(password: &str) -> HeaderValue {
    use base64::Engine;
    let v = base64::engine::general_purpose::STANDARD.encode(format!("convox:{password}"));
    HeaderValue::from_str(&format!("Basic {v}")).expect("base64 is a valid header value")
}

/// Opens one HTTP/1.1 keep-alive connection.
pub async fn connect<B>(addr: SocketAddr) -> anyhow::Result<SendRequest<B>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer; returns its status.
pub async fn send<B>(sender: &mut SendRequest<B>, req: Request<B>) -> anyhow::Result<StatusCode>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Ok(send_read(sender, req).await?.0)
}

/// Sends one request; returns its status and body.
pub async fn send_read<B>(
    sender: &mut SendRequest<B>,
    req: Request<B>,
) -> anyhow::Result<(StatusCode, Bytes)>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    })
    .await
    .context("request timed out")?
}

/// Per-request latencies of one sequential run.
pub struct Latency {
    /// Sorted.
    pub samples: Vec<Duration>,
    /// Requests sent, warm-up included.
    pub sent: u64,
}

impl Latency {
    pub fn pct(&self, p: f64) -> Duration {
        let i = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples[i.min(self.samples.len() - 1)]
    }
    pub fn median(&self) -> Duration {
        self.pct(0.5)
    }

    /// Adds another run's samples.
    pub fn merge(&mut self, other: Latency) {
        self.samples.extend(other.samples);
        self.samples.sort();
        self.sent += other.sent;
    }
}

/// `warmup` then `n` sequential `GET path` on one connection; every answer must be 200.
pub async fn latency(t: &Target, path: &str, warmup: usize, n: usize) -> anyhow::Result<Latency> {
    let mut sender = connect::<Empty<Bytes>>(t.addr).await?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let start = Instant::now();
        let status = send(&mut sender, t.get(path))
            .await
            .with_context(|| format!("{}: GET {path}", t.name))?;
        let took = start.elapsed();
        anyhow::ensure!(
            status == StatusCode::OK,
            "{}: GET {path} answered {status}",
            t.name
        );
        if i >= warmup {
            samples.push(took);
        }
    }
    samples.sort();
    Ok(Latency {
        samples,
        sent: (warmup + n) as u64,
    })
}

/// One concurrent run.
pub struct Throughput {
    pub rps: f64,
    /// 200s completed inside the measured window.
    pub ok: u64,
    /// Non-200 answers or errors inside the window.
    pub failed: u64,
    /// Answers received at all (warm-up and stragglers included): each is one audited call.
    pub answered: u64,
    /// CPU seconds the target process (and its children) used in the window.
    pub cpu_seconds: f64,
    /// CPU seconds the fake rack behind it used in the window.
    pub rack_cpu_seconds: f64,
    /// Latencies of the 200s inside the window, sorted.
    pub samples: Vec<Duration>,
}

impl Throughput {
    /// Latency percentile `p` (0..=1) of the window's requests.
    pub fn pct(&self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples[i.min(self.samples.len() - 1)]
    }

    /// CPU microseconds per answered request in the window.
    pub fn cpu_us_per_request(&self) -> f64 {
        if self.ok == 0 {
            return 0.0;
        }
        self.cpu_seconds * 1e6 / self.ok as f64
    }

    /// The fake rack's CPU time per request served, µs.
    pub fn rack_cpu_us_per_request(&self) -> f64 {
        if self.ok == 0 {
            return 0.0;
        }
        self.rack_cpu_seconds * 1e6 / self.ok as f64
    }
}

/// `clients` keep-alive connections hammer `GET path` for `warmup + window`; requests completed
/// inside `window` count. `pid` is the target process whose CPU time is sampled, `rack` the
/// fake rack behind it (sampled too: on two cores a costly rack caps every proxy alike).
pub async fn throughput(
    t: &Target,
    path: &str,
    clients: usize,
    warmup: Duration,
    window: Duration,
    pid: Option<u32>,
    rack: Option<u32>,
) -> anyhow::Result<Throughput> {
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let end = measure_from + window;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let t = t.clone();
        let path = path.to_string();
        let mut sender = connect::<Empty<Bytes>>(t.addr).await?;
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut answered) = (0u64, 0u64, 0u64);
            let mut samples = Vec::new();
            while Instant::now() < end {
                let sent = Instant::now();
                let result = send(&mut sender, t.get(&path)).await;
                let done = Instant::now();
                let in_window = done >= measure_from && done < end;
                match result {
                    Ok(status) => {
                        answered += 1;
                        if in_window {
                            if status == StatusCode::OK {
                                ok += 1;
                                samples.push(done - sent);
                            } else {
                                failed += 1;
                            }
                        }
                    }
                    Err(e) => {
                        if in_window {
                            failed += 1;
                        }
                        eprintln!("{}: request failed: {e:#}; reconnecting", t.name);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        match connect::<Empty<Bytes>>(t.addr).await {
                            Ok(s) => sender = s,
                            Err(_) => break,
                        }
                    }
                }
            }
            (ok, failed, answered, samples)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu0 = pid.map(super::procs::cpu_seconds);
    let rack0 = rack.map(super::procs::cpu_seconds);
    tokio::time::sleep_until(end.into()).await;
    let cpu1 = pid.map(super::procs::cpu_seconds);
    let rack1 = rack.map(super::procs::cpu_seconds);
    let (mut ok, mut failed, mut answered) = (0, 0, 0);
    let mut samples = Vec::new();
    for task in tasks {
        let (o, f, a, s) = task.await?;
        ok += o;
        failed += f;
        answered += a;
        samples.extend(s);
    }
    samples.sort_unstable();
    Ok(Throughput {
        rps: ok as f64 / window.as_secs_f64(),
        ok,
        failed,
        answered,
        cpu_seconds: cpu1.unwrap_or(0.0) - cpu0.unwrap_or(0.0),
        rack_cpu_seconds: rack1.unwrap_or(0.0) - rack0.unwrap_or(0.0),
        samples,
    })
}

/// An upload body of `len` bytes produced 64 KiB at a time: one pattern chunk is shared, so
/// nothing near `len` is ever held in memory.
pub struct PatternBody {
    remaining: u64,
    chunk: Bytes,
}

impl PatternBody {
    pub const CHUNK: usize = 64 * 1024;

    pub fn new(len: u64) -> PatternBody {
        let chunk: Vec<u8> = (0..Self::CHUNK).map(|i| (i % 251) as u8).collect();
        PatternBody {
            remaining: len,
            chunk: Bytes::from(chunk),
        }
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(Self::CHUNK as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Streams `len` bytes as `POST path` on a fresh connection; returns the elapsed time (until the
/// whole answer is read), the status and the answer.
pub async fn upload(
    t: &Target,
    path: &str,
    len: u64,
) -> anyhow::Result<(Duration, StatusCode, Bytes)> {
    let mut sender = connect::<PatternBody>(t.addr).await?;
    let req = Request::post(format!("{}{path}", t.prefix))
        .header(header::HOST, t.addr.to_string())
        .header(header::AUTHORIZATION, t.auth.clone())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .body(PatternBody::new(len))?;
    let start = Instant::now();
    let (status, body) = tokio::time::timeout(Duration::from_secs(300), async {
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    })
    .await
    .with_context(|| format!("{}: upload timed out", t.name))??;
    Ok((start.elapsed(), status, body))
}

/// The gated vs ungated comparison, as one line.
pub fn gate_line(plain: &Latency, gated: &Latency, n: usize) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "deploy gate, {n} sequential GET builds/{{id}} through the gateway (ms): ungated median {:.3} p99 {:.3}; gated median {:.3} p99 {:.3}; gated/ungated {:+.1}% (target ≤ +10%)",
        ms(plain.median()),
        ms(plain.pct(0.99)),
        ms(gated.median()),
        ms(gated.pct(0.99)),
        (ms(gated.median()) / ms(plain.median()) - 1.0) * 100.0
    )
}
