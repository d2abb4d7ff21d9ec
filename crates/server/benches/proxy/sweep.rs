//! The concurrency sweep: every target under 1, 16 and 64 keep-alive clients, in one run, with
//! requests/s, p50/p99 latency and the target's CPU per request; and the repeated sweeps that
//! show whether the gateway's memory grows.

use std::time::Duration;

use super::load::{self, Target, Throughput};
use super::procs::status_kb;

/// Client counts of the sweep.
pub const CLIENTS: [usize; 3] = [1, 16, 64];

/// One target's results, one per entry of [`CLIENTS`].
pub struct Series {
    pub name: String,
    pub points: Vec<Throughput>,
}

impl Series {
    fn at(&self, clients: usize) -> Option<&Throughput> {
        CLIENTS
            .iter()
            .position(|c| *c == clients)
            .and_then(|i| self.points.get(i))
    }

    /// Answers received over the whole sweep (each one is an audited call on a gateway).
    pub fn answered(&self) -> u64 {
        self.points.iter().map(|p| p.answered).sum()
    }
}

/// Runs the sweep against `t`; `pid` is the process whose CPU is sampled, `rack` the fake
/// rack's (the same process for `direct`).
pub async fn sweep(
    t: &Target,
    path: &str,
    (pid, rack): (Option<u32>, Option<u32>),
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Series> {
    let mut points = Vec::new();
    for clients in CLIENTS {
        points.push(load::throughput(t, path, clients, warmup, window, pid, rack).await?);
    }
    Ok(Series {
        name: t.name.to_string(),
        points,
    })
}

/// How long [`repeated`] lets the gateway go idle before reading its RSS.
const SETTLE: Duration = Duration::from_secs(1);

/// `rounds` sweeps against `t`, the process's RSS (KiB) after each, and the answers sent.
pub async fn repeated(
    t: &Target,
    path: &str,
    pid: u32,
    rounds: usize,
    window: Duration,
) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut rss = Vec::with_capacity(rounds);
    let mut answered = 0;
    for _ in 0..rounds {
        let s = sweep(t, path, (None, None), Duration::ZERO, window).await?;
        answered += s.answered();
        // Read the RSS once the gateway is idle again: right after a sweep it still holds the
        // audit queue's backlog (up to 10 000 records) and allocator pages not yet returned
        // (jemalloc's 500 ms decay), which come and go with load. Growth means a leak only if
        // it stays; the peak under load is reported separately (VmHWM).
        tokio::time::sleep(SETTLE).await;
        rss.push(status_kb(pid, "VmRSS").unwrap_or(0));
    }
    Ok((rss, answered))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints the sweep as one table; ratios are against nginx (or `—` without it).
pub fn print(series: &[Series], window: Duration) {
    let nginx = series.iter().find(|s| s.name == "nginx");
    let direct = series.iter().find(|s| s.name == "direct");
    println!(
        "concurrency sweep, GET /apps, keep-alive clients, {}s window each:",
        window.as_secs()
    );
    println!(
        "| target | clients | req/s | ×nginx | p50 ms | p99 ms | p99 added ms | CPU/request | rack CPU/request | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for s in series {
        for (c, p) in CLIENTS.iter().zip(&s.points) {
            let ratio = nginx
                .and_then(|n| n.at(*c))
                .map_or("—".into(), |n| format!("{:.2}", p.rps / n.rps));
            let added = direct
                .filter(|_| s.name != "direct")
                .and_then(|d| d.at(*c))
                .map_or("—".into(), |d| {
                    format!("{:+.3}", ms(p.pct(0.99)) - ms(d.pct(0.99)))
                });
            println!(
                "| {} | {c} | {:.0} | {ratio} | {:.3} | {:.3} | {added} | {:.0} µs | {:.0} µs | {} |",
                s.name,
                p.rps,
                ms(p.pct(0.5)),
                ms(p.pct(0.99)),
                p.cpu_us_per_request(),
                p.rack_cpu_us_per_request(),
                p.failed
            );
        }
    }
    println!(
        "(CPU/request: the target process incl. children; for direct that is the fake rack. All share two cores: \
         a costly rack caps every target alike and flattens the ratios)"
    );
}

/// The targets for one gateway series: ≥ `min_ratio`× nginx at every client count in
/// `at`, and (when `p99_added_ms` is given) p99 added latency at 16 clients within it.
pub fn verdicts(
    series: &[Series],
    gateway: &str,
    at: &[usize],
    min_ratio: f64,
    p99_added_ms: Option<f64>,
) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let find = |name: &str| series.iter().find(|s| s.name == name);
    let (Some(gw), nginx, direct) = (find(gateway), find("nginx"), find("direct")) else {
        return out;
    };
    for c in at {
        match (gw.at(*c), nginx.and_then(|n| n.at(*c))) {
            (Some(g), Some(n)) => {
                let r = g.rps / n.rps;
                out.push((
                    r >= min_ratio,
                    format!("{gateway} ≥ {min_ratio:.1}× nginx req/s at {c} clients ({r:.2}×)"),
                ));
            }
            _ => out.push((
                true,
                format!("SKIP {gateway} vs nginx at {c} clients (nginx not installed)"),
            )),
        }
    }
    if let (Some(limit), Some(g), Some(d)) =
        (p99_added_ms, gw.at(16), direct.and_then(|d| d.at(16)))
    {
        let added = ms(g.pct(0.99)) - ms(d.pct(0.99));
        out.push((
            added <= limit,
            format!("{gateway} p99 added latency at 16 clients ≤ {limit} ms ({added:.3} ms)"),
        ));
    }
    out
}
