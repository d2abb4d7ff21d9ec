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
//! - **gateway PG** (the same, on a fresh schema of the PostgreSQL database named by
//!   `RGW_TEST_POSTGRES_URL`; skipped when it is unset);
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
//! 2. concurrency sweep: 1, 16 and 64 concurrent keep-alive clients for 3 s each (after 1 s
//!    warm-up) against direct, nginx, gateway A and gateway PG: requests/s, ratio to nginx,
//!    p50/p99 latency, p99 added over direct, and the CPU time each process used per request;
//!    then 10 more sweeps against gateway A with its RSS 1 s after each (memory must not grow);
//! 3. upload: 1 GiB streamed in 64 KiB chunks to the sink directly, through gateway B and
//!    through nginx; MB/s, the ratio, gateway B's RSS before and peak RSS (`VmHWM`) after;
//! 4. audit: every proxied call is audited; after SIGTERM (which flushes the writer) the
//!    `audit_events` chain of each gateway must hold exactly one event per answered call and
//!    verify. In-process, 20 000 `Auditor::record` calls against a temp SQLite store give the
//!    request-path cost per event and the writer's commit rate. The gateway's added latency
//!    above is the whole per-request cost, audit included.
//!
//! The targets from the issue are printed as PASS/MISS lines; a miss does not fail the run.
//! Invoked without `--bench` (e.g. `cargo test --benches`) it only prints how to run it;
//! `RGW_BENCH_ONLY=gate` stops after the gated/ungated comparison (for profiling the gate).

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
#[path = "proxy/sweep.rs"]
mod sweep;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use audit_cost::{audit_count, audit_in_process};
use load::{Latency, Target, basic};
use procs::status_kb;

