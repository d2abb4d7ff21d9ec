//! All mutable rack state of one instance, behind one `Arc`.
//!
//! A single `std::sync::Mutex` guards everything; it is never held across an `.await`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::Options;
use crate::logbook::LogBook;
use crate::model::{App, Build, Process, Release};
use crate::record::{self, RecordedRequest};
use crate::wire::RackError;

/// Handle to one rack's state; cheap to clone.
#[derive(Clone)]
pub struct RackState(Arc<Shared>);

struct Shared {
    options: Options,
    inner: Mutex<Inner>,
    shutdown: watch::Sender<bool>,
}

pub(crate) struct Inner {
    pub apps: BTreeMap<String, AppRecord>,
    pub objects: BTreeMap<(String, String), Bytes>,
    /// Oldest first; a ring of the last 10 000 (see `record`).
    pub requests: VecDeque<record::Entry>,
    pub system_logs: LogBook,
    pub system_parameters: BTreeMap<String, String>,
}

pub(crate) struct AppRecord {
    pub app: App,
    /// Oldest first.
    pub builds: Vec<BuildRecord>,
    /// Oldest first.
    pub releases: Vec<Release>,
    pub processes: Vec<ProcessRecord>,
    /// Desired count per service (`PUT services/{name}`); absent means 1.
    pub scale: BTreeMap<String, u32>,
    pub logs: LogBook,
    /// Bumped on every promote so a superseded rollout does not commit.
    pub rollout: u64,
}

pub(crate) struct BuildRecord {
    pub build: Build,
    pub logs: LogBook,
}

pub(crate) struct ProcessRecord {
    pub process: Process,
    /// Started by `POST services/{service}/processes` (kept across promotes).
    pub one_off: bool,
    /// Header options of a one-off (`Command`, `Image`, `Environment`, ...); empty for pods.
    pub options: BTreeMap<String, String>,
    /// Extra environment of a one-off (`Environment` header), `KEY=VALUE` lines.
    pub env: Vec<String>,
    pub task: Option<AbortHandle>,
}

impl AppRecord {
    pub fn new(name: &str) -> Self {
        Self {
            app: App::new(name),
            builds: Vec::new(),
            releases: Vec::new(),
            processes: Vec::new(),
            scale: BTreeMap::new(),
            logs: LogBook::new(),
            rollout: 0,
        }
    }

    pub fn build(&self, id: &str) -> Result<&BuildRecord, RackError> {
        self.builds
            .iter()
            .find(|b| b.build.id == id)
            .ok_or_else(|| RackError::not_found(format!("build not found: {id}")))
    }

    pub fn build_mut(&mut self, id: &str) -> Result<&mut BuildRecord, RackError> {
        self.builds
            .iter_mut()
            .find(|b| b.build.id == id)
            .ok_or_else(|| RackError::not_found(format!("build not found: {id}")))
    }

    pub fn release(&self, id: &str) -> Result<&Release, RackError> {
        self.releases
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| RackError::not_found(format!("release not found: {id}")))
    }

    /// The newest release (by creation), if any.
    pub fn latest_release(&self) -> Option<&Release> {
        self.releases.iter().max_by_key(|r| r.created)
    }

    /// The release the app currently runs, if any.
    pub fn current_release(&self) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == self.app.release)
    }

    /// A process by id, or a running process of the service of that name (`convox exec web`).
    pub fn process(&self, pid: &str) -> Result<&ProcessRecord, RackError> {
        self.processes
            .iter()
            .find(|p| p.process.id == pid)
            .or_else(|| {
                self.processes
                    .iter()
                    .find(|p| p.process.name == pid && p.process.status == "running")
            })
            .ok_or_else(|| RackError::not_found(format!("process not found: {pid}")))
    }

    pub fn log(&mut self, source: &str, message: &str) {
        self.logs.push(source, message);
    }
}

impl RackState {
    /// A fresh rack with the configured apps.
    #[must_use]
    pub fn new(options: Options) -> Self {
        let apps = options
            .apps
            .iter()
            .map(|name| (name.clone(), AppRecord::new(name)))
            .collect();
        let inner = Inner {
            apps,
            objects: BTreeMap::new(),
            requests: VecDeque::new(),
            system_logs: LogBook::new(),
            system_parameters: BTreeMap::new(),
        };
        let (shutdown, _) = watch::channel(false);
        Self(Arc::new(Shared {
            options,
            inner: Mutex::new(inner),
            shutdown,
        }))
    }

    /// The options this rack was started with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.0.options
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.0.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on one app, or fails with 404 `app not found: NAME`.
    pub(crate) fn with_app<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut AppRecord) -> Result<T, RackError>,
    ) -> Result<T, RackError> {
        let mut inner = self.lock();
        let app = inner
            .apps
            .get_mut(name)
            .ok_or_else(|| RackError::not_found(format!("app not found: {name}")))?;
        f(app)
    }

    /// Requests received so far, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .map(record::Entry::snapshot)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Current status of an app (`running`, `updating`, ...), if it exists.
    #[must_use]
    pub fn app_status(&self, name: &str) -> Option<String> {
        self.lock().apps.get(name).map(|a| a.app.status.clone())
    }

    /// The header options a one-off process was started with (`command`, `image`,
    /// `environment`, ...; lower-case names), if it exists.
    #[must_use]
    pub fn process_options(&self, app: &str, pid: &str) -> Option<BTreeMap<String, String>> {
        let inner = self.lock();
        let record = inner
            .apps
            .get(app)?
            .processes
            .iter()
            .find(|p| p.process.id == pid)?;
        Some(record.options.clone())
    }

    /// Asks the server, open streams and background work to stop.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// Resolves once [`RackState::begin_shutdown`] was called.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.shutdown.subscribe();
        async move {
            // An error means the sender is gone, which is a shutdown too.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}
