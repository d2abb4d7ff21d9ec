//! One module per subcommand. Each has an `Args` (or subcommand enum) type and an async `run`.

pub mod api_token;
pub mod completions;
pub mod deploy;
pub mod deploy_approval;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod whoami;
