//! Static CSS and JavaScript, embedded in the binary and served under a URL that contains a
//! hash of their content (`/static/<hash>/<name>`), so browsers may cache them for a year and
//! a new build is fetched at once. Nothing is fetched from anywhere else, ever.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    url: String,
}

fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        name,
        content_type,
        body,
        url: format!("/static/{hash}/{name}"),
    }
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset(
            "app.css",
            "text/css; charset=utf-8",
            include_str!("../../static/app.css"),
        ),
        asset(
            "app.js",
            "text/javascript; charset=utf-8",
            include_str!("../../static/app.js"),
        ),
        asset(
            "webauthn.js",
            "text/javascript; charset=utf-8",
            include_str!("../../static/webauthn.js"),
        ),
    ]
});

/// The versioned URL of the asset `name` (one of the embedded files).
pub fn url(name: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map_or("/static/missing", |a| a.url.as_str())
}

/// `GET /static/{hash}/{name}`: the asset, cacheable forever; 404 for an unknown name or a
/// stale hash (an old page after an upgrade gets the new file on its next load).
pub async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    let wanted = format!("/static/{hash}/{name}");
    let Some(a) = ASSETS.iter().find(|a| a.url == wanted) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut resp = a.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
