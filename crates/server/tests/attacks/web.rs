//! Attacks on the web UI (issue 13): forged and cross-site forms, markup smuggled into what a
//! page shows, decision buttons used by someone who may not, wrong MFA codes, sessions without
//! MFA wandering past the challenge, framing, and API tokens opening pages. Each test fails if
//! the attack works.

use rgw_server::auth::Channel;
use rgw_testkit::approvals::{Approver, sha};
use rgw_testkit::{TestApp, TestOptions, body_json};
use serde_json::json;

/// A web session cookie for `email` (MFA verified or not).
async fn cookie(app: &TestApp, email: &str, mfa: bool) -> String {
    let token = if mfa {
        app.session_with_mfa(email, Channel::Web).await
    } else {
        app.session_for(email, Channel::Web).await
    };
    format!("{}={token}", app.cookie_name())
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = app.get(path).header("cookie", cookie).send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    (s, h, r.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = app.post(path).header("cookie", cookie).form(form);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    (s, h, r.text().await.unwrap())
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).expect(name);
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// An admin approver with a web session, a CI token and one pending request.
async fn setup(app: &TestApp, commit: u64) -> (Approver, String, String, String) {
    let admin = app.approver("admin@example.com").await;
    let web = cookie(app, "admin@example.com", true).await;
    app.create_service_user("ci@example.com").await;
    let token = app.create_token("ci@example.com", "circleci", "cicd").await;
    let (s, req) = app.request_approval(&token, &sha(commit)).await;
    assert_eq!(s, 201, "{req}");
    (
        admin,
        web,
        token,
        req["public_id"].as_str().unwrap().to_owned(),
    )
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> String {
    let (_, v) = app.get_approval(token, id).await;
    v["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_changes_nothing() {
    for app in TestApp::spawn_all().await {
        let (_, web, token, id) = setup(&app, 1).await;
        let path = format!("/deploy-approvals/{id}/reject");
        let (s, _, body) = post(&app, &web, &path, None, &[("notes", "forged")]).await;
        assert_eq!(s, 403, "[{}] {body}", app.backend);
        assert!(body.contains("reload the page"), "{body}");
        let (s, _, _) = post(
            &app,
            &web,
            &path,
            None,
            &[("csrf", "AAAA"), ("notes", "forged")],
        )
        .await;
        assert_eq!(s, 403);
        assert_eq!(status_of(&app, &token, &id).await, "pending");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_csrf_token_from_another_session_is_refused() {
    for app in TestApp::spawn_all().await {
        let (_, web, token, id) = setup(&app, 2).await;
        app.create_user("mallory@example.com", "viewer", None).await;
        let mallory = cookie(&app, "mallory@example.com", true).await;
        let (_, _, html) = get(&app, &mallory, "/account").await;
        let foreign = field(&html, "csrf");
        let path = format!("/deploy-approvals/{id}/reject");
        let (s, _, _) = post(
            &app,
            &web,
            &path,
            None,
            &[("csrf", &foreign), ("notes", "x")],
        )
        .await;
        assert_eq!(s, 403, "[{}]", app.backend);
        assert_eq!(status_of(&app, &token, &id).await, "pending");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused_even_with_a_valid_token() {
    for app in TestApp::spawn_all().await {
        let (_, web, token, id) = setup(&app, 3).await;
        let (_, _, html) = get(&app, &web, &format!("/deploy-approvals/{id}")).await;
        let csrf = field(&html, "csrf");
        let path = format!("/deploy-approvals/{id}/reject");
        let form = [("csrf", csrf.as_str()), ("notes", "x")];
        let (s, _, _) = post(&app, &web, &path, Some("https://evil.example"), &form).await;
        assert_eq!(s, 403, "[{}]", app.backend);
        assert_eq!(status_of(&app, &token, &id).await, "pending");
        // The same form from the gateway's own origin works (so the refusal above is the origin).
        let (s, _, _) = post(&app, &web, &path, Some(&app.url), &form).await;
        assert_eq!(s, 303);
        assert_eq!(status_of(&app, &token, &id).await, "rejected");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_sign_in_form_from_another_site_cannot_log_the_victim_into_an_account() {
    for app in TestApp::spawn_all().await {
        app.create_user("mallory@example.com", "viewer", Some("mallory's password"))
            .await;
        // No double-submit cookie (a cross-site page cannot set or read it).
        let r = app
            .post("/login")
            .form(&[
                ("csrf", "guess"),
                ("email", "mallory@example.com"),
                ("password", "mallory's password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "[{}]", app.backend);
        assert!(rgw_testkit::cookie_value(&r, app.cookie_name()).is_none());
        app.cleanup().await;
    }
}

#[tokio::test]
async fn markup_in_message_branch_and_notes_is_shown_as_text_on_every_page() {
    for app in TestApp::spawn_all().await {
        let admin = app.approver("admin@example.com").await;
        let web = cookie(&app, "admin@example.com", true).await;
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "circleci", "cicd").await;
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let r = app
            .post("/api/v1/deploy-approval-requests")
            .bearer_auth(&token)
            .json(&json!({
                "app": "myapp",
                "git_commit_hash": sha(4),
                "git_branch": "main\"><script>alert(3)</script>",
                "ci_metadata": {"pipeline_number": "1\"><b>x</b>", "evil": evil},
                "message": evil,
            }))
            .send()
            .await
            .unwrap();
        let (s, req) = body_json(r).await;
        assert_eq!(s, 201, "{req}");
        let id = req["public_id"].as_str().unwrap().to_owned();
        let (s, _) = app
            .approve_with(&admin, &id, json!({"notes": evil, "intent_digest": req["intent_digest"], "mfa": {"totp": app.totp_code(&admin)}}))
            .await;
        assert_eq!(s, 200);
        for path in [
            "/deploy-approvals".to_owned(),
            "/deploy-approvals/rows".to_owned(),
            format!("/deploy-approvals/{id}"),
            format!("/deploy-approvals/{id}/live"),
        ] {
            let (s, _, html) = get(&app, &web, &path).await;
            assert_eq!(s, 200, "[{}] {path}", app.backend);
            for raw in ["<script>alert", "<img src=x", "<b>x</b>", "\"><script"] {
                assert!(!html.contains(raw), "{path} renders {raw} as markup");
            }
            let at = html
                .find("alert(1)")
                .map(|i| &html[i.saturating_sub(40)..i + 20]);
            assert!(
                html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
                "{path} lost the text: {at:?}"
            );
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_non_admin_sees_no_decision_buttons_and_the_server_refuses_them_anyway() {
    for app in TestApp::spawn_all().await {
        let (_, _, token, first) = setup(&app, 5).await;
        let (_, v) = app.get_approval(&token, &first).await;
        let target = v["target_api_token_id"].as_str().unwrap().to_owned();
        // A deployer asks for an approval (so the request is theirs and visible to them).
        app.create_user("dev@example.com", "deployer", None).await;
        let cli = app.session_with_mfa("dev@example.com", Channel::Cli).await;
        let r = app
            .post("/api/v1/deploy-approval-requests")
            .bearer_auth(&cli)
            .json(
                &json!({"app": "myapp", "git_commit_hash": sha(6), "git_branch": "main",
                          "ci_metadata": {}, "message": "mine", "target_api_token_id": target}),
            )
            .send()
            .await
            .unwrap();
        let (s, mine) = body_json(r).await;
        assert_eq!(s, 201, "[{}] {mine}", app.backend);
        let mine = mine["public_id"].as_str().unwrap().to_owned();
        let dev = cookie(&app, "dev@example.com", true).await;
        let (s, _, html) = get(&app, &dev, &format!("/deploy-approvals/{mine}")).await;
        assert_eq!(s, 200);
        for hidden in [
            "approve-form",
            "reject-form",
            "/admin/users",
            "/admin/settings",
        ] {
            assert!(!html.contains(hidden), "a deployer is shown {hidden}");
        }
        let csrf = field(&html, "csrf");
        let digest = v["intent_digest"].as_str().unwrap().to_owned();
        for (id, action) in [
            (&mine, "approve"),
            (&mine, "reject"),
            (&first, "approve"),
            (&first, "reject"),
        ] {
            let path = format!("/deploy-approvals/{id}/{action}");
            let form = [
                ("csrf", csrf.as_str()),
                ("intent_digest", digest.as_str()),
                ("totp", "123456"),
                ("notes", "x"),
            ];
            let (s, _, _) = post(&app, &dev, &path, None, &form).await;
            assert!(s == 403 || s == 404, "{action} {id}: {s}");
        }
        assert_eq!(status_of(&app, &token, &first).await, "pending");
        assert_eq!(status_of(&app, &token, &mine).await, "pending");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_wrong_totp_code_does_not_approve_from_the_form() {
    for app in TestApp::spawn_all().await {
        let (_, web, token, id) = setup(&app, 7).await;
        let (_, _, html) = get(&app, &web, &format!("/deploy-approvals/{id}")).await;
        let csrf = field(&html, "csrf");
        let digest = field(&html, "intent_digest");
        for code in ["000000", "12345", "abcdef", ""] {
            let form = [
                ("csrf", csrf.as_str()),
                ("intent_digest", digest.as_str()),
                ("totp", code),
            ];
            let (s, _, body) = post(
                &app,
                &web,
                &format!("/deploy-approvals/{id}/approve"),
                None,
                &form,
            )
            .await;
            assert!((400..500).contains(&s), "[{}] {code:?}: {s}", app.backend);
            assert!(
                body.contains("id=\"decision-error\""),
                "{code:?}: the page says why"
            );
        }
        assert_eq!(status_of(&app, &token, &id).await, "pending");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_session_without_mfa_reaches_only_sign_in_and_the_mfa_pages() {
    let opts = TestOptions {
        env: vec![("RGW_SETTING_MFA_REQUIRE_ALL_USERS".into(), "true".into())],
    };
    for app in TestApp::spawn_all_with(opts).await {
        let (_, _, token, id) = setup(&app, 8).await;
        // Enrolled, but this session has not verified MFA.
        let half = cookie(&app, "admin@example.com", false).await;
        for path in [
            "/deploy-approvals".to_owned(),
            "/deploy-approvals/rows".to_owned(),
            "/deploy-approvals/events".to_owned(),
            format!("/deploy-approvals/{id}"),
            format!("/deploy-approvals/{id}/live"),
            "/account".to_owned(),
            "/admin/users".to_owned(),
            "/".to_owned(),
        ] {
            let r = app.get(&path).header("cookie", &half).send().await.unwrap();
            assert_eq!(r.status(), 303, "[{}] {path}", app.backend);
            let to = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(to.starts_with("/mfa"), "{path} → {to}");
        }
        let (s, _, challenge) = get(&app, &half, "/mfa").await;
        assert_eq!(s, 200);
        let csrf = field(&challenge, "csrf");
        let (s, h, _) = post(
            &app,
            &half,
            &format!("/deploy-approvals/{id}/reject"),
            None,
            &[("csrf", &csrf), ("notes", "x")],
        )
        .await;
        assert_eq!(s, 303);
        assert!(h["location"].to_str().unwrap().starts_with("/mfa"));
        assert_eq!(status_of(&app, &token, &id).await, "pending");
        // Not enrolled at all: enrolment first.
        app.create_user("new@example.com", "admin", None).await;
        let fresh = cookie(&app, "new@example.com", false).await;
        let r = app
            .get("/deploy-approvals")
            .header("cookie", &fresh)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/mfa/enroll");
        let (s, _, _) = get(&app, &fresh, "/mfa/enroll").await;
        assert_eq!(s, 200);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn no_page_can_be_framed_by_another_site() {
    for app in TestApp::spawn_all().await {
        let (_, web, _, id) = setup(&app, 9).await;
        for path in [
            "/login".to_owned(),
            "/deploy-approvals".to_owned(),
            format!("/deploy-approvals/{id}"),
            "/deploy-approvals/nope".to_owned(),
        ] {
            let (_, h, _) = get(&app, &web, &path).await;
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_api_token_cannot_open_pages_or_post_their_forms() {
    for app in TestApp::spawn_all().await {
        let (_, _, token, id) = setup(&app, 10).await;
        let admin_token = app
            .create_token("admin@example.com", "admin-token", "admin")
            .await;
        for t in [&token, &admin_token] {
            let r = app
                .get("/deploy-approvals")
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "[{}]", app.backend);
            assert!(
                r.headers()["location"]
                    .to_str()
                    .unwrap()
                    .starts_with("/login")
            );
            let r = app
                .post(&format!("/deploy-approvals/{id}/reject"))
                .bearer_auth(t)
                .form(&[("notes", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
        }
        assert_eq!(status_of(&app, &token, &id).await, "pending");
        app.cleanup().await;
    }
}

#[path = "web/jobs.rs"]
mod jobs;
