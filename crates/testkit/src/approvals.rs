//! Deploy-approval helpers: admins with TOTP who approve, CI tokens that request, and the
//! convox-style deploy of a commit through the gateway.

use rgw_core::Clock;
use rgw_server::auth::Channel;
use rgw_server::mfa::MfaUser;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::convox::{Convox, tarball};
use crate::{RACK_APP, TestApp, body_json};

/// An admin who can approve: a CLI session and an enrolled TOTP secret.
pub struct Approver {
    /// The admin's e-mail.
    pub email: String,
    /// A CLI session token (`rgws_…`).
    pub session: String,
    secret: SecretString,
}

/// A full commit SHA made from a small number, for tests.
pub fn sha(n: u64) -> String {
    format!("{n:040x}")
}

/// A convox.yml whose only service runs an image tagged with `commit` (passes the default rule).
pub fn manifest_for(commit: &str) -> String {
    format!("services:\n  web:\n    image: registry.example.com/myapp:{commit}\n    port: 3000\n")
}

impl TestApp {
    /// Creates an admin with a confirmed TOTP and a CLI session.
    pub async fn approver(&self, email: &str) -> Approver {
        let user = self.create_user(email, "admin", None).await;
        let enrolment = rgw_server::mfa::totp::enroll_confirmed(&self.state, &MfaUser::from(&user))
            .await
            .expect("enrol TOTP");
        Approver {
            email: email.to_owned(),
            session: self.session_with_mfa(email, Channel::Cli).await,
            secret: enrolment.secret_base32,
        }
    }

    /// The approver's TOTP code now. Each code is single-use per 30 s step, so the clock moves
    /// on a step first.
    pub fn totp_code(&self, a: &Approver) -> String {
        self.clock.advance(time::Duration::seconds(30));
        let unix = u64::try_from(self.clock.now().unix_timestamp()).expect("unix time");
        rgw_server::mfa::totp::code_at(&a.secret, unix).expect("TOTP code")
    }

    /// `POST /api/v1/deploy-approval-requests` as `token` for app `myapp` at `commit`.
    pub async fn request_approval(&self, token: &str, commit: &str) -> (u16, Value) {
        let resp = self
            .post("/api/v1/deploy-approval-requests")
            .bearer_auth(token)
            .json(&json!({
                "app": RACK_APP,
                "git_commit_hash": commit,
                "git_branch": "main",
                "ci_metadata": {"workflow_id": "abc-123", "pipeline_number": "42"},
                "message": "Deploy to production",
            }))
            .send()
            .await
            .expect("create request");
        body_json(resp).await
    }

    /// Reads a request as `credential`.
    pub async fn get_approval(&self, credential: &str, id: &str) -> (u16, Value) {
        let resp = self
            .get(&format!("/api/v1/deploy-approval-requests/{id}"))
            .bearer_auth(credential)
            .send()
            .await
            .expect("get request");
        body_json(resp).await
    }

    /// Approves request `id` as `a` with a fresh TOTP code and the digest it reads first.
    pub async fn approve(&self, a: &Approver, id: &str) -> (u16, Value) {
        let (_, current) = self.get_approval(&a.session, id).await;
        let digest = current["intent_digest"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let code = self.totp_code(a);
        self.approve_with(
            a,
            id,
            json!({"notes": "LGTM", "intent_digest": digest, "mfa": {"totp": code}}),
        )
        .await
    }

    /// Approves with an explicit body.
    pub async fn approve_with(&self, a: &Approver, id: &str, body: Value) -> (u16, Value) {
        let resp = self
            .post(&format!("/api/v1/deploy-approval-requests/{id}/approve"))
            .bearer_auth(&a.session)
            .json(&body)
            .send()
            .await
            .expect("approve");
        body_json(resp).await
    }

    /// A CI token (cicd role, owned by a service user) and its request approved by a new admin:
    /// returns `(token, request id)`.
    pub async fn approved_deploy(&self, commit: &str) -> (String, String) {
        if self
            .store()
            .get_user_by_email("ci@example.com")
            .await
            .is_err()
        {
            self.create_service_user("ci@example.com").await;
        }
        let name = format!("ci-{}", &commit[34..]);
        let token = self.create_token("ci@example.com", &name, "cicd").await;
        let (status, req) = self.request_approval(&token, commit).await;
        assert_eq!(status, 201, "{req}");
        let id = req["public_id"].as_str().expect("public id").to_owned();
        let admin = self
            .approver(&format!("approver-{}@example.com", &commit[34..]))
            .await;
        let (status, body) = self.approve(&admin, &id).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "approved");
        (token, id)
    }

    /// The convox CLI's client for the gateway's proxy with `credential`.
    pub fn convox(&self, credential: &str) -> Convox {
        Convox::new(self.at("/api/v1/rack-proxy"), credential)
    }
}

/// The first half of `convox deploy` of `commit`: upload, build with git-sha, wait for the
/// build to complete. Returns its release id (not promoted).
pub async fn convox_build(convox: &Convox, commit: &str) -> String {
    let url = convox
        .upload(RACK_APP, tarball(&[("convox.yml", &manifest_for(commit))]))
        .await;
    let build = convox
        .create_build(RACK_APP, &url, &[("git-sha", commit)])
        .await;
    let build = convox
        .wait_build(RACK_APP, build["id"].as_str().expect("build id"))
        .await;
    assert_eq!(build["status"], "complete", "{build}");
    build["release"].as_str().expect("release").to_owned()
}

/// `convox deploy` of `commit` as the CLI does it: upload, build with git-sha, wait, promote.
/// Returns the release id; panics with the gateway's answer when a step is refused.
pub async fn convox_deploy(convox: &Convox, commit: &str) -> String {
    let release = convox_build(convox, commit).await;
    let r = convox
        .post_form(
            &format!("/apps/{RACK_APP}/releases/{release}/promote"),
            &[("force", "false")],
        )
        .await;
    assert_eq!(
        r.status(),
        200,
        "promote: {}",
        r.text().await.unwrap_or_default()
    );
    release
}
