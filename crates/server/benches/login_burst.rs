//! Login-burst memory benchmark: what bursts of parallel password logins cost the gateway in
//! memory (issue 15, item 10).
//!
//! ```sh
//! cargo bench -p rgw-server --bench login_burst
//! ```
//!
//! It starts the real `rack-gateway-server serve` (release build, SQLite in a temp dir, no
//! rack) after creating one admin with the operator command
//! `rack-gateway-server users add --email E --role admin --password-stdin`, and fires bursts of
//! 100 parallel `POST /api/v1/auth/login` from this process:
//!
//! - **account**: 99 wrong passwords and the right one for the admin (the attack);
//! - **spray**: 100 different unknown emails (every attempt costs one argon2 verification of a
//!   dummy hash unless a limit refuses it first);
//!
//! three rounds each, in two gateway processes: with the default limits, and with the per-address
//! limit off (`RGW_LOGIN_IP_MAX_FAILURES=0`), so that every spray attempt reaches the hasher and
//! only the hashing bound holds memory down. `VmRSS` is sampled every 5 ms from
//! `/proc/<pid>/status` during the bursts; `VmRSS` and `VmHWM` are read before, and 2 s after
//! the last burst. Targets: peak under 256 MiB, back under 64 MiB after.
//! `RGW_BENCH_GATEWAY_BIN=path` measures another build of the gateway.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

const SECRET_KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
const EMAIL: &str = "admin@bench.example.com";
const PASSWORD: &str = "bench correct horse battery staple";
const BURST: usize = 100;
const ROUNDS: usize = 3;
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "login burst benchmark: run it with `cargo bench -p rgw-server --bench login_burst`"
        );
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One gateway configuration under test.
struct Variant {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "default limits",
        env: &[],
    },
    Variant {
        name: "per-address limit off",
        env: &[("RGW_LOGIN_IP_MAX_FAILURES", "0")],
    },
];

/// What one gateway process did.
struct Report {
    variant: &'static str,
    idle_rss: u64,
    peak_sampled: u64,
    hwm: u64,
    after_rss: u64,
    bursts: Vec<(String, Statuses, Duration)>,
}

#[derive(Default, Clone)]
struct Statuses {
    ok: usize,
    unauthorized: usize,
    too_many: usize,
    other: usize,
}

impl std::fmt::Display for Statuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "200×{} 401×{} 429×{} other×{}",
            self.ok, self.unauthorized, self.too_many, self.other
        )
    }
}

async fn run() -> anyhow::Result<()> {
    let bin = std::env::var_os("RGW_BENCH_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rack-gateway-server")));
    println!(
        "login burst benchmark ({} cores, load {}): {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        bin.display()
    );
    let mut reports = Vec::new();
    for variant in VARIANTS {
        reports.push(measure(&bin, variant).await?);
    }
    println!();
    for r in &reports {
        println!("== {}", r.variant);
        for (name, s, took) in &r.bursts {
            println!("  {name:<18} {s}  ({:.2} s)", took.as_secs_f64());
        }
        println!(
            "  VmRSS idle {:.1} MiB, peak sampled {:.1} MiB, VmHWM {:.1} MiB, VmRSS 2 s after {:.1} MiB",
            r.idle_rss as f64 / MIB,
            r.peak_sampled as f64 / MIB,
            r.hwm as f64 / MIB,
            r.after_rss as f64 / MIB
        );
        let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
        println!(
            "  peak < 256 MiB: {}; after < 64 MiB: {}",
            verdict(r.hwm < 256 << 20),
            verdict(r.after_rss < 64 << 20)
        );
    }
    println!("load average after: {}", load_average());
    Ok(())
}

fn gateway_env(db: &str, listen: SocketAddr) -> Vec<(String, String)> {
    vec![
        ("RGW_DATABASE_URL".into(), db.into()),
        ("RGW_SECRET_KEY".into(), SECRET_KEY.into()),
        ("RGW_LISTEN".into(), listen.to_string()),
        ("RGW_PUBLIC_URL".into(), format!("http://{listen}")),
        ("RGW_LOG".into(), "warn".into()),
    ]
}

