//! The `rack-gateway` binary: everything lives in the library so tests can call it.

fn main() -> std::process::ExitCode {
    rgw_cli::run(std::env::args_os())
}
