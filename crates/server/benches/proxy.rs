//! Rack-proxy benchmark: what the gateway costs in front of a rack.
//!
//! Run (release profile; the gateway binary is built by the command itself, `fake-rack` is
//! built on first use if `<target>/release/fake-rack` is missing):
//!
//! ```sh
//! cargo build --release --bin fake-rack
//! cargo bench -p rgw-server --bench proxy
//! ```
//!
//! Everything runs as separate processes on 127.0.0.1, so the gateway's RSS and CPU are its
//! own and the load generator (this process, raw hyper HTTP/1.1 keep-alive connections) does
//! not share its runtime:
//!
//! - **fake rack** (`fake-rack`), the upstream for small calls;
//! - **gateway A** (`rack-gateway-server serve`, SQLite database in a temp dir, a `viewer` API
//!   token minted straight into the store) in front of the fake rack;
//! - **nginx** (when installed) as a plain keep-alive reverse proxy in front of the same fake
//!   rack (`/api/v1/rack-proxy/` → rack, rack credentials injected, no buffering);
//! - an in-bench **upload sink** (counts object bytes, stores nothing) and **gateway B** in
//!   front of it, with a token holding only `convox:object:create`.
//!
//! Measured:
//!
//! 1. latency: 2000 sequential authenticated `GET /apps` on one connection (after 200 warm-up)
//!    to the rack directly, through the gateway and through nginx; median/p90/p99 and the added
//!    median vs direct;
//! 2. throughput: 16 concurrent keep-alive clients for 5 s (after 1 s warm-up): requests/s,
//!    ratios, and the CPU time each proxy used per request;
//! 3. upload: 1 GiB streamed in 64 KiB chunks to the sink directly, through gateway B and
//!    through nginx; MB/s, the ratio, gateway B's RSS before and peak RSS (`VmHWM`) after;
//! 4. audit: every proxied call is audited; after SIGTERM (which flushes the writer) the
//!    `audit_events` chain of each gateway must hold exactly one event per answered call and
//!    verify. In-process, 20 000 `Auditor::record` calls against a temp SQLite store give the
//!    request-path cost per event and the writer's commit rate. The gateway's added latency
//!    above is the whole per-request cost, audit included.
//!
//! The targets from the issue are printed as PASS/MISS lines; a miss does not fail the run.
//! Invoked without `--bench` (e.g. `cargo test --benches`) it only prints how to run it.

#[path = "proxy/audit_cost.rs"]
mod audit_cost;
#[path = "proxy/load.rs"]
mod load;
#[path = "proxy/procs.rs"]
mod procs;
#[path = "proxy/setup.rs"]
mod setup;
#[path = "proxy/sink.rs"]
mod sink;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use audit_cost::{audit_count, audit_in_process};
use load::{Latency, Target, Throughput, basic};
use procs::status_kb;

const WARMUP: usize = 200;
const SEQUENTIAL: usize = 2000;
const CLIENTS: usize = 16;
const TP_WARMUP: Duration = Duration::from_secs(1);
const TP_WINDOW: Duration = Duration::from_secs(5);
const UPLOAD: u64 = 1 << 30;
const AUDIT_EVENTS: usize = 20_000;
/// Fewer than the default queue capacity (10 000): `record` cannot wait for room.
const UNBLOCKED_EVENTS: usize = 5_000;
const PROXY: &str = "/api/v1/rack-proxy";
const OBJECT: &str = "/apps/myapp/objects/bench/upload-1g.bin";

fn main() -> std::process::ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        println!("proxy benchmark: run it with `cargo bench -p rgw-server --bench proxy`");
        return std::process::ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Upload {
    elapsed: Duration,
    mbps: f64,
}

