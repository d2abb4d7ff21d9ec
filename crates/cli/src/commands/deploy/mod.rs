//! `rack-gateway deploy [--app A] [--manifest convox.yml] [--description D] [dir]`: what
//! `convox deploy` does, through the gateway, so a CI job needs only this binary. The steps:
//! tarball `dir` honouring `.dockerignore` (streamed to the upload, see [`tarball`]), upload it
//! as an object, create a build with `git-sha`, follow the build's log, wait for the build,
//! promote its release, and wait until the app runs that release. Every call is a rack API
//! call through `/api/v1/rack-proxy` with the caller's token or login, so the gateway's deploy
//! gate applies; its refusals (no approval, expired, manifest mismatch) are printed as it
//! wrote them, with exit 1. Giving up after `--timeout` exits 5.
//!
//! Text mode prints the build log and the steps on stdout, as convox does; `--output json`
//! keeps stdout for one JSON document and moves the log to stderr.

pub mod dockerignore;
pub mod logs;
pub mod rack;
pub mod tarball;
pub mod wait;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};
use tokio::time::Instant;

use self::rack::Rack;
use self::wait::{Out, invalid, wait_build, wait_running};
use crate::context::Ctx;
use crate::error::CliError;
use crate::local;

/// `--help` examples.
pub const EXAMPLES: &str = "\
Examples:
  rack-gateway deploy-approval request --message \"Deploy to production\" --wait --timeout 20m
  rack-gateway deploy
  rack-gateway deploy --app myapp --manifest convox.prod.yml --description \"release 42\" ./service

Exit codes: 0 deployed, 1 error or refused by the gateway, 2 usage, 5 timed out.";
/// Arguments of `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The directory to deploy (the build context).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The app (default: `.convox/app` in the directory, else the directory's name).
    #[arg(long, short = 'a')]
    pub app: Option<String>,
    /// The manifest, relative to the directory.
    #[arg(long, short = 'm', default_value = "convox.yml")]
    pub manifest: String,
    /// The build's description (default: `build <sha> <commit subject>`).
    #[arg(long, short = 'd')]
    pub description: Option<String>,
    /// The commit the build is of, sent as `git-sha` (default: `git rev-parse HEAD` in the
    /// directory); an abbreviation is expanded with the local repository.
    #[arg(long, value_name = "SHA")]
    pub git_commit: Option<String>,
    /// Give up after this long (e.g. 30m, 1h) and exit 5.
    #[arg(long, value_parser = crate::duration::parse, default_value = "60m")]
    pub timeout: Duration,
}

