use rstest::rstest;
use serde_json::json;

use super::*;

#[rstest]
#[case("password", true)]
#[case("new_password", true)]
#[case("Authorization", true)]
#[case("proxy-authorization", true)]
#[case("Cookie", true)]
#[case("set-cookie", true)]
#[case("X-Api-Key", true)]
#[case("apiKey", true)]
#[case("API_KEY", true)]
#[case("private_key", true)]
#[case("client_secret", true)]
#[case("aws_secret_access_key", true)]
#[case("token", true)]
#[case("access_token", true)]
#[case("session", true)]
#[case("session_cookie", true)]
#[case("credentials", true)]
#[case("totp", true)]
#[case("backup_code", true)]
#[case("token_name", false)]
#[case("target_api_token_id", false)]
#[case("session_id", false)]
#[case("token_expires_at", false)]
#[case("app", false)]
#[case("git_commit_hash", false)]
#[case("object_key", false)]
#[case("monkey", false)]
#[case("notes", false)]
fn secret_names_are_recognised_by_their_words(#[case] name: &str, #[case] secret: bool) {
    assert_eq!(is_secret_name(name, &[]), secret, "{name}");
}

#[test]
fn configured_names_are_secret_whatever_they_look_like() {
    let extra = vec!["DATABASE_URL".to_owned()];
    assert!(is_secret_name("database_url", &extra));
    assert!(!is_secret_name("DATABASE_HOST", &extra));
}

#[rstest]
#[case("rgw_abcdEFGH12345678xyz", "[REDACTED]")]
#[case("token rgw_abcdEFGH12345678 used", "token [REDACTED] used")]
#[case("Bearer eyJhbGciOi.abc.def", "Bearer [REDACTED]")]
#[case("basic Y29udm94OnB3", "basic [REDACTED]")]
#[case("auth: BeArEr abcdefgh123", "auth: BeArEr [REDACTED]")]
#[case("BASIC\tY29udm94OnB3", "BASIC\t[REDACTED]")]
#[case(
    "HTTPS://u:pw@h and rgw_abcdEFGH12345678",
    "HTTPS://u:[REDACTED]@h and [REDACTED]"
)]
#[case(
    "https://convox:hunter2@rack.example.com:5443/apps",
    "https://convox:[REDACTED]@rack.example.com:5443/apps"
)]
#[case("GET /apps/myapp/builds", "GET /apps/myapp/builds")]
#[case("rgw_short", "rgw_short")]
fn secret_looking_text_is_masked(#[case] input: &str, #[case] expected: &str) {
    assert_eq!(redact_text(input), expected);
}

#[test]
fn clean_text_is_returned_without_a_copy_and_masked_text_with_the_marker() {
    let clean = "GET /apps/myapp/builds?limit=10";
    assert!(matches!(redact_text(clean), std::borrow::Cow::Borrowed(_)));
    for (input, secret) in [
        ("Bearer abcdefgh12", "abcdefgh12"),
        ("x https://u:pw123456@h/ y", "pw123456"),
    ] {
        let masked = redact_text(input);
        assert!(
            masked.contains(REDACTED) && !masked.contains(secret),
            "{masked}"
        );
    }
}

#[test]
fn details_lose_secret_values_at_every_depth_but_keep_identifiers() {
    let mut d = json!({
        "token": "rgw_0123456789abcdef",
        "token_name": "ci",
        "target_api_token_id": "7b1e…",
        "headers": {"Authorization": "Bearer abc.def.ghi", "Cookie": "s=1", "Accept": "*/*"},
        "body": {"user": {"password": "hunter2", "email": "ada@example.com"}},
        "env": [{"name": "DB_PASS", "secret": true}],
        "note": "retry with rgw_0123456789abcdef please",
        "password": null,
        "count": 3,
        "totp": 123456
    });
    redact(&mut d, &[]);
    assert_eq!(
        d,
        json!({
            "token": "[REDACTED]",
            "token_name": "ci",
            "target_api_token_id": "7b1e…",
            "headers": {"Authorization": "[REDACTED]", "Cookie": "[REDACTED]", "Accept": "*/*"},
            "body": {"user": {"password": "[REDACTED]", "email": "ada@example.com"}},
            "env": [{"name": "DB_PASS", "secret": true}],
            "note": "retry with [REDACTED] please",
            "password": null,
            "count": 3,
            "totp": "[REDACTED]"
        })
    );
}

#[test]
fn env_text_masks_secret_variables_and_keeps_the_rest() {
    let text = "PORT=3000\nDATABASE_PASSWORD=hunter2\r\nSTRIPE_KEY=sk_live_1\nexport API_KEY=abc\nHOOK=https://u:p4ss@h/x";
    let out = redact_env_text(text, &["STRIPE_KEY".to_owned()]);
    assert_eq!(
        out,
        "PORT=3000\nDATABASE_PASSWORD=[REDACTED]\r\nSTRIPE_KEY=[REDACTED]\nexport API_KEY=[REDACTED]\nHOOK=https://u:[REDACTED]@h/x"
    );
}
