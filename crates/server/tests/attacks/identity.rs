//! Attacks on identity: login and MFA guessing races, the CLI browser-login hijack, single
//! sign-on identity binding and OpenID key rotation (issue 15).

use std::sync::Arc;
use std::time::Duration;

use rgw_server::auth::Channel;
use rgw_server::auth::throttle::MAX_FAILURES;
use rgw_server::mfa::attempts;
use rgw_testkit::oidc::{ConfirmationForm, Scenario, TestProvider};
use rgw_testkit::{TestApp, cookie_value};
use serde_json::json;
use tokio::sync::Notify;

use crate::support_identity::{
    PASSWORD, audit_events, burst_post, enrol_totp, login, password_checks, poll_cli_login,
    sso_apps, start_cli_login, web_sso, wrong_totp,
};

#[tokio::test]
async fn a_burst_of_parallel_wrong_passwords_cannot_get_more_guesses_checked_than_the_lockout_allows()
 {
    for a in TestApp::spawn_all().await {
        let b = a.spawn_replica().await;
        let apps = [&a, &b];
        a.create_user("victim@example.com", "admin", Some(PASSWORD))
            .await;
        let before = password_checks(&apps);
        let locked = Arc::new(Notify::new());
        let http = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..99 {
            let (http, base, locked) = (http.clone(), apps[i % 2].url.clone(), locked.clone());
            tasks.push(tokio::spawn(async move {
                let out = login(&http, &base, "victim@example.com", &format!("guess {i}")).await;
                if out.0 == 429 {
                    locked.notify_one();
                }
                out
            }));
        }
        // The right password, sent inside the burst once the gateway has started refusing.
        let right = {
            let (http, base, locked) = (http.clone(), b.url.clone(), locked.clone());
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(30), locked.notified()).await;
                login(&http, &base, "victim@example.com", PASSWORD).await
            })
        };
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap().0);
        }
        let right = right.await.unwrap();
        let checked = password_checks(&apps) - before;
        assert!(
            checked <= MAX_FAILURES as u64,
            "{}: {checked} password checks for a limit of {MAX_FAILURES}",
            a.backend
        );
        assert!(
            statuses.iter().all(|s| *s == 401 || *s == 429),
            "every guess is answered as wrong or refused: {statuses:?}"
        );
        assert_eq!(
            right,
            (429, "login_locked".to_owned()),
            "the right password is refused once the account is locked"
        );
        let lockouts = audit_events(&apps, "login.lockout").await;
        assert_eq!(lockouts.len(), 1, "exactly one lockout event: {lockouts:?}");
        assert_eq!(lockouts[0].details["scope"], "account");
        b.cleanup().await;
        a.cleanup().await;
    }
}

