//! Who may do what through the proxy, and how refusals look to the convox CLI.

use reqwest::StatusCode;
use rgw_testkit::convox::tarball;

use crate::harness::{APP, Gateway, MANIFEST, each_backend};

#[tokio::test]
async fn roles_are_allowed_and_denied_on_real_routes() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        // (caller, method, path, allowed). Humans use CLI sessions with fresh MFA; `*-tok` are
        // API tokens of that role, which never deploy outside an approval.
        let cases: &[(&str, &str, &str, bool)] = &[
            ("viewer", "GET", "/apps", true),
            ("viewer", "GET", "/apps/myapp/processes", true),
            ("viewer", "POST", "/apps/myapp/objects/tmp/a.tgz", false),
            ("viewer", "POST", "/apps/myapp/services/web/restart", false),
            ("ops", "POST", "/apps/myapp/services/web/restart", true),
            ("ops", "POST", "/apps/myapp/objects/tmp/a.tgz", false),
            ("deployer", "POST", "/apps/myapp/objects/tmp/a.tgz", true),
            ("deployer", "DELETE", "/apps/myapp", false),
            (
                "deployer-tok",
                "POST",
                "/apps/myapp/objects/tmp/a.tgz",
                false,
            ),
            ("admin", "GET", "/system", true),
            ("admin-tok", "POST", "/apps/myapp/objects/tmp/a.tgz", false),
            ("cicd-tok", "GET", "/apps", true),
            ("cicd-tok", "POST", "/apps/myapp/objects/tmp/a.tgz", false),
            ("cicd-tok", "PUT", "/apps/myapp/services/web", false),
        ];
        let mut creds = std::collections::BTreeMap::new();
        for role in ["viewer", "ops", "deployer", "admin"] {
            creds.insert(role.to_string(), gw.session(role, role).await);
        }
        for role in ["deployer", "admin", "cicd"] {
            creds.insert(
                format!("{role}-tok"),
                gw.token(&format!("{role}-tok"), role).await,
            );
        }
        let direct = rgw_testkit::convox::Convox::new(gw.rack.url(), crate::harness::RACK_PASSWORD);
        for (who, method, path, allowed) in cases {
            let send = |cx: rgw_testkit::convox::Convox| async move {
                let r = cx
                    .request(method.parse().unwrap(), path)
                    .header("content-type", "application/octet-stream")
                    .body(tarball(&[("convox.yml", MANIFEST)]))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.text().await.unwrap())
            };
            let (status, text) = send(gw.convox(&creds[*who])).await;
            if *allowed {
                // Allowed means the rack's own answer, exactly: the same call made directly.
                let (want_status, want_text) = send(direct.clone()).await;
                assert_eq!(status, want_status, "{who} {method} {path}: {text}");
                let as_json = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
                match (as_json(&text), as_json(&want_text)) {
                    (Some(got), Some(want)) => assert_eq!(got, want, "{who} {method} {path}"),
                    _ => assert_eq!(text, want_text, "{who} {method} {path}"),
                }
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{who} {method} {path}: {text}"
                );
                assert!(
                    text.ends_with('\n') && !text.starts_with('{'),
                    "plain-text denial for the CLI: {text:?}"
                );
            }
        }
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn denials_use_json_when_the_client_accepts_it() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let cx = gw.convox(&gw.token("viewer-tok", "viewer").await);
        let r = cx
            .request(reqwest::Method::DELETE, &format!("/apps/{APP}"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("convox:app:delete"),
            "{v}"
        );
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_and_missing_credentials_are_refused() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let cx = gw.convox(&gw.token("admin-tok", "admin").await);
        let r = cx.get("/definitely/not/a/rack/route").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.text().await.unwrap().contains("not a rack API route"));

        let anon = reqwest::Client::new()
            .get(format!("{}/api/v1/rack-proxy/apps?", gw.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
        assert!(anon.headers().get("www-authenticate").is_some());

        let wrong = gw.convox("rgw_not_a_real_token").get("/apps").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        // Nothing reached the rack for the refused calls.
        assert!(
            gw.rack
                .requests()
                .iter()
                .all(|r| !r.path.starts_with("/definitely"))
        );
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn responses_carry_request_ids_and_never_the_rack_password() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let cx = gw.convox(&gw.token("admin-tok", "admin").await);
        let r = cx.get("/apps").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers().get("request-id").is_some(),
            "the rack's Request-Id passes back"
        );
        assert!(r.headers().get("x-request-id").is_some());
        let builds = cx
            .get(&format!("/apps/{APP}/builds"))
            .await
            .text()
            .await
            .unwrap();
        assert!(!builds.contains(crate::harness::RACK_PASSWORD));
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn every_proxied_call_is_audited_once_with_route_permission_and_outcome() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let viewer = gw.convox(&gw.token("viewer-tok", "viewer").await);
        assert_eq!(viewer.get("/apps").await.status(), StatusCode::OK);
        assert_eq!(
            viewer.delete(&format!("/apps/{APP}")).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            viewer.get("/no/such/route").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            gw.convox("rgw_bogus").get("/apps").await.status(),
            StatusCode::UNAUTHORIZED
        );
        gw.state.auditor.flush().await;
        let filter = rgw_store::AuditFilter {
            action: Some("rack.request".into()),
            ..Default::default()
        };
        let page = gw
            .store
            .list_audit_events(&filter, None, 100)
            .await
            .unwrap();
        let mut events: Vec<_> = page.events.iter().map(|e| &e.record).collect();
        events.reverse();
        assert_eq!(events.len(), 4, "one event per call: {events:#?}");
        let summary: Vec<(String, String, Option<i64>)> = events
            .iter()
            .map(|r| {
                (
                    r.resource.clone().unwrap_or_default(),
                    r.outcome.clone(),
                    r.http_status,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("GET /apps".to_string(), "success".to_string(), Some(200)),
                (
                    format!("DELETE /apps/{APP}"),
                    "denied".to_string(),
                    Some(403)
                ),
                (
                    "GET /no/such/route".to_string(),
                    "denied".to_string(),
                    Some(404)
                ),
                ("GET /apps".to_string(), "denied".to_string(), Some(401)),
            ]
        );
        assert_eq!(events[0].actor_token_name.as_deref(), Some("viewer-tok"));
        assert!(events[1].details.to_string().contains("convox:app:delete"));
        assert!(events[0].request_id.is_some());
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn with_approvals_disabled_cicd_tokens_deploy_directly_and_forbidden_calls_stay_forbidden() {
    each_backend(|ts| async move {
        let gw =
            Gateway::start_with(ts, &[("RGW_SETTING_DEPLOY_APPROVALS_ENABLED", "false")]).await;
        let ci = gw.convox(&gw.token("ci-tok", "cicd").await);
        let r = ci
            .post_bytes(
                &format!("/apps/{APP}/objects/tmp/a.tgz"),
                tarball(&[("convox.yml", MANIFEST)]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let scale = ci
            .send_form(
                reqwest::Method::PUT,
                &format!("/apps/{APP}/services/web"),
                &[("count", "3")],
            )
            .await;
        assert_eq!(
            scale.status(),
            StatusCode::FORBIDDEN,
            "service scale is never a cicd action"
        );
        gw.stop().await;
    })
    .await;
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let ci = gw.convox(&gw.token("ci-tok", "cicd").await);
        let r = ci
            .post_bytes(
                &format!("/apps/{APP}/objects/tmp/a.tgz"),
                tarball(&[("convox.yml", MANIFEST)]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("deploy approval required"));
        gw.stop().await;
    })
    .await;
}
