use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_apply_when_only_the_secret_key_is_set() {
    let c = Config::load(None, env(&[("RGW_SECRET_KEY", KEY)])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8447");
    assert_eq!(c.database_url, "sqlite://./rack-gateway.db");
    assert!(c.rack.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn a_missing_secret_key_names_the_variable() {
    let err = Config::load(None, env(&[])).unwrap_err().to_string();
    assert!(err.contains("RGW_SECRET_KEY is required"), "{err}");
}

#[test]
fn a_short_secret_key_is_refused() {
    let err = Config::load(None, env(&[("RGW_SECRET_KEY", "short")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RGW_SECRET_KEY") && err.contains("at least 32"),
        "{err}"
    );
}

#[test]
fn a_bad_listen_address_names_the_variable_and_its_origin() {
    let err = Config::load(
        None,
        env(&[("RGW_SECRET_KEY", KEY), ("RGW_LISTEN", "nonsense")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("invalid RGW_LISTEN (from environment)"),
        "{err}"
    );
}

#[test]
fn the_rack_password_is_split_from_the_rack_url() {
    let c = Config::load(
        None,
        env(&[
            ("RGW_SECRET_KEY", KEY),
            ("RGW_RACK_URL", "https://convox:s%40cret@rack.local:5443"),
        ]),
    )
    .unwrap();
    let rack = c.rack.unwrap();
    assert_eq!(rack.url.as_str(), "https://rack.local:5443/");
    assert_eq!(rack.password.expose_secret(), "s@cret");
}

#[test]
fn a_rack_url_without_password_is_refused() {
    let err = Config::load(
        None,
        env(&[
            ("RGW_SECRET_KEY", KEY),
            ("RGW_RACK_URL", "https://rack:5443"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("RGW_RACK_URL") && err.contains("password"),
        "{err}"
    );
}

#[test]
fn the_environment_overrides_the_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&path),
        env(&[("RGW_SECRET_KEY", KEY), ("RGW_LOG_FORMAT", "text")]),
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.sources.origin("listen"), Origin::File(path));
}

#[test]
fn an_unknown_file_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
    let err = Config::load(Some(&path), env(&[("RGW_SECRET_KEY", KEY)]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown key \"lisen\""), "{err}");
}

#[test]
fn the_redacted_rendering_never_shows_secrets() {
    let c = Config::load(
        None,
        env(&[
            ("RGW_SECRET_KEY", KEY),
            (
                "RGW_RACK_URL",
                "https://convox:hunter2hunter2@rack.local:5443",
            ),
            ("RGW_DATABASE_URL", "postgres://gw:dbpass@db/rgw"),
            ("RGW_OIDC_ISSUER", "https://accounts.example.com"),
            ("RGW_OIDC_CLIENT_ID", "client"),
            ("RGW_OIDC_CLIENT_SECRET", "oidc-secret-value"),
        ]),
    )
    .unwrap();
    let text = c.render_redacted();
    for secret in [KEY, "hunter2hunter2", "dbpass", "oidc-secret-value"] {
        assert!(!text.contains(secret), "{secret} leaked in:\n{text}");
        assert!(!format!("{c:?}").contains(secret));
    }
    assert!(
        text.contains("RGW_RACK_URL = https://convox:****@rack.local:5443"),
        "{text}"
    );
}

#[test]
fn oidc_needs_client_credentials() {
    let err = Config::load(
        None,
        env(&[
            ("RGW_SECRET_KEY", KEY),
            ("RGW_OIDC_ISSUER", "https://id.example.com"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("RGW_OIDC_CLIENT_ID"), "{err}");
}

#[test]
fn a_fingerprint_must_be_sha256_hex() {
    let err = Config::load(
        None,
        env(&[
            ("RGW_SECRET_KEY", KEY),
            ("RGW_RACK_URL", "https://convox:pw@rack:5443"),
            ("RGW_RACK_TLS_FINGERPRINT", "abcd"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("RGW_RACK_TLS_FINGERPRINT"), "{err}");
}

#[test]
fn integration_secrets_are_typed_and_masked_and_api_bases_keep_their_path() {
    let c = Config::load(
        None,
        env(&[
            ("RGW_SECRET_KEY", KEY),
            ("RGW_CIRCLECI_TOKEN", "circle-secret-token"),
            ("RGW_GITHUB_TOKEN", "ghp_secret_token"),
            ("RGW_GITHUB_API_URL", "https://ghe.example.com/api/v3"),
            ("RGW_WEBHOOK_SECRET", "webhook-signing-secret"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.integrations.github_api_url.as_str(),
        "https://ghe.example.com/api/v3/"
    );
    assert_eq!(
        c.integrations.circleci_api_url.as_str(),
        "https://circleci.com/api/v2/"
    );
    let printed = format!("{}\n{:?}", c.render_redacted(), c.integrations);
    for secret in [
        "circle-secret-token",
        "ghp_secret_token",
        "webhook-signing-secret",
    ] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(printed.contains("RGW_GITHUB_TOKEN = ****"), "{printed}");
    assert!(c.jobs.worker);
    assert_eq!(c.jobs.max_attempts, 10);
}

#[test]
fn bad_integration_values_name_their_variable() {
    for (name, value, want) in [
        ("RGW_GITHUB_API_URL", "ftp://x", "RGW_GITHUB_API_URL"),
        (
            "RGW_CIRCLECI_API_URL",
            "https://u:p@circleci.com/api/v2",
            "not the URL",
        ),
        ("RGW_WEBHOOK_SECRET", "short", "at least 16"),
        ("RGW_JOBS_MAX_ATTEMPTS", "0", "RGW_JOBS_MAX_ATTEMPTS"),
        ("RGW_JOBS_LEASE_SECS", "x", "RGW_JOBS_LEASE_SECS"),
    ] {
        let err = Config::load(None, env(&[("RGW_SECRET_KEY", KEY), (name, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{name}: {err}");
    }
}
