//! The web configuration file of the Prometheus exporter-toolkit (`--web.config.file`): TLS,
//! client certificates, basic-auth users with bcrypt hashes, response headers and a rate limit,
//! in the same YAML that node_exporter, postgres_exporter and redis_exporter read, so one file
//! serves a whole fleet. Unknown keys are errors naming the key.
//!
//! Like upstream, the file is read again when it changes: users, headers and the rate limit on
//! the next request, certificates on the next TLS handshake. Whether TLS is on is decided at
//! start-up. File paths inside it are relative to the file's own directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// The largest web configuration file or certificate read (a device file or a huge file given by
/// mistake must not exhaust memory).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Headers upstream lets a file set, with the values it accepts (empty: any value).
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfigFile {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: HttpServerConfig,
    /// User name -> bcrypt hash. Empty: no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimit>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Inline PEM certificate (instead of `cert_file`).
    pub cert: Option<String>,
    /// Inline PEM key (instead of `key_file`).
    pub key: Option<String>,
    /// Inline PEM client CA (instead of `client_ca_file`).
    pub client_ca: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_auth_type: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    pub client_allowed_sans: Vec<String>,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    pub cipher_suites: Vec<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub curve_preferences: Vec<String>,
}

/// Go's `tls.ClientAuthType` names, as the file spells them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    #[default]
    #[serde(alias = "")]
    NoClientCert,
    RequestClientCert,
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// `TLS10` .. `TLS13`. rustls speaks TLS 1.2 and 1.3 only: a minimum below 1.2 means 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// `http_server_config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    pub http2: bool,
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            http2: true,
            headers: BTreeMap::new(),
        }
    }
}

/// `rate_limit`: a token bucket over all requests; `interval` 0 disables it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub burst: u32,
}

/// What is wrong with a web configuration file. Messages name the key or file, never a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebConfigError {
    #[error("web config file {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("web config file {path}: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("web config file {path}: {key}: {why}")]
    Invalid {
        path: PathBuf,
        key: String,
        why: String,
    },
}

impl WebConfigFile {
    /// Parses and validates the YAML text of a file at `path` (for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self, WebConfigError> {
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| WebConfigError::Parse {
                path: path.to_path_buf(),
                why: parse_error_text(&e),
            })?
        };
        file.validate(path)?;
        Ok(file)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let bytes = read_capped(path).map_err(|why| WebConfigError::Read {
            path: path.to_path_buf(),
            why,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| WebConfigError::Read {
            path: path.to_path_buf(),
            why: "not UTF-8 text".into(),
        })?;
        Self::parse(path, &text)
    }

    fn validate(&self, path: &Path) -> Result<(), WebConfigError> {
        let invalid = |key: &str, why: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            why,
        };
        for (name, value) in &self.http_server_config.headers {
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(h, _)| h == name) else {
                return Err(invalid(
                    "http_server_config.headers",
                    format!("HTTP header {name:?} can not be configured"),
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(invalid(
                    "http_server_config.headers",
                    format!("{name} must be one of {allowed:?}"),
                ));
            }
        }
        for (user, hash) in &self.basic_auth_users {
            if bcrypt_cost(hash).is_none() {
                // The hash is a secret-equivalent: name the user, not the value.
                return Err(invalid(
                    "basic_auth_users",
                    format!("the password of {user:?} is not a bcrypt hash"),
                ));
            }
        }
        if let Some(tls) = &self.tls_server_config {
            tls.validate().map_err(|(key, why)| invalid(key, why))?;
        }
        if let Some(limit) = &self.rate_limit {
            if !limit.interval.is_zero() && limit.burst == 0 {
                return Err(invalid("rate_limit.burst", "must be above 0".into()));
            }
        }
        Ok(())
    }
}

impl TlsServerConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        match (&self.cert, &self.cert_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "tls_server_config",
                    "cert and cert_file are exclusive".into(),
                ))
            }
            (None, None) => {
                return Err((
                    "tls_server_config",
                    "missing one of cert or cert_file".into(),
                ))
            }
            _ => {}
        }
        match (&self.key, &self.key_file) {
            (Some(_), Some(_)) => {
                return Err(("tls_server_config", "key and key_file are exclusive".into()))
            }
            (None, None) => {
                return Err(("tls_server_config", "missing one of key or key_file".into()))
            }
            _ => {}
        }
        if self.client_ca.is_some() && self.client_ca_file.is_some() {
            return Err((
                "tls_server_config",
                "client_ca and client_ca_file are exclusive".into(),
            ));
        }
        let has_ca = self.client_ca.is_some() || self.client_ca_file.is_some();
        if has_ca && self.client_auth_type == ClientAuth::NoClientCert {
            return Err((
                "tls_server_config.client_auth_type",
                "client CA's have been configured without a Client Auth Policy".into(),
            ));
        }
        let verifies = matches!(
            self.client_auth_type,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        );
        if verifies && !has_ca {
            return Err((
                "tls_server_config.client_ca_file",
                "needed to verify client certificates".into(),
            ));
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version) {
            if min > max {
                return Err((
                    "tls_server_config.min_version",
                    "is above max_version".into(),
                ));
            }
        }
        if self.max_version.is_some_and(|v| v < TlsVersion::TLS12) {
            return Err((
                "tls_server_config.max_version",
                "below TLS12, which this server does not speak".into(),
            ));
        }
        for suite in &self.cipher_suites {
            if crate::go_tls_names::cipher_suite(suite).is_none() {
                return Err((
                    "tls_server_config.cipher_suites",
                    format!("unknown cipher: {suite}"),
                ));
            }
        }
        for curve in &self.curve_preferences {
            if crate::go_tls_names::curve(curve).is_none() {
                return Err((
                    "tls_server_config.curve_preferences",
                    format!("unknown or unsupported curve: {curve}"),
                ));
            }
        }
        Ok(())
    }
}

