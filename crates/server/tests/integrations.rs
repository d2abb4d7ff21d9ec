//! Durable jobs and integrations end to end: the real gateway on port 0 against both databases,
//! with local CircleCI, GitHub and webhook servers that speak those APIs' paths, headers and
//! error bodies. Jobs are run by calling the worker step (`run_once`) directly, so each test
//! decides when a job runs and what time it is.

#[path = "integrations/support.rs"]
mod support;

#[path = "integrations/circleci.rs"]
mod circleci;

#[path = "integrations/github.rs"]
mod github;

#[path = "integrations/notify.rs"]
mod notify;

#[path = "integrations/jobs_admin.rs"]
mod jobs_admin;
