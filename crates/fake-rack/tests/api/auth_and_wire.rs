//! Auth and wire conventions (§0, §2, §5): 401s, error bodies, headers, probes, recording.

use reqwest::StatusCode;
use serde_json::Value;

use super::helpers::{APP, PASSWORD, TestRack, basic, read_to_eof};

#[tokio::test]
async fn a_wrong_password_is_401_with_the_convox_realm() {
    let t = TestRack::start().await;
    let response = t
        .client
        .get(t.url("/apps"))
        .header("Authorization", basic("convox", "wrong"))
        .header("Accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"convox\""
    );
    assert_eq!(response.text().await.unwrap(), "invalid authentication\n");
    let anonymous = t.client.get(t.url("/system")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_username_is_ignored() {
    let t = TestRack::start().await;
    let response = t
        .client
        .get(t.url("/apps"))
        .header("Authorization", basic("anyone-at-all", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let apps: Value = response.json().await.unwrap();
    assert_eq!(apps[0]["name"], APP);
}

#[tokio::test]
async fn a_socket_with_a_wrong_password_opens_and_reports_invalid_authentication() {
    let t = TestRack::start().await;
    let mut socket = t
        .socket_as(&format!("/apps/{APP}/logs"), &basic("convox", "wrong"), &[])
        .await
        .expect("the upgrade happens before auth");
    let transcript = read_to_eof(&mut socket).await;
    assert!(transcript.eof);
    assert_eq!(transcript.frames, ["ERROR: invalid authentication\n"]);
}

#[tokio::test]
async fn errors_are_json_only_when_accept_asks_for_json() {
    let t = TestRack::start().await;
    let text = t.get("/apps/nope").await;
    assert_eq!(text.status(), StatusCode::NOT_FOUND);
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text.text().await.unwrap(), "app not found: nope\n");

    let json = t
        .request(reqwest::Method::GET, "/apps/nope")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::NOT_FOUND);
    assert_eq!(json.headers()["content-type"], "application/json");
    assert_eq!(
        json.text().await.unwrap(),
        r#"{"error":"app not found: nope"}"#
    );

    let unauthorized = t
        .client
        .get(t.url("/apps"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unauthorized.headers()["www-authenticate"],
        "Basic realm=\"convox\""
    );
    assert_eq!(
        unauthorized.text().await.unwrap(),
        r#"{"error":"invalid authentication"}"#
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let t = TestRack::start().await;
    for path in ["/system", "/apps/nope", "/no/such/route"] {
        let response = t.get(path).await;
        let id = response.headers()["request-id"].to_str().unwrap();
        assert_eq!(id.len(), 12, "{path}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
    }
}

#[tokio::test]
async fn unknown_routes_are_bare_404s_and_the_sdk_probes_are_harmless() {
    let t = TestRack::start().await;
    let response = t.get("/apps/myapp/budget").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.text().await.unwrap(), "");
    let machines = t.get("/machines").await;
    assert_eq!(machines.status(), StatusCode::NOT_FOUND);
    let racks = t.get("/racks").await;
    assert_eq!(racks.status(), StatusCode::OK);
    assert_eq!(racks.text().await.unwrap(), "[]\n");
}

#[tokio::test]
async fn a_plain_get_on_a_socket_route_is_404() {
    let t = TestRack::start().await;
    assert_eq!(
        t.get(&format!("/apps/{APP}/logs")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_socket_with_a_foreign_origin_is_refused() {
    let t = TestRack::start().await;
    let error = t
        .socket_as(
            &format!("/apps/{APP}/logs"),
            &basic("convox", PASSWORD),
            &[("Origin", "https://gateway.example.com")],
        )
        .await
        .expect_err("gorilla's origin check refuses the upgrade");
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[tokio::test]
async fn requests_are_recorded_with_query_headers_and_body_length() {
    let t = TestRack::start().await;
    t.get(&format!("/apps/{APP}/releases?limit=1")).await;
    t.post_form("/apps", &[("name", "second")]).await;
    let requests = t.rack.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].line(), format!("GET /apps/{APP}/releases"));
    assert_eq!(requests[0].query, "limit=1");
    assert_eq!(requests[0].header("version"), Some("dev"));
    assert_eq!(requests[1].body_len, "name=second".len() as u64);
    t.rack.clear_requests();
    assert!(t.rack.requests().is_empty());
}

#[tokio::test]
async fn apps_can_be_created_updated_listed_and_deleted() {
    let t = TestRack::start().await;
    let created: Value = t
        .post_form("/apps", &[("name", "other")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["name"], "other");
    assert_eq!(created["generation"], "3");
    assert_eq!(
        t.post_form("/apps", &[("name", "other")]).await.status(),
        StatusCode::CONFLICT
    );
    let response = t
        .send_form(
            reqwest::Method::PUT,
            "/apps/other",
            &[("lock", "true"), ("parameters", "Foo=bar&Baz=1")],
        )
        .await;
    assert_eq!(response.text().await.unwrap(), "ok\n");
    let app = t.get_json("/apps/other").await;
    assert_eq!(app["locked"], true);
    assert_eq!(app["parameters"]["Foo"], "bar");
    let names: Vec<String> = t
        .get_json("/apps")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, [APP, "other"]);
    assert_eq!(t.delete("/apps/other").await.text().await.unwrap(), "ok\n");
    assert_eq!(t.get("/apps/other").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn system_and_instances_can_be_read() {
    let t = TestRack::start().await;
    let instances = t.get_json("/instances").await;
    assert_eq!(instances.as_array().unwrap().len(), 3);
    assert_eq!(instances[0]["status"], "running");
    let auth = t.get("/auth").await;
    assert_eq!(auth.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn shutdown_is_graceful_and_stops_serving() {
    let t = TestRack::start().await;
    let url = t.url("/system");
    t.rack.shutdown().await;
    assert!(t.client.get(url).send().await.is_err());
}
