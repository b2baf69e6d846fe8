//! Settings, flags and environment variables, named as oliver006/redis_exporter names them so a
//! deployment keeps its `REDIS_ADDR`, `REDIS_PASSWORD`, `REDIS_EXPORTER_CHECK_KEYS`, ...

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction};
use metrics_core::{LogConfig, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

/// redis_exporter's well-known port.
pub const PORT: u16 = 9121;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub redis: RedisConfig,
    /// Prefix of every metric name.
    pub namespace: String,
    /// Comma-separated `[dbN=]pattern` list; patterns are expanded with SCAN.
    pub check_keys: String,
    /// Comma-separated `[dbN=]key` list, read without SCAN.
    pub check_single_keys: String,
    /// COUNT hint of each SCAN call.
    pub check_keys_batch_size: u64,
    /// Most keys one `--check-keys` pattern may report; the SCAN stops there.
    pub check_keys_limit: usize,
    /// Adds `redis_total_system_memory_bytes`.
    pub include_system_metrics: bool,
    /// Longest time to establish a connection (the scrape timeout still bounds it).
    #[serde(with = "humantime_serde")]
    pub connection_timeout: Duration,
    /// CA certificate (PEM) for `rediss://` servers not signed by a system CA.
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificate and key (PEM) when the server wants TLS client authentication.
    pub tls_client_cert_file: Option<PathBuf>,
    pub tls_client_key_file: Option<PathBuf>,
    /// Accept any server certificate on `rediss://`.
    pub skip_tls_verification: bool,
    /// What `/scrape?target=` requests may ask for.
    pub scrape: ScrapeConfig,
}

/// Limits on `/scrape` requests: where they may send the configured credentials, and whether
/// they may choose keys to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Redis servers `/scrape?target=` may reach besides `redis.addr` and the addresses of the
    /// password file, written as `target=` takes them (`host:port`, `redis://host:port`,
    /// `unix:///path`); matched on host and port (or socket path).
    pub allowed_targets: Vec<String>,
    /// Whether `/scrape` honours `check-keys` / `check-single-keys` from the query string (off:
    /// such a request is refused with 403).
    pub allow_request_key_checks: bool,
    /// Most keys and patterns one request may name, both lists together.
    pub request_key_checks_limit: usize,
    /// Most keys the SCAN of one requested pattern may examine (the sum of its COUNT hints).
    pub request_key_scan_limit: u64,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        Self {
            allowed_targets: Vec::new(),
            allow_request_key_checks: false,
            request_key_checks_limit: 10,
            request_key_scan_limit: 10_000,
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user@]host:port[/db]`, `host:port` or `unix:///path/to/redis.sock`.
    pub addr: String,
    pub user: String,
    pub password: String,
    /// JSON object mapping Redis URIs to passwords (as upstream), or a file holding just the
    /// password (as a Docker secret does).
    pub password_file: Option<PathBuf>,
}

// Hand-written so that the password can never reach a log line through `{:?}`.
impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("addr", &metrics_core::secret::redact_url(&self.addr))
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            addr: "redis://localhost:6379".into(),
            user: String::new(),
            password: String::new(),
            password_file: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // One HTTP worker: scrapes are async and a Redis is scraped by one or two
            // Prometheus servers; each worker thread costs memory.
            web: WebConfig {
                workers: 1,
                ..WebConfig::on_port(PORT)
            },
            log: LogConfig::default(),
            redis: RedisConfig::default(),
            namespace: "redis".into(),
            check_keys: String::new(),
            check_single_keys: String::new(),
            check_keys_batch_size: 1000,
            check_keys_limit: 1000,
            include_system_metrics: false,
            connection_timeout: Duration::from_secs(15),
            tls_ca_cert_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
            skip_tls_verification: false,
            scrape: ScrapeConfig::default(),
        }
    }
}