async fn measure(bin: &Path, variant: &Variant) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let listen = free_addr()?;
    let mut env = gateway_env(&db, listen);
    env.extend(
        variant
            .env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );

    // The operator command creates the account (and the database).
    let mut add = Command::new(bin)
        .args(["users", "add", "--email", EMAIL, "--role", "admin"])
        .arg("--password-stdin")
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running rack-gateway-server users add")?;
    add.stdin
        .take()
        .context("users add stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    ensure!(add.wait()?.success(), "users add failed");

    let log = std::fs::File::create(dir.path().join("gateway.log"))?;
    let child = Command::new(bin)
        .arg("serve")
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting rack-gateway-server serve")?;
    let mut gateway = Guard(child);
    let pid = gateway.0.id();
    let base = format!("http://{listen}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(BURST)
        .timeout(Duration::from_secs(120))
        .build()?;
    wait_ready(&http, &base, &mut gateway).await?;
    // One good login first, so lazily built state (the dummy hash, pools) is in the idle number.
    let warm = login(&http, &base, EMAIL, PASSWORD).await?;
    ensure!(warm == 200, "the warm-up login answered {warm}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = status_kb(pid, "VmRSS").unwrap_or(0);

    let peak = Arc::new(AtomicU64::new(idle_rss));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = status_kb(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    println!(
        "{}: {ROUNDS} rounds of two {BURST}-login bursts…",
        variant.name
    );
    let mut bursts = Vec::new();
    for round in 1..=ROUNDS {
        let attempts: Vec<(String, String)> = (0..BURST)
            .map(|i| {
                let pw = if i == BURST - 1 {
                    PASSWORD.to_owned()
                } else {
                    format!("wrong password {round}-{i}")
                };
                (EMAIL.to_owned(), pw)
            })
            .collect();
        let (s, took) = burst(&http, &base, attempts).await;
        bursts.push((format!("account, round {round}"), s, took));
        let attempts = (0..BURST)
            .map(|i| {
                (
                    format!("nobody-{round}-{i}@bench.example.com"),
                    "not the password".to_owned(),
                )
            })
            .collect();
        let (s, took) = burst(&http, &base, attempts).await;
        bursts.push((format!("spray, round {round}"), s, took));
    }
    gateway.check_running()?;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    drop(http);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_rss = status_kb(pid, "VmRSS").unwrap_or(0);
    let hwm = status_kb(pid, "VmHWM").unwrap_or(0);
    Ok(Report {
        variant: variant.name,
        idle_rss,
        peak_sampled: peak.load(Ordering::Relaxed),
        hwm,
        after_rss,
        bursts,
    })
}

async fn burst(
    http: &reqwest::Client,
    base: &str,
    attempts: Vec<(String, String)>,
) -> (Statuses, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(email, pw)| {
            let (http, base) = (http.clone(), base.to_owned());
            tokio::spawn(async move { login(&http, &base, &email, &pw).await })
        })
        .collect();
    let mut s = Statuses::default();
    for t in tasks {
        match t.await {
            Ok(Ok(200)) => s.ok += 1,
            Ok(Ok(401)) => s.unauthorized += 1,
            Ok(Ok(429)) => s.too_many += 1,
            _ => s.other += 1,
        }
    }
    (s, started.elapsed())
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<u16> {
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password, "channel": "cli"}))
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

async fn wait_ready(http: &reqwest::Client, base: &str, gw: &mut Guard) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        gw.check_running()?;
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the gateway did not answer /healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops the gateway (SIGTERM via kill(1), then SIGKILL) when dropped.
struct Guard(Child);

impl Guard {
    fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.0.try_wait()? {
            bail!("the gateway exited early with {status}");
        }
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // `unsafe_code` is forbidden in the workspace, so no libc::kill: use kill(1).
            let _ = Command::new("kill").arg(self.0.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS`, `VmHWM`), in bytes.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
