//! rack-gateway server: the HTTP API, the rack proxy, authentication, audit and jobs.
//! `main.rs` only parses the command line; everything testable lives here.

pub mod api;
pub mod app;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod config;
pub mod error;
pub mod health;
pub mod integrations;
pub mod jobs;
pub mod keys;
pub mod mfa;
pub mod proxy;
pub mod rack;
pub mod settings;
pub mod telemetry;
pub mod web;

pub use app::{AppState, router, serve};
pub use config::Config;
pub use error::ApiError;
