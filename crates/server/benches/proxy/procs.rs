//! Child processes (gateway, fake rack, nginx) with a kill-on-drop guard, free ports, readiness
//! polling, and `/proc` readings (RSS, CPU ticks).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_string(),
            log: log.to_path_buf(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the tail of the log when the process has already exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited early with {status}; log:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Sends SIGTERM and waits up to `grace` for the exit; SIGKILL after that.
    pub fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let status = self.child.wait()?;
        bail!(
            "{} did not stop within {grace:?} of SIGTERM; killed ({status})",
            self.name
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate(Duration::from_secs(3));
        }
    }
}

fn signal(pid: u32, sig: &str) {
    // `unsafe_code` is forbidden in the workspace, so no libc::kill: use kill(1).
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Polls `GET path` on `addr` until it answers 2xx, for up to 30 s.
pub async fn wait_http(
    proc: &mut Proc,
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        proc.check_running()?;
        if let Ok(mut sender) = super::load::connect::<Empty<Bytes>>(addr).await {
            let mut req = Request::get(path).header(header::HOST, addr.to_string());
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let req = req.body(Empty::new())?;
            if let Ok(status) = super::load::send(&mut sender, req).await
                && status.is_success()
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer GET {path} on {addr} within 30 s; log:\n{}",
                proc.name,
                proc.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The directory holding release binaries: `$CARGO_TARGET_DIR/release` (the bench binary
/// itself runs from `<that>/deps`).
pub fn release_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe
        .parent()
        .context("bench executable has no parent directory")?;
    Ok(deps
        .parent()
        .context("bench executable is not under <target>/<profile>/deps")?
        .to_path_buf())
}

/// `fake-rack` next to the bench (another package's binary is not built by `cargo bench -p
/// rgw-server`): built with `cargo build --release --bin fake-rack` when missing.
pub fn fake_rack_binary() -> anyhow::Result<PathBuf> {
    let release = release_dir()?;
    let path = release.join("fake-rack");
    if path.exists() {
        return Ok(path);
    }
    println!("building fake-rack (cargo build --release -p fake-rack --bin fake-rack)…");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = release
        .parent()
        .context("the release directory has no parent")?;
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "fake-rack",
            "--bin",
            "fake-rack",
            "--target-dir",
        ])
        .arg(target_dir)
        .status()
        .context("running cargo build for fake-rack")?;
    if !status.success() || !path.exists() {
        bail!(
            "{} is missing; run `cargo build --release --bin fake-rack` first",
            path.display()
        );
    }
    Ok(path)
}

/// A field in kB of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux).
fn ticks(pid: u32) -> Option<(u64, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); ppid is field 4, utime 14, stime 15.
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime, ppid))
}

/// CPU seconds used so far by `pid` and its direct children (nginx workers).
pub fn cpu_seconds(pid: u32) -> f64 {
    let mut total = ticks(pid).map_or(0, |t| t.0);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((t, ppid)) = ticks(child)
                && ppid == pid
            {
                total += t;
            }
        }
    }
    total as f64 / 100.0
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
