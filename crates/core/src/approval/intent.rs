//! The deploy intent: what a reviewer approves, in one canonical text with a SHA-256 digest.
//!
//! The API shows the digest with every request; the approve call carries the digest the
//! reviewer saw and is refused (409) when the intent changed since, the MFA proof is bound to
//! it, and the stored approval keeps it as proof of what exactly was approved. The canonical
//! text is versioned, one `key=value` line per field in a fixed order, each value JSON-encoded
//! so no value can forge a line break or another field.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{AppName, GitSha, RequestId};

/// Everything an approval authorises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployIntent<'a> {
    /// The request.
    pub request_id: RequestId,
    /// The rack (the gateway's rack host), so an intent for staging never matches production.
    pub rack: &'a str,
    /// The app.
    pub app: &'a AppName,
    /// The full commit.
    pub commit: &'a GitSha,
    /// The branch, as requested.
    pub branch: Option<&'a str>,
    /// The token that may use the approval (public id).
    pub target_token: Uuid,
    /// Who asked (user e-mail or token name and public id).
    pub creator: &'a str,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Minutes the approval stays usable.
    pub window_minutes: i64,
}

impl DeployIntent<'_> {
    /// The canonical text the digest covers.
    pub fn canonical(&self) -> String {
        let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let fields: [(&str, String); 10] = [
            ("version", q("rgw-deploy-intent-1")),
            ("request", q(&self.request_id.to_string())),
            ("rack", q(self.rack)),
            ("app", q(self.app.as_str())),
            ("commit", q(self.commit.as_str())),
            ("branch", self.branch.map_or("null".into(), q)),
            ("target_token", q(&self.target_token.to_string())),
            ("creator", q(self.creator)),
            ("quorum", self.quorum.to_string()),
            ("window_minutes", self.window_minutes.to_string()),
        ];
        fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    /// `sha256:<hex>` of [`DeployIntent::canonical`].
    pub fn digest(&self) -> String {
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(self.canonical().as_bytes()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent<'a>(app: &'a AppName, sha: &'a GitSha, branch: Option<&'a str>) -> DeployIntent<'a> {
        DeployIntent {
            request_id: RequestId::parse("123e4567-e89b-12d3-a456-426614174000").unwrap(),
            rack: "rack.example.com",
            app,
            commit: sha,
            branch,
            target_token: Uuid::nil(),
            creator: "ci (00000000-0000-0000-0000-000000000000)",
            quorum: 1,
            window_minutes: 15,
        }
    }

    #[test]
    fn the_digest_changes_with_every_field_and_is_stable() {
        let app = AppName::parse("myapp").unwrap();
        let other = AppName::parse("other").unwrap();
        let sha = GitSha::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
        let base = intent(&app, &sha, Some("main"));
        assert_eq!(base.digest(), intent(&app, &sha, Some("main")).digest());
        assert!(base.digest().starts_with("sha256:"));
        assert_eq!(base.digest().len(), 7 + 64);
        let changed = [
            intent(&other, &sha, Some("main")),
            intent(&app, &sha, None),
            intent(&app, &sha, Some("main2")),
            DeployIntent {
                quorum: 2,
                ..base.clone()
            },
            DeployIntent {
                window_minutes: 16,
                ..base.clone()
            },
            DeployIntent {
                rack: "staging",
                ..base.clone()
            },
            DeployIntent {
                creator: "someone else",
                ..base.clone()
            },
        ];
        for c in changed {
            assert_ne!(c.digest(), base.digest(), "{}", c.canonical());
        }
    }

    #[test]
    fn a_value_cannot_forge_another_field() {
        let app = AppName::parse("myapp").unwrap();
        let sha = GitSha::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
        let forged = intent(&app, &sha, Some("main\"\nquorum=1"));
        assert_eq!(forged.canonical().lines().count(), 10);
        assert!(forged.canonical().contains(r#"branch="main\"\nquorum=1""#));
    }
}