impl ServiceConfig for Config {
    fn web(&self) -> &WebConfig {
        &self.web
    }
    fn log(&self) -> &LogConfig {
        &self.log
    }
}

/// The service's own flags; each id is its config key, each env var upstream's.
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new("redis.addr")
            .long("redis.addr")
            .env("REDIS_ADDR")
            // The address may carry a password: --help must not print it.
            .hide_env_values(true)
            .value_name("URI")
            .help("Address of the Redis instance to scrape (redis://host:port, host:port or unix:///path)"),
        Arg::new("redis.user")
            .long("redis.user")
            .env("REDIS_USER")
            .hide_env_values(true)
            .value_name("USER")
            .help("User name to authenticate with (Redis 6 ACL)"),
        Arg::new("redis.password")
            .long("redis.password")
            .env("REDIS_PASSWORD")
            .hide_env_values(true)
            .value_name("PASSWORD")
            .help("Password of the Redis instance to scrape"),
        Arg::new("redis.password_file")
            .long("redis.password-file")
            .env("REDIS_PASSWORD_FILE")
            .value_name("PATH")
            .help("JSON file mapping Redis URIs to passwords, or a file holding the password"),
        Arg::new("namespace")
            .long("namespace")
            .env("REDIS_EXPORTER_NAMESPACE")
            .value_name("NAME")
            .help("Namespace (prefix) of the metric names"),
        Arg::new("check_keys")
            .long("check-keys")
            .env("REDIS_EXPORTER_CHECK_KEYS")
            .value_name("LIST")
            .help("Comma-separated [dbN=]pattern list of keys to export size and value of, found with SCAN"),
        Arg::new("check_single_keys")
            .long("check-single-keys")
            .env("REDIS_EXPORTER_CHECK_SINGLE_KEYS")
            .value_name("LIST")
            .help("Comma-separated [dbN=]key list of keys to export size and value of"),
        Arg::new("check_keys_batch_size")
            .long("check-keys-batch-size")
            .env("REDIS_EXPORTER_CHECK_KEYS_BATCH_SIZE")
            .value_name("N")
            .help("COUNT of each SCAN call made for --check-keys"),
        Arg::new("check_keys_limit")
            .long("check-keys-limit")
            .env("REDIS_EXPORTER_CHECK_KEYS_LIMIT")
            .value_name("N")
            .help("Most keys one --check-keys pattern reports; scanning stops there"),
        Arg::new("include_system_metrics")
            .long("include-system-metrics")
            .env("REDIS_EXPORTER_INCL_SYSTEM_METRICS")
            .action(ArgAction::SetTrue)
            .help("Also export system metrics such as redis_total_system_memory_bytes"),
        Arg::new("connection_timeout")
            .long("connection-timeout")
            .env("REDIS_EXPORTER_CONNECTION_TIMEOUT")
            .value_name("DURATION")
            .help("Timeout for connecting to Redis (the scrape timeout still bounds it)"),
        Arg::new("tls_ca_cert_file")
            .long("tls-ca-cert-file")
            .env("REDIS_EXPORTER_TLS_CA_CERT_FILE")
            .value_name("PATH")
            .help("CA certificate (PEM) to verify rediss:// servers with, instead of the system's"),
        Arg::new("tls_client_cert_file")
            .long("tls-client-cert-file")
            .env("REDIS_EXPORTER_TLS_CLIENT_CERT_FILE")
            .value_name("PATH")
            .help("Client certificate (PEM) for servers that require TLS client authentication"),
        Arg::new("tls_client_key_file")
            .long("tls-client-key-file")
            .env("REDIS_EXPORTER_TLS_CLIENT_KEY_FILE")
            .value_name("PATH")
            .help("Key (PEM) of --tls-client-cert-file"),
        Arg::new("skip_tls_verification")
            .long("skip-tls-verification")
            .env("REDIS_EXPORTER_SKIP_TLS_VERIFICATION")
            .action(ArgAction::SetTrue)
            .help("Do not verify the certificate of rediss:// servers"),
        Arg::new("scrape.allowed_targets")
            .long("scrape.allowed-targets")
            .env("REDIS_EXPORTER_SCRAPE_ALLOWED_TARGETS")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .value_name("ADDR,...")
            .help("Redis servers /scrape?target= may reach (host:port, redis://host:port, unix:///path) besides --redis.addr and the password file's addresses; others get 403"),
        Arg::new("scrape.allow_request_key_checks")
            .long("scrape.allow-request-key-checks")
            .env("REDIS_EXPORTER_SCRAPE_ALLOW_REQUEST_KEY_CHECKS")
            .action(ArgAction::SetTrue)
            .help("Let /scrape requests choose keys to read with check-keys / check-single-keys (else 403)"),
        Arg::new("scrape.request_key_checks_limit")
            .long("scrape.request-key-checks-limit")
            .env("REDIS_EXPORTER_SCRAPE_REQUEST_KEY_CHECKS_LIMIT")
            .value_name("N")
            .help("Most keys and patterns one /scrape request may name (more: 403)"),
        Arg::new("scrape.request_key_scan_limit")
            .long("scrape.request-key-scan-limit")
            .env("REDIS_EXPORTER_SCRAPE_REQUEST_KEY_SCAN_LIMIT")
            .value_name("N")
            .help("Most keys the SCAN of one pattern from a /scrape request may examine"),
    ]
}

