//! The web UI against the real gateway on port 0, both databases: page-level HTTP tests
//! (sign-in, MFA gating, CSRF, escaping, headers, live streams) and browser tests that drive
//! real headless Chromium through the approval workflow.

#[path = "web/support.rs"]
mod support;

#[path = "web/pages.rs"]
mod pages;

#[path = "web/browser.rs"]
mod browser;

#[path = "web/admin.rs"]
mod admin;

#[path = "web/keys.rs"]
mod keys;
