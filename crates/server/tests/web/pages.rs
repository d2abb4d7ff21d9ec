//! Page-level tests over plain HTTP: sign-in, the list (pending first, filters, live stream),
//! the decision forms, headers and assets.

use rgw_testkit::approvals::sha;
use rgw_testkit::{TestApp, cookie_value};

use super::support::{attr_after, csrf_from, location, page, post_form, web_cookie};

const PASSWORD: &str = "correct horse battery staple";

/// An admin with TOTP (for the API helpers) and a web session that verified MFA.
async fn admin(app: &TestApp) -> (rgw_testkit::approvals::Approver, String) {
    let a = app.approver("admin@example.com").await;
    let cookie = web_cookie(app, "admin@example.com", true).await;
    (a, cookie)
}

async fn ci_token(app: &TestApp) -> String {
    app.create_service_user("ci@example.com").await;
    app.create_token("ci@example.com", "circleci", "cicd").await
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back() {
    for app in TestApp::spawn_all().await {
        let r = app
            .get("/deploy-approvals?status=pending")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "[{}]", app.backend);
        assert_eq!(
            location(r.headers()),
            "/login?next=%2Fdeploy-approvals%3Fstatus%3Dpending"
        );
        let r = app.get("/").send().await.unwrap();
        assert_eq!(location(r.headers()), "/deploy-approvals");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn password_sign_in_sets_a_strict_session_cookie_and_continues_to_mfa() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", Some(PASSWORD))
            .await;
        let r = app
            .get("/login?next=/deploy-approvals/x")
            .send()
            .await
            .unwrap();
        let (login_cookie, line) = cookie_value(&r, "rgw_login_csrf").expect("login CSRF cookie");
        assert!(
            line.contains("SameSite=Strict") && line.contains("HttpOnly"),
            "{line}"
        );
        let html = r.text().await.unwrap();
        let csrf = csrf_from(&html);
        assert_eq!(csrf, login_cookie);
        let cookie = format!("rgw_login_csrf={login_cookie}");

        // A wrong password: the page again, with the reason and no session.
        let r = app
            .post("/login")
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "admin@example.com"),
                ("password", "nope"),
                ("next", "/deploy-approvals/x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(cookie_value(&r, app.cookie_name()).is_none());
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("the email or password is wrong")
        );

        let r = app
            .post("/login")
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "admin@example.com"),
                ("password", PASSWORD),
                ("next", "/deploy-approvals/x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "[{}]", app.backend);
        assert_eq!(location(r.headers()), "/mfa?next=%2Fdeploy-approvals%2Fx");
        let set: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let session = set
            .iter()
            .find(|c| c.starts_with(&format!("{}=rgws_", app.cookie_name())))
            .expect("a session cookie");
        assert!(
            session.contains("HttpOnly") && session.contains("SameSite=Lax"),
            "{session}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_list_shows_pending_first_and_filters_by_status_and_app() {
    for app in TestApp::spawn_all_fast(Default::default()).await {
        let (a, cookie) = admin(&app).await;
        let token = ci_token(&app).await;
        let (_, first) = app.request_approval(&token, &sha(1)).await;
        let first = first["public_id"].as_str().unwrap().to_owned();
        let (s, _) = app.approve(&a, &first).await;
        assert_eq!(s, 200);
        let (_, second) = app.request_approval(&token, &sha(2)).await;
        let second = second["public_id"].as_str().unwrap().to_owned();
        // A newer approved request: pending still comes first.
        let (_, third) = app.request_approval(&token, &sha(3)).await;
        let third = third["public_id"].as_str().unwrap().to_owned();
        app.approve(&a, &third).await;

        let (status, _, html) = page(&app, &cookie, "/deploy-approvals").await;
        assert_eq!(status, 200, "[{}]", app.backend);
        let pos = |id: &str| html.find(&format!("data-request=\"{id}\"")).expect(id);
        assert!(pos(&second) < pos(&third), "pending first");
        assert!(pos(&third) < pos(&first), "then newest first");

        let (_, _, only) = page(&app, &cookie, "/deploy-approvals?status=pending&app=myapp").await;
        assert!(only.contains(&second) && !only.contains(&first) && !only.contains(&third));
        let (_, _, none) = page(&app, &cookie, "/deploy-approvals?app=other").await;
        assert!(!none.contains("data-request="));
        let (status, _, bad) = page(&app, &cookie, "/deploy-approvals?status=bogus").await;
        assert_eq!(status, 400);
        assert!(bad.contains("role=\"alert\""), "{bad}");
        // The fragment the live list swaps in is the same rows.
        let (status, _, rows) = page(&app, &cookie, "/deploy-approvals/rows?status=pending").await;
        assert_eq!(status, 200);
        assert!(rows.contains(&second) && !rows.contains(&first));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_list_stream_announces_a_new_request() {
    use futures_util::StreamExt;
    for app in TestApp::spawn_all().await {
        let (_, cookie) = admin(&app).await;
        let token = ci_token(&app).await;
        let r = app
            .get("/deploy-approvals/events")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut body = r.bytes_stream();
        let (_, req) = app.request_approval(&token, &sha(7)).await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        let mut seen = String::new();
        let wait = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Some(chunk) = body.next().await {
                seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                if seen.contains(&id) {
                    break;
                }
            }
        });
        wait.await.expect("a changed event in time");
        assert!(seen.contains("event: changed"), "{seen}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_request_made_through_another_gateway_appears_on_this_gateways_live_list() {
    use futures_util::StreamExt;
    for a in TestApp::spawn_all().await {
        // Replicas share PostgreSQL; SQLite serves one gateway.
        if a.store().backend() != rgw_store::Backend::Postgres {
            a.cleanup().await;
            continue;
        }
        let b = a.spawn_replica().await;
        let (_, cookie) = admin(&a).await;
        let token = ci_token(&a).await;
        let r = a
            .get("/deploy-approvals/events")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut body = r.bytes_stream();
        let started = std::time::Instant::now();
        let (status, req) = b.request_approval(&token, &sha(8)).await;
        assert_eq!(status, 201, "{req}");
        let id = req["public_id"].as_str().unwrap().to_owned();
        let mut seen = String::new();
        // The list stream has no polling of its own: only the change listener can bring it.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(chunk) = body.next().await {
                seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                if seen.contains(&id) {
                    break;
                }
            }
        })
        .await
        .expect("the other gateway's request reaches this list");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        b.cleanup().await;
        a.cleanup().await;
    }
}

