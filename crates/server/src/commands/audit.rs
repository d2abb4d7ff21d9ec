//! `rack-gateway-server audit …`: verify the chain, export events, sign checkpoints.
//!
//! Exit codes of `verify`: 0 intact, 1 broken (the first bad event is named on stdout),
//! 2 could not check (configuration, database or checkpoint file unreadable).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rgw_core::audit::SignedCheckpoint;
use rgw_store::{AuditFilter, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::checkpoint::{self, checkpoint_key};
use crate::audit::view::{AuditEventView, CSV_HEADER};
use crate::config::Config;
use crate::keys::Keys;

/// `audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exit 0 when intact, 1 naming the first bad event.
    Verify {
        /// Also check a checkpoint written by `audit checkpoint` (detects a truncated tail).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Export events as JSON Lines or CSV, oldest first, streamed page by page.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Only events at or after this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only events before this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        until: Option<OffsetDateTime>,
    },
    /// Write a signed checkpoint of the chain head (count, head seq, head MAC) to a file.
    Checkpoint {
        #[arg(long)]
        output: PathBuf,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}"))
}

const FAILED_TO_CHECK: u8 = 2;

/// Runs one `audit` subcommand.
pub async fn run(config: Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url)
        .await
        .context("opening the database (RGW_DATABASE_URL)")?;
    let keys = Keys::derive(config.secret_key_bytes());
    let result = match command {
        AuditCommand::Verify { checkpoint } => {
            let cp_key = checkpoint_key(config.secret_key_bytes());
            verify(
                &store,
                keys.audit_mac.expose(),
                checkpoint.map(|p| (p, cp_key)),
            )
            .await
        }
        AuditCommand::Export {
            format,
            output,
            since,
            until,
        } => {
            let filter = AuditFilter {
                since,
                until,
                ..AuditFilter::default()
            };
            export(&store, format, output, filter).await
        }
        AuditCommand::Checkpoint { output } => {
            let cp = checkpoint::take(
                &store,
                &checkpoint_key(config.secret_key_bytes()),
                OffsetDateTime::now_utc(),
            )
            .await
            .context("reading the audit chain head")?;
            let text = serde_json::to_vec_pretty(&cp)?;
            crate::commands::dev::write_private(&output, &text)?;
            println!(
                "checkpoint written: seq {} ({} events) to {}",
                cp.checkpoint.head_seq,
                cp.checkpoint.count,
                output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    store.close().await;
    result
}

async fn verify(
    store: &Store,
    key: &[u8; 32],
    checkpoint: Option<(PathBuf, [u8; 32])>,
) -> anyhow::Result<ExitCode> {
    let checkpoint = match checkpoint {
        None => None,
        Some((path, cp_key)) => {
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: reading checkpoint {}: {e}", path.display());
                    return Ok(ExitCode::from(FAILED_TO_CHECK));
                }
            };
            match serde_json::from_slice::<SignedCheckpoint>(&text) {
                Ok(cp) => Some((cp, cp_key)),
                Err(e) => {
                    eprintln!("error: {} is not a checkpoint: {e}", path.display());
                    return Ok(ExitCode::from(FAILED_TO_CHECK));
                }
            }
        }
    };
    let summary = match store.verify_audit_chain(key).await {
        Err(e) => {
            eprintln!("error: reading the audit log: {e}");
            return Ok(ExitCode::from(FAILED_TO_CHECK));
        }
        Ok(Err(brk)) => {
            println!("audit chain broken at {brk}");
            return Ok(ExitCode::FAILURE);
        }
        Ok(Ok(summary)) => summary,
    };
    if let Some((cp, cp_key)) = checkpoint {
        match checkpoint::check(store, &cp_key, &cp, summary.head_seq).await {
            Err(e) => {
                eprintln!("error: reading the audit log: {e}");
                return Ok(ExitCode::from(FAILED_TO_CHECK));
            }
            Ok(Err(mismatch)) => {
                println!("audit chain broken against checkpoint: {mismatch}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(Ok(())) => {}
        }
    }
    println!(
        "audit chain intact: {} events, head {}",
        summary.count,
        hex::encode(summary.head_mac)
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(
    store: &Store,
    format: ExportFormat,
    output: Option<PathBuf>,
    filter: AuditFilter,
) -> anyhow::Result<ExitCode> {
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if matches!(format, ExportFormat::Csv) {
        out.write_all(CSV_HEADER.as_bytes())
            .context("writing the export")?;
    }
    let mut pager = store.audit_pager(filter, 500);
    let mut count = 0u64;
    while let Some(page) = pager.next_page().await.context("reading the audit log")? {
        for event in page {
            let view = AuditEventView::from(event);
            match format {
                ExportFormat::Jsonl => {
                    serde_json::to_writer(&mut out, &view).context("writing the export")?;
                    out.write_all(b"\n").context("writing the export")?;
                }
                ExportFormat::Csv => out
                    .write_all(view.csv_line().as_bytes())
                    .context("writing the export")?,
            }
            count += 1;
        }
    }
    out.flush().context("writing the export")?;
    if let Some(path) = output {
        eprintln!("exported {count} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