const WARMUP: usize = 200;
const SEQUENTIAL: usize = 2000;
/// Rounds the gated/ungated comparison is interleaved in.
const GATE_ROUNDS: usize = 10;
const TP_WARMUP: Duration = Duration::from_secs(1);
const TP_WINDOW: Duration = Duration::from_secs(3);
/// Repeated sweeps for the memory check, and each one's window per client count.
const MEMORY_ROUNDS: usize = 10;
const MEMORY_WINDOW: Duration = Duration::from_secs(1);
const AUDIT_EVENTS: usize = 20_000;
/// Fewer than the default queue capacity (10 000): `record` cannot wait for room.
const UNBLOCKED_EVENTS: usize = 5_000;
const PROXY: &str = "/api/v1/rack-proxy";

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
    let db_a = setup::sqlite_url(&dir.path().join("gateway-a.db"));
    let viewer = setup::mint_token(&db_a, "bench-viewer", Some("viewer"), &[]).await?;
    let (cicd, build_id) = setup::approved_build(&db_a, rack_addr).await?;
    let (mut gw_a, gw_a_addr) =
        setup::gateway(&gateway_bin, dir.path(), "gateway-a", &db_a, rack_addr, &[]).await?;
    let db_b = setup::sqlite_url(&dir.path().join("gateway-b.db"));
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
    let pg_schema = rgw_store::testing::fresh_postgres_schema().await;
    let mut gw_pg = match &pg_schema {
        Some((_, _, url)) => {
            let token = setup::mint_token(url, "bench-viewer-pg", Some("viewer"), &[]).await?;
            let (p, addr) =
                setup::gateway(&gateway_bin, dir.path(), "gateway-pg", url, rack_addr, &[]).await?;
            Some((p, addr, token))
        }
        None => {
            println!("RGW_TEST_POSTGRES_URL not set: skipping the PostgreSQL gateway");
            None
        }
    };
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
    let gated_target = Target {
        name: "gateway (gated)",
        addr: gw_a_addr,
        prefix: PROXY.into(),
        auth: basic(&cicd),
    };
    // Interleaved in rounds, alternating which goes first (ABBA): run one after the other, the
    // second would also pay for the first's audit backlog and the database's growth.
    let mut lat_plain = load::latency(&gateway, &build_path, WARMUP, 0).await?;
    let mut lat_gated = load::latency(&gated_target, &build_path, WARMUP, 0).await?;
    for round in 0..GATE_ROUNDS {
        let n = SEQUENTIAL / GATE_ROUNDS;
        if round % 2 == 0 {
            lat_plain.merge(load::latency(&gateway, &build_path, 0, n).await?);
            lat_gated.merge(load::latency(&gated_target, &build_path, 0, n).await?);
        } else {
            lat_gated.merge(load::latency(&gated_target, &build_path, 0, n).await?);
            lat_plain.merge(load::latency(&gateway, &build_path, 0, n).await?);
        }
    }
    if std::env::var("RGW_BENCH_ONLY").as_deref() == Ok("gate") {
        println!("{}", load::gate_line(&lat_plain, &lat_gated, SEQUENTIAL));
        return Ok(());
    }

    // 2. Concurrency sweep, then the repeated sweeps for memory.
    println!(
        "sweep: {:?} clients, {TP_WARMUP:?} warm-up + {TP_WINDOW:?} per point and target…",
        sweep::CLIENTS
    );
    let rack = Some(rack_proc.pid());
    let mut series =
        vec![sweep::sweep(&direct, "/apps", (rack, rack), TP_WARMUP, TP_WINDOW).await?];
    if let (Some(t), Some((p, _))) = (&nginx_target, &nginx) {
        series.push(sweep::sweep(t, "/apps", (Some(p.pid()), rack), TP_WARMUP, TP_WINDOW).await?);
    }
    series.push(
        sweep::sweep(
            &gateway,
            "/apps",
            (Some(gw_a.pid()), rack),
            TP_WARMUP,
            TP_WINDOW,
        )
        .await?,
    );
    if let Some((p, addr, token)) = &gw_pg {
        let t = Target {
            name: "gateway-pg",
            addr: *addr,
            prefix: PROXY.into(),
            auth: basic(token),
        };
        series.push(sweep::sweep(&t, "/apps", (Some(p.pid()), rack), TP_WARMUP, TP_WINDOW).await?);
    }
    println!("memory: {MEMORY_ROUNDS} more sweeps against the gateway, RSS after each…");
    let (rss_rounds, memory_answered) =
        sweep::repeated(&gateway, "/apps", gw_a.pid(), MEMORY_ROUNDS, MEMORY_WINDOW).await?;
    let sweep_hwm = status_kb(gw_a.pid(), "VmHWM").unwrap_or(0);

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
    let up_direct = sink::upload(&sink, &sink_direct).await?;
    let rss_before = status_kb(gw_b.pid(), "VmRSS").unwrap_or(0);
    let hwm_before = status_kb(gw_b.pid(), "VmHWM").unwrap_or(0);
    let up_gw = sink::upload(&sink, &sink_gw).await?;
    let rss_after = status_kb(gw_b.pid(), "VmRSS").unwrap_or(0);
    let hwm_after = status_kb(gw_b.pid(), "VmHWM").unwrap_or(0);
    let up_nginx = match &nginx {
        Some((_, addr)) => Some(
            sink::upload(
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
    let gw_series = |name: &str| series.iter().find(|s| s.name == name);
    let sent_a = lat_gw.sent
        + gw_series("gateway").map_or(0, sweep::Series::answered)
        + memory_answered
        + lat_plain.sent
        + lat_gated.sent;
    let sent_pg = gw_series("gateway-pg").map_or(0, sweep::Series::answered);
    gw_a.terminate(Duration::from_secs(30))
        .context("stopping gateway A")?;
    gw_b.terminate(Duration::from_secs(30))
        .context("stopping gateway B")?;
    if let Some((p, _, _)) = &mut gw_pg {
        p.terminate(Duration::from_secs(30))
            .context("stopping the PostgreSQL gateway")?;
    }
    let (stored_a, verified_a) = audit_count(&db_a).await?;
    let (stored_b, verified_b) = audit_count(&db_b).await?;
    let audit_pg = match &pg_schema {
        Some((admin, schema, url)) => {
            let counted = audit_count(url).await?;
            rgw_store::testing::drop_postgres_schema(admin, schema).await;
            Some(counted)
        }
        None => None,
    };
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
    println!("{}", load::gate_line(&lat_plain, &lat_gated, SEQUENTIAL));
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
    sweep::print(&series, TP_WINDOW);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "gateway RSS after each of {MEMORY_ROUNDS} repeated sweeps (MiB): {}; peak (VmHWM) {:.1} MiB",
        rss_rounds
            .iter()
            .map(|b| format!("{:.1}", mib(*b)))
            .collect::<Vec<_>>()
            .join(", "),
        mib(sweep_hwm)
    );
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
    if let Some((stored, verified)) = audit_pg {
        println!(
            "  gateway PG: {sent_pg} proxied calls answered, {stored} audit events stored, chain verifies: {verified}"
        );
    }
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
        gw_series("gateway")
            .and_then(|s| s.points.get(1))
            .map_or("—".into(), |p| format!(
                "{:.0} µs (16 clients)",
                p.cpu_us_per_request()
            ))
    );
    println!();
    println!("ratios:");
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
    let mut checks = sweep::verdicts(&series, "gateway", &[16, 64], 0.8, Some(2.0));
    checks.extend(sweep::verdicts(
        &series,
        "gateway-pg",
        &sweep::CLIENTS,
        0.7,
        None,
    ));
    for (ok, what) in checks {
        if what.starts_with("SKIP") {
            println!("  {what}");
        } else {
            println!("  {} {what}", verdict(ok));
        }
    }
    let grew = rss_rounds
        .last()
        .unwrap_or(&0)
        .saturating_sub(rss_rounds[0]);
    println!(
        "  {} no memory growth across {MEMORY_ROUNDS} sweeps (last − first {:+.1} MiB, limit 2 MiB)",
        verdict(grew <= 2 << 20),
        mib(grew)
    );
    println!(
        "  {} gateway RSS < 64 MiB under the sweeps (peak {:.1} MiB)",
        verdict(sweep_hwm < 64 << 20),
        mib(sweep_hwm)
    );
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
    let lost_pg = audit_pg.is_some_and(|(stored, verified)| stored != sent_pg || !verified);
    let lost = stored_a != sent_a || stored_b != 1 || !verified_a || !verified_b || lost_pg;
    println!(
        "  {} no lost audit events ({stored_a}/{sent_a}, {stored_b}/1)",
        verdict(!lost)
    );
    println!("wall time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