#[tokio::test]
async fn a_password_spray_over_many_emails_from_one_address_cannot_exceed_the_per_address_limit() {
    for app in TestApp::spawn_all().await {
        let apps = [&app];
        let limit = app.state.config.login_ip_max_failures;
        assert_eq!(limit, 20, "the documented default");
        let bodies = (0..100)
            .map(|i| {
                json!({"email": format!("user{i}@example.com"), "password": "Winter2026!", "channel": "cli"})
            })
            .collect();
        let statuses = burst_post(&apps, "/api/v1/auth/login", None, bodies).await;
        let checked = password_checks(&apps);
        assert!(
            checked <= limit as u64,
            "{}: {checked} password checks from one address for a limit of {limit}",
            app.backend
        );
        assert!(
            statuses.iter().all(|s| *s == 401 || *s == 429),
            "{statuses:?}"
        );
        let lockouts = audit_events(&apps, "login.lockout").await;
        assert_eq!(lockouts.len(), 1, "{lockouts:?}");
        assert_eq!(lockouts[0].details["scope"], "address");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_burst_of_parallel_wrong_totp_codes_cannot_get_more_guesses_evaluated_than_the_lockout_allows()
 {
    for a in TestApp::spawn_all().await {
        let b = a.spawn_replica().await;
        let apps = [&a, &b];
        a.create_user("admin@example.com", "admin", None).await;
        let secret = enrol_totp(&a, "admin@example.com").await;
        let session = a.session_for("admin@example.com", Channel::Cli).await;
        let unix = u64::try_from(rgw_core::Clock::now(&a.clock).unix_timestamp()).unwrap();
        let code = wrong_totp(&secret, unix);
        let bodies = (0..60).map(|_| json!({"totp": code})).collect();
        let statuses = burst_post(&apps, "/api/v1/mfa/verify", Some(&session), bodies).await;

        let policy = attempts::policy();
        let evaluated = audit_events(&apps, "mfa.verify")
            .await
            .into_iter()
            .filter(|r| r.outcome == "failed")
            .count() as i64;
        assert!(
            evaluated <= policy.lock_after_failures && evaluated <= policy.max_attempts,
            "{}: {evaluated} TOTP guesses evaluated for a lockout after {} (budget {})",
            a.backend,
            policy.lock_after_failures,
            policy.max_attempts
        );
        assert!(statuses.iter().all(|s| *s != 200), "{statuses:?}");
        let lockouts = audit_events(&apps, "mfa.lockout").await;
        assert_eq!(lockouts.len(), 1, "exactly one lockout event: {lockouts:?}");
        let user = a
            .store()
            .get_user_by_email("admin@example.com")
            .await
            .unwrap();
        assert!(user.locked_at.is_some());
        b.cleanup().await;
        a.cleanup().await;
    }
}

#[tokio::test]
async fn a_phished_cli_login_link_cannot_skip_the_confirmation_with_a_query_flag() {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        app.create_user("victim@example.com", "admin", None).await;
        provider.set_email("victim@example.com");
        // The attacker starts a CLI login and sends the victim the link with a flag added.
        let (flow_id, login_url) = start_cli_login(&app).await;
        for link in [
            format!("{login_url}&confirm=yes"),
            format!("{login_url}&confirm=yes&confirmed=1&skip=true"),
        ] {
            let opened = app.client().get(&link).send().await.unwrap();
            assert_eq!(
                opened.status(),
                200,
                "{}: the link shows the confirmation page, not a redirect to the provider",
                app.backend
            );
            assert!(opened.headers().get("location").is_none());
            assert!(
                cookie_value(&opened, "rgw_oidc_state").is_none(),
                "nothing binds the flow to the victim's browser before the victim confirms"
            );
        }
        let (status, body) = poll_cli_login(&app, &flow_id).await;
        assert_eq!((status, body["status"].as_str()), (202, Some("pending")));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_forged_confirmation_form_cannot_continue_a_cli_login_without_the_victims_page() {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        app.create_user("victim@example.com", "admin", None).await;
        let (flow_id, login_url) = start_cli_login(&app).await;
        // The attacker opens the page in their own browser: their cookie and their token.
        let attacker = app.client().get(&login_url).send().await.unwrap();
        let (attacker_cookie, _) = cookie_value(&attacker, "rgw_cli_confirm").expect("cookie");
        let form = ConfirmationForm::parse(&attacker.text().await.unwrap()).expect("form");
        // The victim's browser opened the page too and holds its own cookie.
        let victim = app.client().get(&login_url).send().await.unwrap();
        let (victim_cookie, _) = cookie_value(&victim, "rgw_cli_confirm").expect("cookie");
        let origin = app.url.clone();
        let post = |cookie: Option<String>, origin: String, token: String| {
            let mut req = app
                .client()
                .post(&form.action)
                .header("origin", origin)
                .form(&[("flow_id", form.flow_id.clone()), ("csrf_token", token)]);
            if let Some(c) = cookie {
                req = req.header("cookie", format!("rgw_cli_confirm={c}"));
            }
            req.send()
        };
        let forged = [
            // An auto-submitting form on the attacker's site: the victim has no cookie for it.
            (None, origin.clone(), form.csrf_token.clone()),
            // The victim's cookie with the attacker's token.
            (
                Some(victim_cookie.clone()),
                origin.clone(),
                form.csrf_token.clone(),
            ),
            // A right pair posted from another origin.
            (
                Some(attacker_cookie.clone()),
                "https://evil.example".to_owned(),
                form.csrf_token.clone(),
            ),
            // No token at all.
            (Some(victim_cookie.clone()), origin.clone(), String::new()),
        ];
        for (cookie, origin, token) in forged {
            let resp = post(cookie.clone(), origin.clone(), token).await.unwrap();
            let status = resp.status().as_u16();
            assert!(
                resp.headers().get("location").is_none(),
                "{cookie:?} {origin}"
            );
            let (_, body) = rgw_testkit::body_json(resp).await;
            assert_eq!(
                (status, rgw_testkit::error_code(&body)),
                (403, "login_confirmation_invalid"),
                "{}: {cookie:?} from {origin}",
                app.backend
            );
        }
        let (status, _) = poll_cli_login(&app, &flow_id).await;
        assert_eq!(status, 202);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_cli_login_confirmation_page_cannot_be_framed_cached_or_leak_its_link() {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        let (_, login_url) = start_cli_login(&app).await;
        let page = app.client().get(&login_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let h = page.headers();
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp:?}");
        }
        assert!(!csp.contains("script-src"), "no scripts: {csp}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("cache-control"), "no-store");
        let (_, confirm) = cookie_value(&page, "rgw_cli_confirm").expect("cookie");
        let lower = confirm.to_ascii_lowercase();
        assert!(
            lower.contains("httponly") && lower.contains("samesite=strict"),
            "{confirm}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_id_token_that_does_not_say_the_email_is_verified_cannot_sign_in() {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        app.create_user("victim@example.com", "admin", None).await;
        provider.set(Scenario {
            omit_email_verified: true,
            ..Scenario::for_email("victim@example.com")
        });
        assert_eq!(
            web_sso(&app).await,
            (403, "oidc_email_unverified".to_owned()),
            "{}",
            app.backend
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn another_identity_provider_subject_with_the_same_email_cannot_take_over_an_account() {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        app.create_user("victim@example.com", "admin", None).await;
        provider.set(Scenario {
            subject: Some("victim-subject".into()),
            ..Scenario::for_email("victim@example.com")
        });
        assert_eq!(
            web_sso(&app).await.0,
            302,
            "the first login binds the account"
        );
        let user = app
            .store()
            .get_user_by_email("victim@example.com")
            .await
            .unwrap();
        assert_eq!(user.oidc_subject.as_deref(), Some("victim-subject"));
        assert_eq!(user.oidc_issuer.as_deref(), Some(provider.issuer.as_str()));
        // Someone else at the provider now holds the same address (a recycled or re-created
        // mailbox): a different subject.
        provider.set(Scenario {
            subject: Some("attacker-subject".into()),
            ..Scenario::for_email("victim@example.com")
        });
        assert_eq!(
            web_sso(&app).await,
            (403, "oidc_identity_mismatch".to_owned()),
            "{}",
            app.backend
        );
        // The real user still gets in.
        provider.set(Scenario {
            subject: Some("victim-subject".into()),
            ..Scenario::for_email("victim@example.com")
        });
        assert_eq!(web_sso(&app).await.0, 302);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_identity_provider_key_rotation_cannot_lock_users_out_until_a_restart() {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        app.create_user("dev@example.com", "viewer", None).await;
        provider.set_email("dev@example.com");
        assert_eq!(web_sso(&app).await.0, 302);
        provider.rotate_key();
        assert_eq!(
            web_sso(&app).await.0,
            302,
            "{}: the gateway fetches the provider's new key",
            app.backend
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_storm_of_id_tokens_with_unknown_key_ids_cannot_make_the_gateway_refetch_keys_more_than_once_a_minute()
 {
    let provider = TestProvider::spawn().await;
    for app in sso_apps(&provider).await {
        app.create_user("dev@example.com", "viewer", None).await;
        provider.set_email("dev@example.com");
        assert_eq!(web_sso(&app).await.0, 302, "discovery and a first login");
        provider.set(Scenario {
            kid: Some("no-such-key".into()),
            ..Scenario::for_email("dev@example.com")
        });
        let before = provider.jwks_fetches();
        let storm = (0..20).map(|_| web_sso(&app));
        for answer in futures_util::future::join_all(storm).await {
            assert_eq!(answer, (401, "oidc_signature_invalid".to_owned()));
        }
        assert_eq!(
            provider.jwks_fetches() - before,
            1,
            "{}: one refetch for the whole storm",
            app.backend
        );
        app.clock.advance(time::Duration::seconds(30));
        web_sso(&app).await;
        assert_eq!(
            provider.jwks_fetches() - before,
            1,
            "not again within a minute"
        );
        app.clock.advance(time::Duration::seconds(31));
        web_sso(&app).await;
        assert_eq!(
            provider.jwks_fetches() - before,
            2,
            "once more after a minute"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_leaked_admin_token_cannot_mint_tokens_that_outlive_its_revocation() {
    for app in TestApp::spawn_all_fast(Default::default()).await {
        app.create_user("boss@example.com", "admin", None).await;
        app.create_service_user("ci@example.com").await;
        let leaked = app
            .create_token("boss@example.com", "boss-tok", "admin")
            .await;
        for body in [
            json!({"name": "backdoor", "role": "admin"}),
            json!({"name": "backdoor-ci", "role": "cicd", "owner_email": "ci@example.com"}),
        ] {
            let r = app
                .post("/api/v1/api-tokens")
                .bearer_auth(&leaked)
                .json(&body)
                .send()
                .await
                .unwrap();
            let (status, body) = rgw_testkit::body_json(r).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (403, Some("api_tokens_cannot_create_tokens")),
                "{body}"
            );
        }
        for name in ["backdoor", "backdoor-ci"] {
            assert!(app.store().get_api_token_by_name(name).await.is_err());
        }
        // A person can.
        let admin = app.session_for("boss@example.com", Channel::Cli).await;
        let r = app
            .post("/api/v1/api-tokens")
            .bearer_auth(&admin)
            .json(&json!({"name": "rotated", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        app.cleanup().await;
    }
}
