//! The identity endpoints are described in the OpenAPI document.

#[test]
fn the_openapi_document_describes_every_identity_endpoint() {
    let doc = serde_json::to_value(rgw_server::app::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/whoami", "get"),
        ("/api/v1/auth/oidc/start", "get"),
        ("/api/v1/auth/oidc/callback", "get"),
        ("/api/v1/auth/cli/start", "post"),
        ("/api/v1/auth/cli/complete", "post"),
        ("/api/v1/sessions", "get"),
        ("/api/v1/sessions/{public_id}", "delete"),
        ("/api/v1/api-tokens", "post"),
        ("/api/v1/api-tokens", "get"),
        ("/api/v1/api-tokens/{public_id}", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{public_id}", "delete"),
        ("/api/v1/users/{public_id}/suspend", "post"),
        ("/api/v1/users/{public_id}/unsuspend", "post"),
        ("/api/v1/users/{public_id}/unlock", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
}
