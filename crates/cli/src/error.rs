//! Errors the CLI reports: an error carries a `snake_case` code, a human message and the exit
//! code (1 error, 2 usage, 3 rejected, 4 expired, 5 timed out); gateway errors keep the
//! server's code and message. [`report`] prints one to stderr as `error: <message> (<code>)`
//! and, in JSON mode, as `{"error":{"code","message"}}` on stdout unless the command already
//! printed its document (a rejected request is still a request object).

use std::fmt;
use std::process::ExitCode;

use rgw_core::wire::ApiErrorBody;

use crate::output::Output;

/// Exit code of API, network and other runtime errors.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of usage errors (as clap uses).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when a deploy approval request was rejected.
pub const EXIT_REJECTED: u8 = 3;
/// Exit code when a deploy approval request expired.
pub const EXIT_EXPIRED: u8 = 4;
/// Exit code when waiting timed out.
pub const EXIT_TIMEOUT: u8 = 5;

/// An error with a machine-readable code, a message and an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// `snake_case` code: the server's, or one of the CLI's own.
    pub code: String,
    /// A sentence saying what went wrong and what to do.
    pub message: String,
    /// The process exit code.
    pub exit: u8,
    /// The HTTP status, when the gateway answered.
    pub status: Option<u16>,
    /// The command already printed its JSON document (e.g. a rejected request), so
    /// [`report`] adds none.
    pub json_printed: bool,
}

impl CliError {
    /// A runtime error (exit 1).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
            exit: EXIT_ERROR,
            status: None,
            json_printed: false,
        }
    }

    /// A usage error (exit 2).
    pub fn usage(code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            exit: EXIT_USAGE,
            ..CliError::new(code, message)
        }
    }

    /// A timeout (exit 5).
    pub fn timeout(code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            exit: EXIT_TIMEOUT,
            ..CliError::new(code, message)
        }
    }
}

impl CliError {
    /// Marks that stdout already carries the command's JSON document.
    #[must_use]
    pub fn with_json_printed(mut self) -> Self {
        self.json_printed = true;
        self
    }

    /// The same error with another exit code.
    #[must_use]
    pub fn with_exit(mut self, exit: u8) -> Self {
        self.exit = exit;
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for CliError {}

/// The code, message and exit code of any error (uncoded errors are `error`, exit 1).
pub fn classify(e: &anyhow::Error) -> CliError {
    match e.downcast_ref::<CliError>() {
        Some(c) => c.clone(),
        None => CliError::new("error", format!("{e:#}")),
    }
}

/// Prints `e` and returns its exit code.
pub fn report(e: &anyhow::Error, output: Output) -> ExitCode {
    let c = classify(e);
    eprintln!("error: {} ({})", c.message, c.code);
    if output == Output::Json && !c.json_printed {
        let body = ApiErrorBody::new(c.code.clone(), c.message.clone());
        crate::output::print_json(&body);
    }
    ExitCode::from(c.exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncoded_errors_are_plain_errors_with_exit_one() {
        let e = anyhow::anyhow!("disk full").context("writing the config");
        let c = classify(&e);
        assert_eq!((c.code.as_str(), c.exit), ("error", 1));
        assert_eq!(c.message, "writing the config: disk full");
    }

    #[test]
    fn coded_errors_keep_their_code_and_exit() {
        let e = anyhow::Error::new(CliError::usage(
            "password_required",
            "pass --password-stdin",
        ));
        let c = classify(&e);
        assert_eq!((c.code.as_str(), c.exit), ("password_required", 2));
    }
}
