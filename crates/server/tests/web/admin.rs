//! The admin pages over plain HTTP: users, sessions, API tokens, settings and the audit log.

use rgw_testkit::{TestApp, TestOptions};

use super::support::{csrf_from, location, page, post_form, web_cookie};

async fn admin(app: &TestApp) -> String {
    app.create_user("admin@example.com", "admin", None).await;
    web_cookie(app, "admin@example.com", true).await
}

fn user_id(html: &str, email: &str) -> String {
    let row = html.find(&format!("data-user=\"{email}\"")).expect(email);
    let marker = "/admin/users/";
    let start = html[row..].find(marker).unwrap() + row + marker.len();
    html[start..start + 36].to_owned()
}

#[tokio::test]
async fn an_admin_adds_suspends_and_reinstates_a_user_and_ends_their_session() {
    for app in TestApp::spawn_all().await {
        let web = admin(&app).await;
        let (s, _, html) = page(&app, &web, "/admin/users").await;
        assert_eq!(s, 200, "[{}]", app.backend);
        let csrf = csrf_from(&html);
        let form = [
            ("csrf", csrf.as_str()),
            ("email", "dev@example.com"),
            ("role", "deployer"),
            ("name", "Dev"),
            ("password", ""),
        ];
        let (s, _, html) = post_form(&app, &web, "/admin/users", &form).await;
        assert_eq!(s, 200);
        assert!(
            html.contains("Created dev@example.com (deployer)."),
            "{html}"
        );
        // A duplicate is refused with the API's reason.
        let (s, _, html) = post_form(&app, &web, "/admin/users", &form).await;
        assert_eq!(s, 409, "{html}");
        assert!(html.contains("id=\"admin-error\""));

        let dev_session = web_cookie(&app, "dev@example.com", true).await;
        let id = user_id(&html, "dev@example.com");
        let (s, _, html) = post_form(
            &app,
            &web,
            &format!("/admin/users/{id}/suspend"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(s, 200);
        assert!(html.contains("Suspended dev@example.com."));
        let (s, h, _) = page(&app, &dev_session, "/deploy-approvals").await;
        assert_eq!(s, 303, "a suspended user's session stops");
        assert!(h["location"].to_str().unwrap().starts_with("/login"));
        let (_, _, html) = post_form(
            &app,
            &web,
            &format!("/admin/users/{id}/unsuspend"),
            &[("csrf", &csrf)],
        )
        .await;
        assert!(html.contains("Reinstated dev@example.com."));

        // Sessions: listed, and one can be ended.
        let dev_session = web_cookie(&app, "dev@example.com", true).await;
        let (s, _, html) = page(&app, &web, &format!("/admin/users/{id}/sessions")).await;
        assert_eq!(s, 200);
        let marker = format!("/admin/users/{id}/sessions/");
        let at = html.find(&marker).expect("a session to end") + marker.len();
        let session = &html[at..at + 36];
        let (s, _, _) = post_form(
            &app,
            &web,
            &format!("/admin/users/{id}/sessions/{session}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(s, 303);
        let (s, _, _) = page(&app, &dev_session, "/deploy-approvals").await;
        assert_eq!(s, 303, "the ended session no longer works");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_token_created_on_the_page_is_shown_once_works_and_can_be_revoked() {
    for app in TestApp::spawn_all().await {
        let web = admin(&app).await;
        app.create_service_user("ci@example.com").await;
        let (_, _, html) = page(&app, &web, "/admin/tokens").await;
        let csrf = csrf_from(&html);
        let form = [
            ("csrf", csrf.as_str()),
            ("name", "circleci"),
            ("role", "cicd"),
            ("owner_email", "ci@example.com"),
            ("expires_in_days", "30"),
        ];
        let (s, _, html) = post_form(&app, &web, "/admin/tokens", &form).await;
        assert_eq!(s, 201, "[{}] {html}", app.backend);
        let marker = "<code id=\"new-token\">";
        let at = html.find(marker).expect("the secret, once") + marker.len();
        let secret = html[at..at + html[at..].find('<').unwrap()].to_owned();
        assert!(secret.starts_with("rgw_"), "{secret}");
        let r = app
            .get("/api/v1/auth/whoami")
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Never again.
        let (_, _, again) = page(&app, &web, "/admin/tokens").await;
        assert!(!again.contains(&secret));
        assert!(again.contains("data-token=\"circleci\""));
        let bad = [
            ("csrf", csrf.as_str()),
            ("name", "x"),
            ("role", "cicd"),
            ("expires_in_days", "soon"),
        ];
        let (s, _, _) = post_form(&app, &web, "/admin/tokens", &bad).await;
        assert_eq!(s, 400);

        let marker = "action=\"/admin/tokens/";
        let at = again.find(marker).unwrap() + marker.len();
        let id = &again[at..at + 36];
        let (s, _, _) = post_form(
            &app,
            &web,
            &format!("/admin/tokens/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(s, 303);
        let r = app
            .get("/api/v1/auth/whoami")
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "revoked");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn settings_show_where_each_value_comes_from_and_environment_values_stay_read_only() {
    let opts = TestOptions {
        env: vec![(
            "RGW_SETTING_DEPLOY_APPROVAL_WINDOW_MINUTES".into(),
            "30".into(),
        )],
    };
    for app in TestApp::spawn_all_with(opts).await {
        let web = admin(&app).await;
        let (s, _, html) = page(&app, &web, "/admin/settings").await;
        assert_eq!(s, 200, "[{}]", app.backend);
        let row = |html: &str, key: &str| {
            let at = html.find(&format!("data-setting=\"{key}\"")).expect(key);
            html[at..at + html[at..].find("</tr>").unwrap()].to_owned()
        };
        let pinned = row(&html, "deploy_approval_window_minutes");
        assert!(
            pinned.contains("environment")
                && pinned.contains("RGW_SETTING_DEPLOY_APPROVAL_WINDOW_MINUTES"),
            "{pinned}"
        );
        assert!(
            !pinned.contains("<form"),
            "an environment value has no form"
        );
        let csrf = csrf_from(&html);
        let (s, _, html) = post_form(
            &app,
            &web,
            "/admin/settings/deploy_approval_window_minutes",
            &[("csrf", &csrf), ("value", "5")],
        )
        .await;
        assert_eq!(s, 409, "the server refuses it too");
        assert!(html.contains("id=\"admin-error\""));

        let (s, _, html) = post_form(
            &app,
            &web,
            "/admin/settings/deploy_approval_pending_ttl_minutes",
            &[("csrf", &csrf), ("value", "60")],
        )
        .await;
        assert_eq!(s, 200, "{html}");
        assert!(row(&html, "deploy_approval_pending_ttl_minutes").contains("database"));
        let (s, _, html) = post_form(
            &app,
            &web,
            "/admin/settings/deploy_approval_pending_ttl_minutes",
            &[("csrf", &csrf), ("value", "soon")],
        )
        .await;
        assert_eq!(s, 422, "a value of the wrong type: {html}");
        let (_, _, html) = post_form(
            &app,
            &web,
            "/admin/settings/deploy_approval_pending_ttl_minutes",
            &[("csrf", &csrf), ("reset", "1")],
        )
        .await;
        assert!(row(&html, "deploy_approval_pending_ttl_minutes").contains("default"));

        // Per app.
        let (_, _, html) = post_form(
            &app,
            &web,
            "/admin/settings/vcs_repo",
            &[("csrf", &csrf), ("app", "myapp"), ("value", "acme/myapp")],
        )
        .await;
        assert!(row(&html, "vcs_repo").contains("acme/myapp"), "{html}");
        let (_, _, global) = page(&app, &web, "/admin/settings").await;
        assert!(!global.contains("acme/myapp"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_audit_page_filters_pages_exports_and_verifies_the_chain() {
    for app in TestApp::spawn_all().await {
        let web = admin(&app).await;
        for i in 0..60 {
            app.create_service_user(&format!("svc{i}@example.com"))
                .await;
            app.create_token(&format!("svc{i}@example.com"), &format!("t{i}"), "viewer")
                .await;
        }
        let (s, _, html) = page(&app, &web, "/admin/audit?action=api_token.create").await;
        assert_eq!(s, 200, "[{}]", app.backend);
        assert_eq!(
            html.matches("<code>api_token.create</code>").count(),
            50,
            "one page"
        );
        // askama escapes `&` in attributes as `&#38;`.
        assert!(
            html.contains("href=\"/admin/audit?action=api_token.create&#38;cursor="),
            "a next page link"
        );
        assert!(
            html.contains("/api/v1/audit-events/export?action=api_token.create&#38;format=csv")
        );
        let (s, _, html) = page(&app, &web, "/admin/audit?outcome=maybe").await;
        assert_eq!(s, 400);
        assert!(html.contains("outcome must be one of"));
        let (_, _, html) = page(&app, &web, "/admin/audit?verify=1").await;
        assert!(html.contains("Audit chain Intact"), "{html}");
        // The export link works with the page's session.
        let r = app
            .get("/api/v1/audit-events/export?action=api_token.create&format=csv")
            .header("cookie", &web)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_viewer_gets_no_admin_navigation_and_no_admin_pages() {
    for app in TestApp::spawn_all().await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let web = web_cookie(&app, "viewer@example.com", true).await;
        let (_, _, html) = page(&app, &web, "/deploy-approvals").await;
        for link in [
            "/admin/users",
            "/admin/tokens",
            "/admin/settings",
            "/admin/audit",
        ] {
            assert!(!html.contains(link), "[{}] nav shows {link}", app.backend);
        }
        for path in ["/admin/users", "/admin/settings", "/admin/audit"] {
            let (s, _, _) = page(&app, &web, path).await;
            assert_eq!(s, 403, "{path}");
        }
        let (_, _, account) = page(&app, &web, "/account").await;
        let csrf = csrf_from(&account);
        let (s, _, _) = post_form(
            &app,
            &web,
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "x@example.com"),
                ("role", "admin"),
            ],
        )
        .await;
        assert_eq!(s, 403);
        app.cleanup().await;
    }
}

/// Enqueues a job straight into the outbox (no worker runs in tests unless asked), so the
/// page has one to show without wiring an integration mock.
async fn queued_job(app: &TestApp, kind: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut tx = app.state.store.begin().await.unwrap();
    let job = tx
        .enqueue_job(
            &rgw_store::NewJob {
                kind: kind.into(),
                payload: serde_json::json!({}),
                idempotency_key: None,
                run_at: now,
                max_attempts: 5,
                deploy_approval_request_id: None,
            },
            now,
        )
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    job.public_id.to_string()
}

#[tokio::test]
async fn an_admin_sees_a_queued_job_discards_it_and_retries_it_from_the_jobs_page() {
    for app in TestApp::spawn_all().await {
        let web = admin(&app).await;
        let id = queued_job(&app, "slack.notify").await;
        let (s, _, html) = page(&app, &web, "/admin/jobs").await;
        assert_eq!(s, 200, "[{}]", app.backend);
        assert!(html.contains("href=\"/admin/jobs\""), "nav link");
        assert!(html.contains(&format!("id=\"job-{id}\"")), "{html}");
        assert!(html.contains("slack.notify"));
        assert!(html.contains(&format!("/admin/jobs/{id}/discard")));
        assert!(
            !html.contains(&format!("/admin/jobs/{id}/retry")),
            "queued: no retry"
        );
        let csrf = csrf_from(&html);

        let discard = format!("/admin/jobs/{id}/discard");
        let (s, _, _) = post_form(&app, &web, &discard, &[("csrf", &csrf)]).await;
        assert_eq!(s, 303);
        let (_, _, html) = page(&app, &web, "/admin/jobs?status=discarded").await;
        assert!(html.contains(&format!("id=\"job-{id}\"")), "{html}");
        assert!(html.contains(&format!("/admin/jobs/{id}/retry")));
        // Discarding twice is refused with the API's reason.
        let (s, _, html) = post_form(&app, &web, &discard, &[("csrf", &csrf)]).await;
        assert_eq!(s, 409, "{html}");
        assert!(html.contains("id=\"admin-error\""));

        let retry = format!("/admin/jobs/{id}/retry");
        let (s, _, _) = post_form(&app, &web, &retry, &[("csrf", &csrf)]).await;
        assert_eq!(s, 303);
        // Requeued; the test app's worker may already have claimed it, so only "no longer
        // discarded" is certain.
        let (_, _, html) = page(&app, &web, "/admin/jobs?status=discarded").await;
        assert!(!html.contains(&format!("id=\"job-{id}\"")), "{html}");
        let (_, _, html) = page(&app, &web, "/admin/jobs").await;
        assert!(html.contains(&format!("id=\"job-{id}\"")), "{html}");
    }
}

#[tokio::test]
async fn an_admin_whose_step_up_went_stale_verifies_again_and_comes_back_to_the_page() {
    for app in TestApp::spawn_all_fast(Default::default()).await {
        let approver = app.approver("admin@example.com").await;
        let web = web_cookie(&app, "admin@example.com", true).await;
        let (_, _, html) = page(&app, &web, "/admin/users").await;
        let csrf = csrf_from(&html);
        // Past the 10-minute step-up window: the session stays signed in and verified.
        app.clock.advance(time::Duration::minutes(11));
        let form = [
            ("csrf", csrf.as_str()),
            ("email", "dev@example.com"),
            ("role", "deployer"),
            ("name", "Dev"),
            ("password", ""),
        ];
        let (s, headers, _) = post_form(&app, &web, "/admin/users", &form).await;
        assert_eq!(s, 303);
        assert_eq!(location(&headers), "/mfa?again=1&next=%2Fadmin%2Fusers");
        assert!(
            app.store()
                .get_user_by_email("dev@example.com")
                .await
                .is_err()
        );
        // The challenge is shown although the session is verified, and leads back.
        let (s, _, html) = page(&app, &web, "/mfa?again=1&next=%2Fadmin%2Fusers").await;
        assert_eq!(s, 200, "{html}");
        let code = app.totp_code(&approver);
        let challenge = [
            ("csrf", csrf_from(&html)),
            ("code", code),
            ("next", "/admin/users".to_owned()),
        ];
        let fields: Vec<(&str, &str)> = challenge.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, headers, body) = post_form(&app, &web, "/mfa", &fields).await;
        assert_eq!(
            (s, location(&headers)),
            (303, "/admin/users".to_owned()),
            "{body}"
        );
        let rotated = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|l| {
                let pair = l.split(';').next()?;
                pair.starts_with(&format!("{}=", app.cookie_name()))
                    .then(|| pair.to_owned())
            })
            .expect("the verified session's cookie");
        let (_, _, html) = page(&app, &rotated, "/admin/users").await;
        let form = [
            ("csrf", csrf_from(&html)),
            ("email", "dev@example.com".to_owned()),
            ("role", "deployer".to_owned()),
            ("name", "Dev".to_owned()),
            ("password", String::new()),
        ];
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, _, html) = post_form(&app, &rotated, "/admin/users", &fields).await;
        assert_eq!(s, 200);
        assert!(
            html.contains("Created dev@example.com (deployer)."),
            "{html}"
        );
        app.cleanup().await;
    }
}
