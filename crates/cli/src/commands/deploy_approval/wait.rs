//! `rack-gateway deploy-approval wait <id> [--timeout 30m]`, and the waiting behind
//! `request --wait`: follows the request's event stream (reconnecting when it drops), falls
//! back to polling `GET` every 2 s while the stream is unavailable, and shows progress on
//! stderr: a spinner line with the status and expiry countdown on a terminal, one plain line
//! per change otherwise. Exits 0 once approved or deployed, 3 rejected, 4 expired, 5 timed out.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use rgw_core::approval::ApprovalStatus;
use rgw_core::wire::DeployApprovalRequest;
use tokio::time::Instant;

use super::{expires_at, fetch, outcome, path, relative};
use crate::client::Client;
use crate::context::Ctx;
use crate::error::{CliError, classify};
use crate::sse::SseParser;

/// Arguments of `deploy-approval wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The request's public id, or a unique prefix of it.
    pub id: String,
    /// Give up after this long (e.g. 90s, 20m, 1h) and exit 5.
    #[arg(long, value_parser = crate::duration::parse, default_value = "30m")]
    pub timeout: Duration,
}

/// How often `GET` is polled while the event stream is unavailable.
const POLL: Duration = Duration::from_secs(2);
/// How long to poll before trying the event stream again.
const STREAM_RETRY: Duration = Duration::from_secs(30);
/// A stream silent for this long is treated as dropped (the gateway sends keep-alives every 15 s).
const IDLE: Duration = Duration::from_secs(45);
/// Spinner frame interval.
const TICK: Duration = Duration::from_millis(100);

/// Runs `deploy-approval wait`.
pub async fn run(ctx: &Ctx, args: WaitArgs) -> Result<()> {
    let target = ctx.target()?;
    let req = super::resolve(&target.client, &args.id).await?;
    let last = follow(ctx, &target.client, req, args.timeout).await?;
    finish(ctx, &last)
}

/// Prints the request's final state (the request object in JSON mode, one line otherwise)
/// and returns its outcome.
pub fn finish(ctx: &Ctx, r: &DeployApprovalRequest) -> Result<()> {
    if ctx.json() {
        crate::output::print_json(r);
    } else {
        println!("{}", summary(r));
    }
    outcome(r).unwrap_or(Ok(()))
}

/// `Deploy approval request <id> is approved (1/1 approvals, expires in 14m59s)`.
pub fn summary(r: &DeployApprovalRequest) -> String {
    let mut extra = format!(
        "{}/{} approvals",
        r.approvals.len(),
        r.required_approvals.max(1)
    );
    if let Some(t) = expires_at(r) {
        extra.push_str(&format!(", expires {}", relative(t)));
    }
    format!(
        "Deploy approval request {} is {} ({extra})",
        r.public_id, r.status
    )
}

/// When waiting is over.
pub type Done<'a> = dyn Fn(&DeployApprovalRequest) -> bool + Sync + 'a;

/// Whether waiting is over: approved (the deploy may start) or final.
fn settled(r: &DeployApprovalRequest) -> bool {
    r.status != ApprovalStatus::Pending
}

/// Follows request `initial` until it is approved or final, or `timeout` passes (exit 5).
pub async fn follow(
    ctx: &Ctx,
    client: &Client,
    initial: DeployApprovalRequest,
    timeout: Duration,
) -> Result<DeployApprovalRequest> {
    follow_until(ctx, client, initial, timeout, &settled).await
}

/// Follows request `initial` until `done` holds for it, or `timeout` passes (exit 5).
pub async fn follow_until(
    ctx: &Ctx,
    client: &Client,
    initial: DeployApprovalRequest,
    timeout: Duration,
    done: &Done<'_>,
) -> Result<DeployApprovalRequest> {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new(ctx.interactive, deadline);
    let mut last = initial;
    progress.update(&last);
    let mut stream_at = Instant::now();
    let result = loop {
        if done(&last) {
            break Ok(());
        }
        if Instant::now() >= deadline {
            break Err(timed_out(&last, timeout));
        }
        if Instant::now() >= stream_at {
            match stream_once(client, deadline, &mut progress, &mut last, done).await {
                StreamEnd::Dropped => {
                    // Reconnect soon, but not in a tight loop against a gateway that keeps
                    // closing the stream.
                    stream_at = Instant::now() + Duration::from_millis(500);
                    progress.pause(stream_at.min(deadline)).await;
                    continue;
                }
                StreamEnd::Unavailable => stream_at = Instant::now() + STREAM_RETRY,
                StreamEnd::Fatal(e) => break Err(e),
                StreamEnd::Settled => continue,
            }
        }
        progress.pause((Instant::now() + POLL).min(deadline)).await;
        match fetch(client, &last.public_id).await {
            Ok(r) => {
                progress.update(&r);
                last = r;
            }
            Err(e) if fatal(&e) => break Err(e),
            Err(_) => {}
        }
    };
    progress.clear();
    result.map(|()| last)
}