/// Runs `deploy`.
pub async fn run(ctx: &Ctx, args: DeployArgs) -> Result<()> {
    let deadline = Instant::now() + args.timeout;
    let dir = args.dir.clone();
    if !dir.is_dir() {
        return Err(CliError::usage(
            "invalid_directory",
            format!("{} is not a directory", dir.display()),
        )
        .into());
    }
    let mut defaults = Vec::new();
    let app = local::app_name(args.app.as_deref(), &dir, &mut defaults)?.to_string();
    let sha = match local::commit(args.git_commit.as_deref(), &dir, &mut defaults) {
        Ok(sha) => Some(sha.to_string()),
        // Without git, the build carries no git-sha (as with convox); a gated token is then
        // refused by the gateway in its own words.
        Err(_) if args.git_commit.is_none() => {
            defaults.push("no git-sha (not a git repository; pass --git-commit SHA)".into());
            None
        }
        Err(e) => return Err(e),
    };
    if !defaults.is_empty() {
        eprintln!("Using {}", defaults.join(", "));
    }
    let ignore = read_dockerignore(&dir)?;
    check_manifest(&dir, &args.manifest, &ignore)?;
    let description = args
        .description
        .clone()
        .or_else(|| sha.as_deref().map(|s| default_description(&dir, s)));

    let target = ctx.target()?;
    let token = target
        .client
        .token()
        .cloned()
        .ok_or_else(|| CliError::new("not_logged_in", "no credential for the gateway"))?;
    let rack = Rack::new(&target.url, token)?;
    let mut out = Out::new(ctx.json());

    // 1. Upload the build context.
    let key = format!("tmp/{}.tgz", random_hex(15));
    let tarball = tarball::start(dir.clone(), ignore);
    let counters = tarball.counters.clone();
    let body = reqwest::Body::wrap_stream(tarball.stream);
    out.step(&format!("Uploading the build context of {app}"));
    let upload = tokio::time::timeout_at(
        deadline,
        rack.post_body("upload", &format!("/apps/{app}/objects/{key}"), body),
    )
    .await
    .unwrap_or_else(|_| Err(wait::timeout("the upload to finish")));
    // A local read error explains a failed upload better than the broken body does; a body
    // cut short because the gateway answered first (a refusal) is not one.
    let object = match (upload, tarball.done.await) {
        (Ok(object), Ok(Ok(()))) => object,
        (Err(refused), Ok(Ok(()))) => return Err(refused),
        (Err(refused), Ok(Err(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            return Err(refused);
        }
        (_, Ok(Err(e))) => {
            return Err(
                CliError::new("tarball_failed", format!("reading the build context: {e}")).into(),
            );
        }
        (_, Err(e)) => return Err(CliError::new("tarball_failed", e.to_string()).into()),
    };
    let object_url = object["Url"]
        .as_str()
        .or_else(|| object["url"].as_str())
        .ok_or_else(|| invalid("the upload answer has no Url"))?
        .to_owned();
    out.step(&format!(
        "Uploaded {} files ({}) as {object_url}",
        counters.entries.load(Ordering::Relaxed),
        bytes_human(counters.bytes_out.load(Ordering::Relaxed))
    ));

    // 2. Create the build.
    let mut form = vec![("url", object_url.as_str())];
    if let Some(s) = &sha {
        form.push(("git-sha", s));
    }
    if let Some(d) = &description {
        form.push(("description", d));
    }
    if args.manifest != "convox.yml" {
        form.push(("manifest", &args.manifest));
    }
    let build = rack
        .post_form("build", &format!("/apps/{app}/builds"), &form)
        .await?;
    let build_id = str_field(&build, "id")?;
    out.step(&format!(
        "Building {build_id} ({})",
        sha.as_deref()
            .map_or_else(|| "no git-sha".to_owned(), |s| format!("git-sha {s}"))
    ));

    // 3. Follow its log, then wait for it to end.
    let build = wait_build(&rack, &app, &build_id, deadline, &mut out).await?;
    let release = str_field(&build, "release")?;
    out.step(&format!("Build: {build_id}"));
    out.step(&format!("Release: {release}"));

    // 4. Promote, and wait until the app runs the release.
    wait_running(&rack, &app, None, deadline, &mut out).await?;
    out.step(&format!("Promoting {release}"));
    rack.post_form(
        "promote",
        &format!("/apps/{app}/releases/{release}/promote"),
        &[("force", "false")],
    )
    .await?;
    wait_running(&rack, &app, Some(&release), deadline, &mut out).await?;
    out.step("OK");
    if ctx.json() {
        crate::output::print_json(&json!({
            "app": app,
            "object_url": object_url,
            "build_id": build_id,
            "release_id": release,
            "git_sha": sha,
            "status": "deployed",
        }));
    }
    Ok(())
}

fn read_dockerignore(dir: &Path) -> Result<dockerignore::DockerIgnore> {
    match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => dockerignore::DockerIgnore::parse(&text)
            .map_err(|e| CliError::usage("invalid_dockerignore", e).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(CliError::new("error", format!("reading .dockerignore: {e}")).into()),
    }
}

/// The manifest must be in the context, or the build fails on the rack after the upload.
fn check_manifest(dir: &Path, manifest: &str, ignore: &dockerignore::DockerIgnore) -> Result<()> {
    let rel = manifest.trim_start_matches("./");
    if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|s| s == "..") {
        return Err(CliError::usage(
            "invalid_manifest",
            format!("--manifest {manifest}: give a path inside the directory"),
        )
        .into());
    }
    if !dir.join(rel).is_file() {
        return Err(CliError::usage(
            "manifest_not_found",
            format!("no manifest {rel} in {}", dir.display()),
        )
        .into());
    }
    if ignore.excludes(rel) {
        return Err(CliError::usage(
            "manifest_ignored",
            format!("{rel} is excluded by .dockerignore, so the build could not read it"),
        )
        .into());
    }
    Ok(())
}

/// `build <10-char sha> <subject>`, or `build <sha>` when git cannot tell the subject.
fn default_description(dir: &Path, sha: &str) -> String {
    match local::git(dir, &["log", "-1", "--format=%s", sha]) {
        Ok(subject) if !subject.is_empty() => format!("build {} {subject}", &sha[..10]),
        _ => format!("build {}", &sha[..10]),
    }
}

fn str_field(v: &Value, field: &str) -> Result<String> {
    v[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid(&format!("the rack's answer has no {field}: {v}")).into())
}
/// `2n` random lowercase hex digits (the object key, as convox chooses it).
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes_human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn the_readme_ci_steps_parse() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let metadata = r#"{"workflow_id":"w-1","pipeline_number":"42"}"#;
        for args in [
            vec![
                "rack-gateway",
                "deploy-approval",
                "request",
                "--app",
                "myapp",
                "--git-commit",
                sha,
                "--branch",
                "main",
                "--ci-metadata",
                metadata,
                "--message",
                "Deploy main to production",
                "--wait",
                "--timeout",
                "30m",
            ],
            vec![
                "rack-gateway",
                "deploy",
                "--app",
                "myapp",
                "--git-commit",
                sha,
            ],
            vec![
                "rack-gateway",
                "deploy",
                "-a",
                "myapp",
                "-m",
                "convox.prod.yml",
                "-d",
                "release 42",
                "./service",
            ],
            vec![
                "rack-gateway",
                "deploy-approval",
                "approve",
                "3f2a",
                "--security-key",
                "--no-browser",
            ],
        ] {
            if let Err(e) = crate::Cli::try_parse_from(&args) {
                panic!("{args:?}: {e}");
            }
        }
        assert!(
            crate::Cli::try_parse_from([
                "rack-gateway",
                "deploy-approval",
                "approve",
                "3f2a",
                "--security-key",
                "--mfa-code",
                "123456",
            ])
            .is_err(),
            "a code and a security key exclude each other"
        );
    }
}
