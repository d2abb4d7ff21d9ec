//! Which headers cross the proxy. Hop-by-hop headers and the caller's credentials stay behind;
//! the rack gets its own password and learns who the human is through `Convox-Actor`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Headers that describe one connection, not the request (RFC 9110 §7.6.1), plus our own
/// credentials and CSRF header, which must never reach the rack.
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "cookie",
    "x-csrf-token",
    // Callers must not be able to put words in the rack audit log's mouth.
    "convox-actor",
    "x-convox-actor",
];

/// Builds the header map sent to the rack.
pub fn upstream_request_headers(
    incoming: &HeaderMap,
    rack_authorization: &HeaderValue,
    actor: &str,
    request_id: Option<&HeaderValue>,
    websocket: bool,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + 3);
    let listed = connection_listed(incoming);
    for (name, value) in incoming {
        let n = name.as_str();
        if DROPPED.contains(&n) || listed.iter().any(|l| l == n) {
            continue;
        }
        if websocket && n == "origin" {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(header::AUTHORIZATION, rack_authorization.clone());
    if let Ok(v) = HeaderValue::from_str(&sanitize_actor(actor)) {
        out.insert(HeaderName::from_static("convox-actor"), v);
    }
    if let Some(id) = request_id {
        out.insert(HeaderName::from_static("x-request-id"), id.clone());
    }
    if websocket {
        out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    out
}

/// Strips hop-by-hop headers from the rack's response.
pub fn downstream_response_headers(upstream: &mut HeaderMap, websocket: bool) {
    let listed = connection_listed(upstream);
    for name in DROPPED.iter().chain(["set-cookie"].iter()) {
        if websocket && (*name == "connection" || *name == "upgrade") {
            continue;
        }
        upstream.remove(*name);
    }
    for name in listed {
        upstream.remove(name.as_str());
    }
}

/// A request whose `Connection:` names an end-to-end header, refused (400) with the reason.
/// The proxy drops what `Connection:` lists (RFC 9110 §7.6.1), but the gate and the filters
/// read the request before that: `Release: R1` with `Connection: release` would bind the run
/// to the approved release and then send the rack a run without it. No client needs to list
/// anything but the connection options and headers that are dropped anyway.
pub fn connection_refusal(incoming: &HeaderMap) -> Option<String> {
    let name = connection_listed(incoming)
        .into_iter()
        .find(|n| !DROPPED.contains(&n.as_str()))?;
    Some(format!(
        "the Connection header lists {}; the gateway forwards end-to-end headers whole, so \
         Connection may only list keep-alive, close or upgrade",
        rgw_core::text::clip(&name, 64)
    ))
}

/// Header names listed in `Connection:` are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "upgrade" && s != "keep-alive" && s != "close")
        .collect()
}

/// Keeps the actor printable and short, as the rack sanitises it anyway.
fn sanitize_actor(actor: &str) -> String {
    actor
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_header_may_only_list_options_and_dropped_headers() {
        for (value, refused) in [
            ("keep-alive", None),
            ("Upgrade", None),
            ("close, TE", None),
            ("keep-alive, Proxy-Authorization", None),
            ("keep-alive, Release", Some("release")),
            ("command", Some("command")),
        ] {
            let mut h = HeaderMap::new();
            h.insert("connection", HeaderValue::from_static(value));
            let got = connection_refusal(&h);
            match refused {
                None => assert_eq!(got, None, "{value}"),
                Some(name) => assert!(
                    got.as_deref()
                        .is_some_and(|m| m.contains(&format!("lists {name};"))),
                    "{value}: {got:?}"
                ),
            }
        }
        assert_eq!(connection_refusal(&HeaderMap::new()), None);
    }

    #[test]
    fn credentials_hop_by_hop_and_spoofed_actor_headers_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Basic Y29udm94OnJnd19zZWNyZXQ="),
        );
        h.insert("cookie", HeaderValue::from_static("rgw_session=abc"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            "convox-actor",
            HeaderValue::from_static("someone-else@example.com"),
        );
        h.insert("version", HeaderValue::from_static("dev"));
        h.insert("command", HeaderValue::from_static("echo hi"));
        let rack = HeaderValue::from_static("Basic cmFjaw==");
        let out = upstream_request_headers(&h, &rack, "alice@example.com", None, false);
        assert_eq!(out.get("authorization").unwrap(), "Basic cmFjaw==");
        assert_eq!(out.get("convox-actor").unwrap(), "alice@example.com");
        assert!(out.get("cookie").is_none());
        assert!(out.get("x-private").is_none());
        assert!(out.get("connection").is_none());
        assert_eq!(out.get("version").unwrap(), "dev");
        assert_eq!(out.get("command").unwrap(), "echo hi");
    }

    #[test]
    fn websocket_dials_drop_the_callers_origin_and_keep_the_upgrade() {
        let mut h = HeaderMap::new();
        h.insert(
            "origin",
            HeaderValue::from_static("https://gateway.example.com"),
        );
        h.insert(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        let out = upstream_request_headers(&h, &HeaderValue::from_static("x"), "a", None, true);
        assert!(out.get("origin").is_none());
        assert_eq!(out.get("upgrade").unwrap(), "websocket");
        assert!(out.get("sec-websocket-key").is_some());
    }
}
