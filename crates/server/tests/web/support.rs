//! Helpers for the web UI tests: browser sessions and CSRF tokens for plain HTTP requests, and
//! a headless Chromium driven through chromedriver started on a free port by the test itself.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rgw_server::auth::Channel;
use rgw_testkit::TestApp;
use thirtyfour::error::WebDriverErrorInner;
use thirtyfour::prelude::*;

/// A signed-in browser session for plain HTTP requests: its cookie header value.
pub async fn web_cookie(app: &TestApp, email: &str, mfa: bool) -> String {
    let token = if mfa {
        app.session_with_mfa(email, Channel::Web).await
    } else {
        app.session_for(email, Channel::Web).await
    };
    format!("{}={token}", app.cookie_name())
}

/// GETs `path` with `cookie`; returns status, headers and body.
pub async fn page(
    app: &TestApp,
    cookie: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = app
        .get(path)
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET a page");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("page body"))
}

/// POSTs a form to `path` with `cookie`.
pub async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = app
        .post(path)
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .expect("POST a form");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("form answer body"))
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_from(html: &str) -> String {
    attr_after(html, "name=\"csrf\" value=\"").expect("a CSRF field on the page")
}

/// The text after `marker` up to the next `"`.
pub fn attr_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Where a redirect goes.
pub fn location(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Also on a failed assertion: never leave a chromedriver behind.
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

/// How long a browser step waits for the page before the test fails. Generous: a passing step
/// takes milliseconds, and CI machines have been 6× slower than a quiet one.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often a waiting step looks again.
const POLL: Duration = Duration::from_millis(50);

/// chromedriver and a headless Chromium session; both end when this is dropped.
pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium, or `None` (with a note) when
    /// they are not installed and `RGW_REQUIRE_BROWSER` is not set (CI sets it).
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists()
        {
            assert!(
                std::env::var_os("RGW_REQUIRE_BROWSER").is_none(),
                "RGW_REQUIRE_BROWSER is set but {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: {CHROMEDRIVER} or {CHROMIUM} not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver is another process: wait (bounded) until it accepts connections.
        for _ in 0..PATIENCE.as_millis() / POLL.as_millis() {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).expect("chromium binary");
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,860",
            "--force-device-scale-factor=1",
        ] {
            caps.add_arg(arg).expect("chromium flag");
        }
        let driver = WebDriver::new(&url, caps)
            .await
            .expect("a Chromium session");
        Some(Browser {
            driver,
            chromedriver,
        })
    }

    /// Ends the browser session and chromedriver.
    pub async fn quit(self) {
        let driver = self.driver.clone();
        let _ = driver.quit().await;
    }

    /// The first element matching `css`, waiting up to [`PATIENCE`] for it to appear.
    pub async fn find(&self, css: &str) -> WebElement {
        match self
            .driver
            .query(By::Css(css))
            .wait(PATIENCE, POLL)
            .first()
            .await
        {
            Ok(el) => el,
            Err(e) => {
                let url = self.driver.current_url().await.map(|u| u.to_string());
                let html = self.driver.source().await.unwrap_or_default();
                panic!("no element {css} at {url:?}: {e}\n{html}")
            }
        }
    }

    /// Runs `act` on the element matching `css`, looking it up afresh and retrying (up to [`PATIENCE`])
    /// when a live update replaced it between the lookup and the action: the pages re-render
    /// parts of themselves from the event stream, so any handle can go stale.
    pub async fn with_element<T, F, Fut>(&self, css: &str, act: F) -> T
    where
        F: Fn(WebElement) -> Fut,
        Fut: std::future::Future<Output = WebDriverResult<T>>,
    {
        let mut last = None;
        for _ in 0..PATIENCE.as_millis() / POLL.as_millis() {
            match act(self.find(css).await).await {
                Ok(v) => return v,
                Err(e) => match e.into_inner() {
                    WebDriverErrorInner::StaleElementReference(info) => last = Some(info),
                    other => panic!("{css}: {other}"),
                },
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("{css} kept going stale: {last:?}")
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.with_element(css, |el| async move { el.click().await })
            .await
    }

    /// Replaces the value of the field matching `css` with `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.with_element(css, |el| async move {
            el.clear().await?;
            el.send_keys(text).await
        })
        .await
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.with_element(css, |el| async move { el.text().await })
            .await
    }

    /// The `name` attribute of the element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.with_element(css, |el| async move { el.attr(name).await })
            .await
    }

    /// Waits (up to [`PATIENCE`]) until an element matching `css` has text containing `text`. The
    /// element is looked up afresh each time: live updates replace it.
    pub async fn wait_text(&self, css: &str, text: &str) {
        let mut last = String::new();
        for _ in 0..PATIENCE.as_millis() / POLL.as_millis() {
            if let Ok(els) = self.driver.find_all(By::Css(css)).await {
                for el in els {
                    if let Ok(t) = el.text().await {
                        if t.contains(text) {
                            return;
                        }
                        last = t;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "{css} never showed {text:?}; last text {last:?} at {}",
            self.path().await
        );
    }

    /// The current path (and query).
    pub async fn path(&self) -> String {
        let u = self.driver.current_url().await.expect("current url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    /// Writes a screenshot: into `docs/screenshots/` with `RGW_UPDATE_SCREENSHOTS=1`, otherwise
    /// into a temporary directory, so a normal test run never changes the tree.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let dir = if std::env::var("RGW_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
        } else {
            std::env::temp_dir().join("rgw-web-screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(name);
        let png = self.driver.screenshot_as_png().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}
