//! `fake-rack`: run the Convox rack emulator on its own.

use anyhow::Context;
use clap::Parser;
use fake_rack::{Options, Timing};

/// A Convox rack API emulator for development and demos.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5443")]
    listen: String,
    /// Rack password (Basic auth; the username is ignored). Empty disables auth.
    #[arg(long, env = "FAKE_RACK_PASSWORD", hide_env_values = true)]
    password: String,
    /// App to create at start (repeatable).
    #[arg(long = "app", default_values_t = ["myapp".to_owned()])]
    apps: Vec<String>,
    /// Serve HTTPS with a self-signed certificate generated at startup.
    #[arg(long)]
    tls: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fake_rack=info".into()),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let options = Options {
        password: args.password,
        apps: args.apps,
        timing: Timing::default(),
        tls: args.tls,
        ..Options::default()
    };
    let rack = fake_rack::spawn(listener, options)
        .await
        .context("starting the fake rack")?;
    let redacted = rack.url().replacen("://", "://convox:<password>@", 1);
    println!("fake-rack listening on {}", rack.url());
    println!("RACK_URL={redacted}");
    if let Some(certificate) = rack.tls_certificate() {
        println!("certificate sha256 {}", certificate.sha256_fingerprint);
    }
    shutdown_signal().await.context("waiting for a signal")?;
    println!("shutting down");
    rack.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
