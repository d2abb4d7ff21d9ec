//! `rack-gateway-server config`: prints the effective configuration, secrets masked, and says
//! whether it would start.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, Sources};

// The sources are printed even when the configuration is invalid, so the operator sees what
// the gateway read; validation then runs on the same inputs.

pub fn run(file: Option<&Path>) -> ExitCode {
    let sources = match Sources::collect(file, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", sources.render_redacted());
    match Config::load(file, std::env::vars()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