/// The cost of a bcrypt hash (`$2a$`, `$2b$`, `$2y$`, `$2x$`), or `None` if it is not one.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash.strip_prefix("$2")?;
    let rest = rest.strip_prefix(['a', 'b', 'x', 'y'])?;
    let rest = rest.strip_prefix('$')?;
    let (cost, tail) = rest.split_once('$')?;
    (tail.len() == 53).then_some(())?;
    cost.parse().ok().filter(|c| (4..=31).contains(c))
}

/// serde_yaml's message without the value it quotes (a value may be a secret).
fn parse_error_text(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match text.find("invalid value: string") {
        Some(i) => format!("{}invalid value", &text[..i]),
        None => text,
    }
}

/// Reads at most [`MAX_FILE_BYTES`] of a regular file.
pub fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// `path` resolved against the directory of the web configuration file.
pub(crate) fn relative_to(config: &Path, path: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// The file as last read, re-read when its modification time or size changes. A file that
/// became invalid keeps the last good contents in force and is reported (upstream answers 500
/// then; keeping the last good one keeps the service protected and scrapable).
pub struct WatchedWebConfig {
    path: PathBuf,
    state: Mutex<(Option<Stamp>, Arc<WebConfigFile>)>,
}

impl WatchedWebConfig {
    /// Reads the file once; an error here stops the service from starting.
    pub fn open(path: &Path) -> Result<Self, WebConfigError> {
        let stamp = stamp(path);
        let file = WebConfigFile::load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            state: Mutex::new((stamp, Arc::new(file))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current contents, re-read first if the file changed.
    pub fn current(&self) -> Arc<WebConfigFile> {
        let now = stamp(&self.path);
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if now.is_some() && now != state.0 {
            match WebConfigFile::load(&self.path) {
                Ok(file) => {
                    tracing::info!(file = %self.path.display(), "web config file changed; reloaded");
                    *state = (now, Arc::new(file));
                }
                Err(e) => {
                    tracing::error!(error = %e, "web config file changed but is invalid; keeping the last good one");
                    state.0 = now;
                }
            }
        }
        state.1.clone()
    }
}

/// A file's modification time and size: what tells that it changed.
type Stamp = (SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

    fn parse(text: &str) -> Result<WebConfigFile, WebConfigError> {
        WebConfigFile::parse(Path::new("/etc/web.yml"), text)
    }

    #[test]
    fn upstreams_example_file_parses() {
        let file = parse(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  alice: {HASH}\n\
             rate_limit:\n  interval: 1s\n  burst: 20\n"
        ))
        .unwrap();
        assert_eq!(file.basic_auth_users.len(), 1);
        let tls = file.tls_server_config.unwrap();
        assert_eq!(tls.cert_file.as_deref(), Some(Path::new("server.crt")));
        assert_eq!(tls.client_auth_type, ClientAuth::NoClientCert);
        assert!(file.http_server_config.http2);
        assert_eq!(file.rate_limit.unwrap().burst, 20);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  cert_flie: c\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cert_flie"), "{err}");
        let err = parse("basic_auth:\n  a: b\n").unwrap_err().to_string();
        assert!(err.contains("basic_auth"), "{err}");
    }

    #[test]
    fn a_user_whose_hash_is_not_bcrypt_is_named_without_the_value() {
        let err = parse("basic_auth_users:\n  bob: plaintext-secret\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bob"), "{err}");
        assert!(!err.contains("plaintext-secret"), "{err}");
    }

    #[test]
    fn headers_follow_upstreams_rules() {
        assert!(parse("http_server_config:\n  headers:\n    X-Frame-Options: deny\n").is_ok());
        assert!(parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").is_err());
        assert!(parse("http_server_config:\n  headers:\n    Server: mine\n").is_err());
    }

    #[test]
    fn tls_needs_a_certificate_and_a_key_and_a_ca_needs_a_policy() {
        assert!(parse("tls_server_config:\n  cert_file: a\n").is_err());
        assert!(parse("tls_server_config:\n  key_file: a\n").is_err());
        let err = parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_auth_type"), "{err}");
        assert!(parse(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Bogus\n"
        )
        .is_err());
        assert!(parse(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n"
        )
        .is_err());
    }

    #[test]
    fn bcrypt_hashes_are_recognised() {
        assert_eq!(bcrypt_cost(HASH), Some(10));
        assert_eq!(bcrypt_cost("$2b$04$abc"), None);
        assert_eq!(
            bcrypt_cost("$1$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"),
            None
        );
    }

    #[test]
    fn device_files_are_not_read() {
        assert!(read_capped(Path::new("/dev/zero")).is_err());
    }
}