#[tokio::test]
async fn a_backup_code_approves_from_the_form_once() {
    for app in TestApp::spawn_all().await {
        let (_, cookie) = admin(&app).await;
        let user = app
            .store()
            .get_user_by_email("admin@example.com")
            .await
            .unwrap();
        let codes = rgw_server::mfa::backup_codes::regenerate(&app.state, &(&user).into())
            .await
            .unwrap();
        let token = ci_token(&app).await;
        let (_, req) = app.request_approval(&token, &sha(9)).await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        let (_, _, html) = page(&app, &cookie, &format!("/deploy-approvals/{id}")).await;
        let csrf = csrf_from(&html);
        let digest = attr_after(&html, "name=\"intent_digest\" value=\"").unwrap();
        let path = format!("/deploy-approvals/{id}/approve");
        let form = [
            ("csrf", csrf.as_str()),
            ("intent_digest", digest.as_str()),
            ("backup_code", codes[0].as_str()),
            ("notes", "ok"),
        ];
        let (status, headers, _) = post_form(&app, &cookie, &path, &form).await;
        assert_eq!(status, 303, "[{}]", app.backend);
        assert_eq!(
            location(&headers),
            format!("/deploy-approvals/{id}?done=approved")
        );
        let (_, api) = app.get_approval(&token, &id).await;
        assert_eq!(api["status"], "approved");
        assert_eq!(api["approvals"][0]["mfa_method"], "backup_code");
        assert_eq!(api["approvals"][0]["notes"], "ok");

        // The detail page shows the approval, and no approve form any more.
        let (_, _, after) = page(
            &app,
            &cookie,
            &format!("/deploy-approvals/{id}?done=approved"),
        )
        .await;
        assert!(after.contains("Your approval was recorded."));
        assert!(!after.contains("id=\"approve-form\""));
        assert!(
            after.contains("id=\"reject-form\""),
            "an approved request can be revoked"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_assets_are_cached_by_content_hash() {
    for app in TestApp::spawn_all().await {
        let r = app.get("/login").send().await.unwrap();
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for want in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(want), "{csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let html = r.text().await.unwrap();
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains(" style=\""), "no inline style");
        for marker in ["rel=\"stylesheet\" href=\"", "<script src=\""] {
            let url = attr_after(&html, marker).unwrap();
            assert!(url.starts_with("/static/"), "{url}");
            let r = app.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(
                r.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        }
        let r = app
            .get("/static/000000000000/app.css")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "a stale or made-up hash is not served");
        app.cleanup().await;
    }
}
