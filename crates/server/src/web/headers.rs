//! The response headers of every HTML page the gateway renders, in one place: a strict
//! Content-Security-Policy (styles and images only from the gateway itself, scripts — never
//! inline — only on the web UI's own pages that opt in, no framing, no `<base>`, forms only to
//! our own origin and the origins a page names), `X-Frame-Options: DENY` for browsers without
//! `frame-ancestors`, `Referrer-Policy: no-referrer` (page URLs can carry one-time ids),
//! `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`.
//!
//! Build pages with [`Page`]; it is the only way handlers answer with HTML.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

/// An HTML page with the gateway's security headers.
#[derive(Debug, Clone)]
pub struct Page {
    body: String,
    form_targets: Vec<String>,
    scripts: bool,
}

impl Page {
    /// A page whose forms may only post to the gateway itself.
    pub fn new(body: String) -> Page {
        Page {
            body,
            form_targets: Vec::new(),
            scripts: false,
        }
    }

    /// Also lets the page run the gateway's own script files (`script-src 'self'`, never
    /// inline) and open connections back to the gateway (`connect-src 'self'`, for live
    /// updates and security keys). Pages outside the web UI stay script-free.
    pub fn with_scripts(mut self) -> Page {
        self.scripts = true;
        self
    }

    /// Also allows form submissions (and the redirects that follow them, which browsers check
    /// against `form-action` too) to reach `url`'s origin, e.g. the identity provider a
    /// confirmation form redirects to.
    pub fn allow_form_target(mut self, url: &Url) -> Page {
        let origin = url.origin();
        if origin.is_tuple() {
            self.form_targets.push(origin.ascii_serialization());
        }
        self
    }
}

/// The Content-Security-Policy of a page whose forms may post to `'self'` and `form_targets`,
/// with the gateway's own scripts when `scripts`.
pub fn content_security_policy(form_targets: &[String], scripts: bool) -> String {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    let scripts = if scripts {
        "script-src 'self'; connect-src 'self'; "
    } else {
        ""
    };
    format!(
        "default-src 'none'; {scripts}style-src 'self'; img-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Sets the security headers of an HTML page on `headers`.
pub fn apply(headers: &mut HeaderMap, form_targets: &[String], scripts: bool) {
    let csp = content_security_policy(form_targets, scripts);
    // Origins are ASCII serialisations of parsed URLs, so the value is always valid.
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = Html(self.body).into_response();
        apply(resp.headers_mut(), &self.form_targets, self.scripts);
        resp
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_carries_every_security_header() {
        let url = Url::parse("https://idp.example.com/authorize?x=1").unwrap();
        let resp = Page::new("<p>hi</p>".into())
            .allow_form_target(&url)
            .into_response();
        let h = resp.headers();
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; style-src 'self'; img-src 'self'; \
             form-action 'self' https://idp.example.com; frame-ancestors 'none'; base-uri 'none'"
        );
        let ui = Page::new(String::new()).with_scripts().into_response();
        assert_eq!(
            ui.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
