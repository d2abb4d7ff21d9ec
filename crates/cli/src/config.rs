//! The saved logins: `{"racks": {NAME: {url, session_token, expires_at, email}}, "current":
//! NAME}` in `$RACK_GATEWAY_CONFIG`, else `$XDG_CONFIG_HOME/rack-gateway/config.json`, else
//! `~/.config/rack-gateway/config.json`. The file holds session tokens, so it is written
//! atomically (temp file + rename) with mode 0600 in a directory created 0700.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Environment variable naming the config file (tests, several profiles).
pub const CONFIG_ENV: &str = "RACK_GATEWAY_CONFIG";

/// All saved logins.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Config {
    /// Saved logins by rack name.
    #[serde(default)]
    pub racks: BTreeMap<String, RackLogin>,
    /// The rack used when `--rack` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// One saved login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RackLogin {
    /// The gateway's base URL, without a trailing slash.
    pub url: String,
    /// The bearer session token (`rgws_…`).
    #[serde(with = "secret_string")]
    pub session_token: SecretString,
    /// When the session ends without further use (RFC 3339), as the gateway said at login.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Who logged in.
    #[serde(default)]
    pub email: Option<String>,
}

/// Where the config file lives.
pub fn default_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    CliError::new(
                        "config_location_unknown",
                        format!("neither {CONFIG_ENV}, XDG_CONFIG_HOME nor HOME is set"),
                    )
                })?;
            PathBuf::from(home).join(".config")
        }
    };
    Ok(base.join("rack-gateway").join("config.json"))
}

impl Config {
    /// Reads the config; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
        };
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Writes the config atomically, readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        create_private_dir(dir)?;
        let json = serde_json::to_vec_pretty(self).context("encoding the config")?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into());
        let tmp = dir.join(format!(
            ".{file_name}.tmp-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let write = || -> Result<()> {
            let mut f = private_file(&tmp)?;
            f.write_all(&json)
                .and_then(|()| f.write_all(b"\n"))
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", tmp.display()))?;
            fs::rename(&tmp, path)
                .with_context(|| format!("replacing {} with {}", path.display(), tmp.display()))
        };
        let result = write();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The login named `rack`, or the current one.
    pub fn get(&self, rack: Option<&str>) -> Option<(&str, &RackLogin)> {
        let name = rack.or(self.current.as_deref())?;
        self.racks.get_key_value(name).map(|(k, v)| (k.as_str(), v))
    }

    /// Forgets `rack`; if it was current, another saved rack (if any) becomes current.
    pub fn remove(&mut self, rack: &str) -> Option<RackLogin> {
        let removed = self.racks.remove(rack);
        if self.current.as_deref() == Some(rack) {
            self.current = self.racks.keys().next().cloned();
        }
        removed
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(unix)]
fn private_file(path: &Path) -> Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Serde for a [`SecretString`] field: the file is the one place the token is written out.
mod secret_string {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
        String::deserialize(de).map(SecretString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(url: &str) -> RackLogin {
        RackLogin {
            url: url.into(),
            session_token: SecretString::from("rgws_secret".to_owned()),
            expires_at: None,
            email: Some("a@example.com".into()),
        }
    }

    #[test]
    fn debug_output_never_shows_the_session_token() {
        let mut c = Config::default();
        c.racks.insert("prod".into(), login("http://x"));
        assert!(!format!("{c:?}").contains("rgws_secret"));
    }

    #[test]
    fn removing_the_current_rack_makes_another_current() {
        let mut c = Config::default();
        c.racks.insert("a".into(), login("http://a"));
        c.racks.insert("b".into(), login("http://b"));
        c.current = Some("b".into());
        assert!(c.remove("b").is_some());
        assert_eq!(c.current.as_deref(), Some("a"));
        c.remove("a");
        assert_eq!(c.current, None);
    }

    #[cfg(unix)]
    #[test]
    fn saving_writes_a_private_file_in_a_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/config.json");
        let mut c = Config::default();
        c.racks.insert("prod".into(), login("http://x"));
        c.current = Some("prod".into());
        c.save(&path).unwrap();
        c.save(&path).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let back = Config::load(&path).unwrap();
        assert_eq!(back.get(None).unwrap().1.url, "http://x");
        let entries = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1, "no temp files left behind");
    }
}