async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let load_before = procs::load_average();
    let dir = tempfile::tempdir()?;
    // RGW_BENCH_GATEWAY_BIN compares another build of the gateway (A/B of a change).
    let gateway_bin = std::env::var_os("RGW_BENCH_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rack-gateway-server")));
    let rack_bin = procs::fake_rack_binary()?;
    println!(
        "rack-proxy benchmark ({} cores, load {load_before})",
        cores()
    );
    println!(
        "gateway: {}\nfake-rack: {}",
        gateway_bin.display(),
        rack_bin.display()
    );

    // Processes (each guard stops its process on drop, errors included).
    let sink = sink::start()?;
    let (mut rack_proc, rack_addr) = setup::fake_rack(&rack_bin, dir.path()).await?;
    let db_a = dir.path().join("gateway-a.db");
    let viewer = setup::mint_token(&db_a, "bench-viewer", Some("viewer"), &[]).await?;
    let (cicd, build_id) = setup::approved_build(&db_a, rack_addr).await?;
    let (mut gw_a, gw_a_addr) =
        setup::gateway(&gateway_bin, dir.path(), "gateway-a", &db_a, rack_addr, &[]).await?;
    let db_b = dir.path().join("gateway-b.db");
    // API tokens upload only through the approval chain; with approvals off (as on a staging
    // rack) a deploy_with_approval token uploads directly, which is what this measures.
    let uploader = setup::mint_token(
        &db_b,
        "bench-uploader",
        None,
        &["convox:deploy:deploy_with_approval"],
    )
    .await?;
    let (mut gw_b, gw_b_addr) = setup::gateway(
        &gateway_bin,
        dir.path(),
        "gateway-b",
        &db_b,
        sink.addr,
        &[("RGW_SETTING_DEPLOY_APPROVALS_ENABLED", "false")],
    )
    .await?;
    let nginx = setup::nginx(dir.path(), rack_addr, sink.addr).await?;
    if nginx.is_none() {
        println!("nginx not installed: skipping the nginx comparison");
    }

    let direct = Target {
        name: "direct",
        addr: rack_addr,
        prefix: String::new(),
        auth: basic(setup::RACK_PASSWORD),
    };
    let gateway = Target {
        name: "gateway",
        addr: gw_a_addr,
        prefix: PROXY.into(),
        auth: basic(&viewer),
    };
    let nginx_target = nginx.as_ref().map(|(_, addr)| Target {
        name: "nginx",
        addr: *addr,
        prefix: PROXY.into(),
        auth: basic(&viewer),
    });

    // 1. Latency.
    println!("latency: {WARMUP} warm-up + {SEQUENTIAL} sequential GET /apps per target…");
    let lat_direct = load::latency(&direct, "/apps", WARMUP, SEQUENTIAL).await?;
    let lat_gw = load::latency(&gateway, "/apps", WARMUP, SEQUENTIAL).await?;
    let lat_nginx = match &nginx_target {
        Some(t) => Some(load::latency(t, "/apps", WARMUP, SEQUENTIAL).await?),
        None => None,
    };

    // 1b. The deploy gate: the same build read, ungated (viewer) and gated (cicd token bound
    // to its live approval).
    let build_path = format!("/apps/{}/builds/{build_id}", setup::APP);
    println!(
        "gate: {WARMUP} warm-up + {SEQUENTIAL} sequential GET {build_path}, ungated and gated…"
    );
    let lat_plain = load::latency(&gateway, &build_path, WARMUP, SEQUENTIAL).await?;
    let gated_target = Target {
        name: "gateway (gated)",
        addr: gw_a_addr,
        prefix: PROXY.into(),
        auth: basic(&cicd),
    };
    let lat_gated = load::latency(&gated_target, &build_path, WARMUP, SEQUENTIAL).await?;

    // 2. Throughput.
    println!("throughput: {CLIENTS} clients, {TP_WARMUP:?} warm-up + {TP_WINDOW:?} per target…");
    let tp_direct = load::throughput(
        &direct,
        "/apps",
        CLIENTS,
        TP_WARMUP,
        TP_WINDOW,
        Some(rack_proc.pid()),
    )
    .await?;
    let tp_gw = load::throughput(
        &gateway,
        "/apps",
        CLIENTS,
        TP_WARMUP,
        TP_WINDOW,
        Some(gw_a.pid()),
    )
    .await?;
    let tp_nginx = match (&nginx_target, &nginx) {
        (Some(t), Some((p, _))) => {
            Some(load::throughput(t, "/apps", CLIENTS, TP_WARMUP, TP_WINDOW, Some(p.pid())).await?)
        }
        _ => None,
    };

    // 3. Upload.
    println!(
        "upload: 1 GiB direct, through the gateway{}…",
        if nginx.is_some() {
            " and through nginx"
        } else {
            ""
        }
    );
    let sink_direct = Target {
        name: "sink direct",
        addr: sink.addr,
        prefix: String::new(),
        auth: basic(setup::RACK_PASSWORD),
    };
    let sink_gw = Target {
        name: "sink via gateway",
        addr: gw_b_addr,
        prefix: PROXY.into(),
        auth: basic(&uploader),
    };
    let up_direct = upload(&sink, &sink_direct).await?;
    let rss_before = status_kb(gw_b.pid(), "VmRSS").unwrap_or(0);
    let hwm_before = status_kb(gw_b.pid(), "VmHWM").unwrap_or(0);
    let up_gw = upload(&sink, &sink_gw).await?;
    let rss_after = status_kb(gw_b.pid(), "VmRSS").unwrap_or(0);
    let hwm_after = status_kb(gw_b.pid(), "VmHWM").unwrap_or(0);
    let up_nginx = match &nginx {
        Some((_, addr)) => Some(
            upload(
                &sink,
                &Target {
                    name: "sink via nginx",
                    addr: *addr,
                    prefix: "/sink".into(),
                    auth: basic(setup::RACK_PASSWORD),
                },
            )
            .await?,
        ),
        None => None,
    };

    // 4. Audit: stop the gateways (SIGTERM flushes the writer), then count and verify.
    let sent_a = lat_gw.sent + tp_gw.answered + lat_plain.sent + lat_gated.sent;
    gw_a.terminate(Duration::from_secs(30))
        .context("stopping gateway A")?;
    gw_b.terminate(Duration::from_secs(30))
        .context("stopping gateway B")?;
    let (stored_a, verified_a) = audit_count(&db_a).await?;
    let (stored_b, verified_b) = audit_count(&db_b).await?;
    let inproc = audit_in_process(dir.path()).await?;
    drop(nginx);
    rack_proc.terminate(Duration::from_secs(10)).ok();

    // Report.
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "## Results ({} cores, load before {load_before}, after {})",
        cores(),
        procs::load_average()
    );
    println!();
    let gate_extra = ms(lat_gated.median()) / ms(lat_plain.median()) - 1.0;
    println!(
        "deploy gate, {SEQUENTIAL} sequential GET builds/{{id}} through the gateway (ms): ungated median {:.3} p99 {:.3}; gated median {:.3} p99 {:.3}; gated/ungated {:+.1}% (target ≤ +10%)",
        ms(lat_plain.median()),
        ms(lat_plain.pct(0.99)),
        ms(lat_gated.median()),
        ms(lat_gated.pct(0.99)),
        gate_extra * 100.0
    );
    println!();
    println!("latency, {SEQUENTIAL} sequential GET /apps, one keep-alive connection (ms):");
    println!("| target  | median | p90    | p99    | added median |");
    println!("|---------|--------|--------|--------|--------------|");
    let row = |name: &str, l: &Latency| {
        println!(
            "| {name:<7} | {:>6.3} | {:>6.3} | {:>6.3} | {:>12} |",
            ms(l.median()),
            ms(l.pct(0.9)),
            ms(l.pct(0.99)),
            if name == "direct" {
                "—".to_string()
            } else {
                format!("{:+.3}", ms(l.median()) - ms(lat_direct.median()))
            }
        )
    };
    row("direct", &lat_direct);
    row("gateway", &lat_gw);
    if let Some(l) = &lat_nginx {
        row("nginx", l);
    }
    println!();
    println!(
        "throughput, {CLIENTS} keep-alive clients, {}s window:",
        TP_WINDOW.as_secs()
    );
    println!("| target  | req/s    | errors | proxy CPU/request |");
    println!("|---------|----------|--------|-------------------|");
    let tp_row = |name: &str, t: &Throughput| {
        let cpu = if t.ok > 0 {
            format!("{:.0} µs", t.cpu_seconds * 1e6 / t.ok as f64)
        } else {
            "—".into()
        };
        println!(
            "| {name:<7} | {:>8.0} | {:>6} | {cpu:>17} |",
            t.rps, t.failed
        );
    };
    tp_row("direct", &tp_direct);
    tp_row("gateway", &tp_gw);
    if let Some(t) = &tp_nginx {
        tp_row("nginx", t);
    }
    println!("(CPU/request: the target process incl. children; for direct that is the fake rack)");
    println!();
    println!("upload, 1 GiB in 64 KiB chunks:");
    println!("| path    | seconds | MB/s   |");
    println!("|---------|---------|--------|");
    println!(
        "| direct  | {:>7.2} | {:>6.0} |",
        up_direct.elapsed.as_secs_f64(),
        up_direct.mbps
    );
    println!(
        "| gateway | {:>7.2} | {:>6.0} |",
        up_gw.elapsed.as_secs_f64(),
        up_gw.mbps
    );
    if let Some(u) = &up_nginx {
        println!(
            "| nginx   | {:>7.2} | {:>6.0} |",
            u.elapsed.as_secs_f64(),
            u.mbps
        );
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "gateway RSS: {:.1} MiB before the upload (peak so far {:.1} MiB), {:.1} MiB after, peak (VmHWM) {:.1} MiB",
        mib(rss_before),
        mib(hwm_before),
        mib(rss_after),
        mib(hwm_after)
    );
    println!();
    println!("audit:");
    println!(
        "  gateway A: {sent_a} proxied calls answered, {stored_a} audit events stored, chain verifies: {verified_a}"
    );
    println!("  gateway B: 1 upload, {stored_b} audit events stored, chain verifies: {verified_b}");
    println!(
        "  in-process Auditor::record (default options): {:.2} µs/event while the queue has room (first {UNBLOCKED_EVENTS}), \
         {:.2} µs/event over {AUDIT_EVENTS} incl. backpressure; the writer committed them at {:.1} µs/event ({:.0} events/s)",
        inproc.enqueue_us,
        inproc.record_us,
        inproc.commit_us,
        1e6 / inproc.commit_us
    );
    println!(
        "  per proxied request, everything included (auth lookup, route/RBAC, forward, audit): +{:.3} ms median latency, {} gateway CPU",
        ms(lat_gw.median()) - ms(lat_direct.median()),
        if tp_gw.ok > 0 {
            format!("{:.0} µs", tp_gw.cpu_seconds * 1e6 / tp_gw.ok as f64)
        } else {
            "—".into()
        }
    );
    println!();
    println!("ratios:");
    println!(
        "  gateway/direct throughput: {:.2}",
        tp_gw.rps / tp_direct.rps
    );
    if let Some(n) = &tp_nginx {
        println!("  gateway/nginx throughput:  {:.2}", tp_gw.rps / n.rps);
        println!("  nginx/direct throughput:   {:.2}", n.rps / tp_direct.rps);
    }
    println!(
        "  gateway/direct upload:     {:.2}",
        up_gw.mbps / up_direct.mbps
    );
    if let Some(u) = &up_nginx {
        println!(
            "  nginx/direct upload:       {:.2}",
            u.mbps / up_direct.mbps
        );
    }
    println!();
    println!("targets:");
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let added = ms(lat_gw.median()) - ms(lat_direct.median());
    println!(
        "  {} median added latency ≤ 1 ms ({added:.3} ms)",
        verdict(added <= 1.0)
    );
    match &tp_nginx {
        Some(n) => {
            let r = tp_gw.rps / n.rps;
            println!(
                "  {} throughput ≥ 70% of nginx ({:.0}%)",
                verdict(r >= 0.7),
                r * 100.0
            )
        }
        None => println!("  SKIP throughput ≥ 70% of nginx (nginx not installed)"),
    }
    println!(
        "  {} upload gateway RSS < 64 MiB (peak {:.1} MiB)",
        verdict(hwm_after < 64 << 20),
        mib(hwm_after)
    );
    let r = up_gw.mbps / up_direct.mbps;
    println!(
        "  {} upload ≥ 80% of direct ({:.0}%)",
        verdict(r >= 0.8),
        r * 100.0
    );
    let lost = stored_a != sent_a || stored_b != 1 || !verified_a || !verified_b;
    println!(
        "  {} no lost audit events ({stored_a}/{sent_a}, {stored_b}/1)",
        verdict(!lost)
    );
    println!("wall time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Uploads 1 GiB to `t` and checks that the sink got every byte.
async fn upload(sink: &sink::Sink, t: &Target) -> anyhow::Result<Upload> {
    sink.last_object.store(0, Ordering::SeqCst);
    let (elapsed, status, body) = load::upload(t, OBJECT, UPLOAD).await?;
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
