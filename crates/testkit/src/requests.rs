//! Small helpers for reading gateway responses in tests.

use serde_json::Value;

/// The status and JSON body of a response (`Value::Null` when the body is not JSON).
pub async fn body_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The stable error code of an API error body (`""` when there is none).
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// The value of cookie `name` set by a response, and the full `Set-Cookie` line.
pub fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            let (pair, _) = line.split_once(';').unwrap_or((line, ""));
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| (v.trim().to_owned(), line.to_owned()))
        })
}