/// Rewrites redis_exporter's Go-style command line into ours: single-dash long flags
/// (`-redis.addr=x`, `-check-keys x`) get a second dash, `-debug` becomes `--log.level=debug`
/// and `-log-format=txt|json` becomes `--log.format=logfmt|json`. Everything else is left as is.
pub fn upstream_style_args<I: IntoIterator<Item = std::ffi::OsString>>(
    argv: I,
) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut after_log_format = false;
    for (i, arg) in argv.into_iter().enumerate() {
        let Some(text) = arg.to_str().map(str::to_string) else {
            out.push(arg);
            continue;
        };
        if after_log_format {
            after_log_format = false;
            out.push(log_format(&text).into());
            continue;
        }
        let single_dash =
            i > 0 && text.len() > 2 && text.starts_with('-') && !text.starts_with("--");
        if !single_dash {
            out.push(arg);
            continue;
        }
        let (name, value) = match text[1..].split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (text[1..].to_string(), None),
        };
        match (name.as_str(), value) {
            ("debug", None) => out.push("--log.level=debug".into()),
            ("log-format", Some(v)) => out.push(format!("--log.format={}", log_format(&v)).into()),
            ("log-format", None) => {
                out.push("--log.format".into());
                after_log_format = true;
            }
            (_, _) => out.push(format!("-{text}").into()),
        }
    }
    out
}

fn log_format(upstream: &str) -> &str {
    match upstream {
        "txt" => "logfmt",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn rewrite(args: &[&str]) -> Vec<String> {
        upstream_style_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_style_flags_become_clap_style() {
        assert_eq!(
            rewrite(&[
                "redis-exporter",
                "-redis.addr=redis://h:1",
                "-check-keys",
                "a*",
                "-debug",
                "-log-format",
                "txt",
                "--namespace=x",
                "-h"
            ]),
            [
                "redis-exporter",
                "--redis.addr=redis://h:1",
                "--check-keys",
                "a*",
                "--log.level=debug",
                "--log.format",
                "logfmt",
                "--namespace=x",
                "-h"
            ]
        );
        assert_eq!(
            rewrite(&["x", "-log-format=json"]),
            ["x", "--log.format=json"]
        );
    }

    #[test]
    fn the_password_is_hidden_from_debug_output() {
        let config = RedisConfig {
            password: "hunter2".into(),
            addr: "redis://u:pw-in-url@h:1".into(),
            ..RedisConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw-in-url"),
            "{shown}"
        );
    }
}