fn timed_out(last: &DeployApprovalRequest, timeout: Duration) -> anyhow::Error {
    CliError::timeout(
        "wait_timed_out",
        format!(
            "gave up after {} waiting for deploy approval request {} (still {})",
            crate::duration::human(timeout),
            last.public_id,
            last.status
        ),
    )
    .into()
}

/// The gateway refused (4xx other than a timeout or rate limit): waiting longer will not help.
fn fatal(e: &anyhow::Error) -> bool {
    classify(e)
        .status
        .is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429)
}

enum StreamEnd {
    /// The request is approved or final.
    Settled,
    /// The stream ended or broke; reconnect.
    Dropped,
    /// No stream (network error, 5xx, not an event stream); poll for a while.
    Unavailable,
    /// The gateway refused.
    Fatal(anyhow::Error),
}

async fn stream_once(
    client: &Client,
    deadline: Instant,
    progress: &mut Progress,
    last: &mut DeployApprovalRequest,
    done: &Done<'_>,
) -> StreamEnd {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut resp = match client
        .event_stream(&path(&last.public_id, "/events"), remaining)
        .await
    {
        Ok(r) => r,
        Err(e) if fatal(&e) => return StreamEnd::Fatal(e),
        Err(_) => return StreamEnd::Unavailable,
    };
    let is_sse = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return StreamEnd::Unavailable;
    }
    let mut parser = SseParser::default();
    let mut idle_until = Instant::now() + IDLE;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            chunk = resp.chunk() => match chunk {
                Ok(Some(bytes)) => {
                    idle_until = Instant::now() + IDLE;
                    for ev in parser.push(&bytes) {
                        if ev.event != "deploy_approval_request" {
                            continue;
                        }
                        // An event we cannot read is skipped; the next poll or event corrects it.
                        if let Ok(r) = serde_json::from_str::<DeployApprovalRequest>(&ev.data) {
                            progress.update(&r);
                            *last = r;
                            if done(last) {
                                return StreamEnd::Settled;
                            }
                        }
                    }
                }
                Ok(None) | Err(_) => return StreamEnd::Dropped,
            },
            _ = tick.tick() => {
                progress.draw();
                let now = Instant::now();
                if now >= deadline || now >= idle_until {
                    return StreamEnd::Dropped;
                }
            }
        }
    }
}

/// Progress on stderr: a redrawn spinner line on a terminal, a line per change otherwise.
struct Progress {
    live: bool,
    deadline: Instant,
    frame: usize,
    current: Option<DeployApprovalRequest>,
    drawn: bool,
}

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Progress {
    fn new(live: bool, deadline: Instant) -> Progress {
        Progress {
            live,
            deadline,
            frame: 0,
            current: None,
            drawn: false,
        }
    }

    fn update(&mut self, r: &DeployApprovalRequest) {
        let key = |r: &DeployApprovalRequest| (r.status, r.approvals.len());
        let changed = self.current.as_ref().map(key) != Some(key(r));
        self.current = Some(r.clone());
        if self.live {
            self.draw();
        } else if changed {
            eprintln!("{}", self.line(r));
        }
    }

    fn line(&self, r: &DeployApprovalRequest) -> String {
        let id = r.public_id.to_string();
        // The live line must fit a narrow terminal, or `\r` cannot redraw it.
        let id = if self.live { &id[..8] } else { &id[..] };
        let mut s = format!(
            "deploy approval request {id}: {}, {}/{} approvals",
            r.status,
            r.approvals.len(),
            r.required_approvals.max(1)
        );
        if let Some(t) = expires_at(r) {
            s.push_str(&format!(", expires {}", relative(t)));
        }
        s
    }

    fn draw(&mut self) {
        if !self.live {
            return;
        }
        let Some(r) = &self.current else { return };
        let left = self.deadline.saturating_duration_since(Instant::now());
        let line = format!(
            "{} {} (giving up in {})",
            FRAMES[self.frame % FRAMES.len()],
            self.line(r),
            crate::duration::human(left)
        );
        self.frame += 1;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Sleeps until `until`, animating the spinner.
    async fn pause(&mut self, until: Instant) {
        while Instant::now() < until {
            tokio::time::sleep_until(until.min(Instant::now() + TICK)).await;
            self.draw();
        }
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}
