//! What the CLI reads from the working directory: the app name (`.convox/app`, else the
//! directory's name, as the convox CLI does), the commit (`git rev-parse HEAD`, or an
//! abbreviation expanded with the local repository) and the branch. Each default used is
//! appended to a list so the command can say which it used.

use std::path::Path;
use std::process::Command;

use anyhow::Result;
use rgw_core::{AppName, GitSha, GitShaPrefix};

use crate::error::CliError;

/// The app: `given`, else `.convox/app` in `dir`, else `dir`'s name.
pub fn app_name(given: Option<&str>, dir: &Path, defaults: &mut Vec<String>) -> Result<AppName> {
    let (name, from) = match given.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => (a.to_owned(), None),
        None => match std::fs::read_to_string(dir.join(".convox").join("app")) {
            Ok(s) if !s.trim().is_empty() => (s.trim().to_owned(), Some(".convox/app")),
            _ => {
                // `canonicalize` so that `.` names the real directory.
                let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
                let name = dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                (name, Some("the directory name"))
            }
        },
    };
    let app = AppName::parse(&name).map_err(|e| {
        CliError::usage(
            "invalid_app",
            format!(
                "{e}; pass --app NAME{}",
                if from.is_some() {
                    " (no usable default)"
                } else {
                    ""
                }
            ),
        )
    })?;
    if let Some(from) = from {
        defaults.push(format!("app {app} (from {from})"));
    }
    Ok(app)
}

/// The commit: `given` (a full SHA, or an abbreviation the repository at `dir` expands), else
/// `git rev-parse HEAD` in `dir`.
pub fn commit(given: Option<&str>, dir: &Path, defaults: &mut Vec<String>) -> Result<GitSha> {
    let Some(given) = given.map(str::trim).filter(|c| !c.is_empty()) else {
        let head = git(dir, &["rev-parse", "HEAD"]).map_err(|e| {
            CliError::usage(
                "git_commit_required",
                format!("pass --git-commit SHA (no git repository to read HEAD from: {e})"),
            )
        })?;
        let sha = GitSha::parse(&head).map_err(|e| CliError::new("git_failed", e.to_string()))?;
        defaults.push(format!("commit {sha} (from git HEAD)"));
        return Ok(sha);
    };
    if let Ok(sha) = GitSha::parse(given) {
        return Ok(sha);
    }
    let prefix = GitShaPrefix::parse(given)
        .map_err(|e| CliError::usage("invalid_git_commit", format!("--git-commit: {e}")))?;
    let full = git(
        dir,
        &["rev-parse", "--verify", "--quiet", &format!("{prefix}^{{commit}}")],
    )
    .ok()
    .and_then(|s| GitSha::parse(&s).ok())
    .filter(|sha| sha.starts_with(&prefix))
    .ok_or_else(|| {
        CliError::usage(
            "git_commit_not_found",
            format!(
                "cannot expand the abbreviated commit {prefix}: no unique commit with that prefix in a local git repository here; pass the full 40-character SHA"
            ),
        )
    })?;
    defaults.push(format!(
        "commit {full} (expanded {prefix} with the local repository)"
    ));
    Ok(full)
}

/// The branch: `given`, else the current git branch in `dir` (none on a detached HEAD).
pub fn branch(given: Option<String>, dir: &Path, defaults: &mut Vec<String>) -> Option<String> {
    if let Some(b) = given.filter(|b| !b.trim().is_empty()) {
        return Some(b);
    }
    let b = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"])
        .ok()
        .filter(|b| b != "HEAD");
    if let Some(b) = &b {
        defaults.push(format!("branch {b} (from git)"));
    }
    b
}

/// Runs `git args…` in `dir`; its trimmed stdout, or why it failed.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(if err.is_empty() {
            format!("git {} failed", args.join(" "))
        } else {
            err
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
