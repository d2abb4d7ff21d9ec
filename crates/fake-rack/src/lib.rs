//! A faithful emulator of the Convox v3 rack API, for development, demos and tests.
//!
//! One [`FakeRack`] is one rack: apps, objects, builds, releases, processes and log streams
//! all live inside the instance (no globals), so every test can start its own on port 0.
//! Wire conventions (Basic auth, pretty JSON, `ok\n` bodies, plain-text errors, websocket
//! framing with an empty binary frame as end of stream) follow
//! `shared/reference/convox-rack-api.md`.

mod auth;
mod exec;
mod form;
mod logbook;
mod manifest;
mod model;
mod record;
mod routes;
mod state;
mod tarball;
mod tls;
mod wire;
mod ws;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use record::RecordedRequest;
pub use routes::router;
pub use state::RackState;
pub use tls::TlsCertificate;

/// How long the simulated asynchronous work takes.
///
/// [`Timing::default`] is meant for humans watching a CLI; tests should use [`Timing::fast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Delay between the steps of a build (created → running → complete is about 3 steps).
    pub build_step: Duration,
    /// How long an app stays `updating` after a promote.
    pub promote: Duration,
    /// How long a one-off process stays `pending` before it is `running`.
    pub process_start: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            build_step: Duration::from_secs(1),
            promote: Duration::from_secs(3),
            process_start: Duration::from_millis(500),
        }
    }
}

impl Timing {
    /// Short delays for tests: the whole deploy sequence finishes in well under a second.
    #[must_use]
    pub fn fast() -> Self {
        Self {
            build_step: Duration::from_millis(50),
            promote: Duration::from_millis(200),
            process_start: Duration::from_millis(30),
        }
    }
}

/// Size bounds applied to untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest object body accepted by `POST /apps/{app}/objects/{key}` (bytes).
    pub max_object_bytes: u64,
    /// Largest manifest read from a build tarball (bytes).
    pub max_manifest_bytes: u64,
    /// Largest total of decompressed bytes read from a build tarball (gzip bomb guard).
    pub max_tarball_bytes: u64,
    /// Largest number of entries read from a build tarball.
    pub max_tarball_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_object_bytes: 2 << 30,
            max_manifest_bytes: 1 << 20,
            max_tarball_bytes: 512 << 20,
            max_tarball_entries: 100_000,
        }
    }
}

/// Configuration of one fake rack.
#[derive(Debug, Clone)]
pub struct Options {
    /// The rack password. Empty turns password auth off, as on a real rack.
    pub password: String,
    /// Apps that exist at start (status `running`, no release yet).
    pub apps: Vec<String>,
    /// Delays of the simulated asynchronous work.
    pub timing: Timing,
    /// Input size bounds.
    pub limits: Limits,
    /// Serve HTTPS with a self-signed certificate generated at startup.
    pub tls: bool,
    /// Rack name reported by `GET /system`.
    pub rack_name: String,
    /// Rack version reported by `GET /system`; must sort above the CLI's legacy gates.
    pub version: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            password: String::new(),
            apps: vec!["myapp".to_owned()],
            timing: Timing::default(),
            limits: Limits::default(),
            tls: false,
            rack_name: "fake".to_owned(),
            version: "3.19.6".to_owned(),
        }
    }
}

/// A running fake rack. Dropping it stops the server.
pub struct FakeRack {
    addr: SocketAddr,
    state: RackState,
    certificate: Option<TlsCertificate>,
    server: Option<JoinHandle<()>>,
}

/// Starts a fake rack on `listener` (bind port 0 in tests) and returns once it accepts.
///
/// # Errors
/// Fails when the listener has no local address or the TLS certificate cannot be built.
pub async fn spawn(listener: TcpListener, options: Options) -> std::io::Result<FakeRack> {
    let addr = listener.local_addr()?;
    let tls = options.tls;
    let state = RackState::new(options);
    let app = router(state.clone());
    let shutdown = state.shutdown_signal();
    let (certificate, server) = if tls {
        let (certificate, acceptor) = tls::self_signed(addr)?;
        let listener = tls::TlsListener::new(listener, acceptor, state.shutdown_signal());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "fake rack server stopped");
            }
        });
        (Some(certificate), server)
    } else {
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "fake rack server stopped");
            }
        });
        (None, server)
    };
    Ok(FakeRack {
        addr,
        state,
        certificate,
        server: Some(server),
    })
}

impl FakeRack {
    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without credentials, e.g. `http://127.0.0.1:40123`.
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.certificate.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Websocket base URL, e.g. `ws://127.0.0.1:40123`.
    #[must_use]
    pub fn ws_url(&self) -> String {
        let scheme = if self.certificate.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// A `RACK_URL` for the convox CLI: `http://convox:PASSWORD@ADDR`.
    ///
    /// The password is inserted as is; use URL-safe passwords.
    #[must_use]
    pub fn rack_url(&self) -> String {
        let base = self.url();
        let password = &self.state.options().password;
        base.replacen("://", &format!("://convox:{password}@"), 1)
    }

    /// The shared state (apps, requests), e.g. to inspect or to build another router.
    #[must_use]
    pub fn state(&self) -> &RackState {
        &self.state
    }

    /// Requests received so far, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// The self-signed certificate when serving HTTPS.
    #[must_use]
    pub fn tls_certificate(&self) -> Option<&TlsCertificate> {
        self.certificate.as_ref()
    }

    /// Starts stopping without waiting (the rack "goes down" for tests of an unreachable rack).
    pub fn stop(&self) {
        self.state.begin_shutdown();
    }

    /// Stops accepting, ends open streams and waits (up to 5 s) for the server to finish.
    pub async fn shutdown(mut self) {
        self.state.begin_shutdown();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for FakeRack {
    /// Signals a graceful shutdown: the server stops accepting, idle connections close and open
    /// streams end; nothing waits for it.
    fn drop(&mut self) {
        self.state.begin_shutdown();
    }
}
