//! Settings, with every default in one place, and the flags that set them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Arg;
use metrics_core::secret::redact_url;
use metrics_core::{LogConfig, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub docker_api: DockerApiConfig,
    pub alertmanager: AlertmanagerConfig,
    pub access: crate::access::AccessConfig,
    pub prometheus: crate::history::PrometheusConfig,
    pub grafana: crate::history::GrafanaConfig,
}

impl Default for Config {
    fn default() -> Self {
        let mut web = WebConfig::on_port(3000);
        // Serving files and forwarding streams is I/O only.
        web.workers = 2;
        Self {
            web,
            log: LogConfig::default(),
            docker_api: DockerApiConfig::default(),
            alertmanager: AlertmanagerConfig::default(),
            access: Default::default(),
            prometheus: Default::default(),
            grafana: Default::default(),
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

    fn validate(&self) -> Result<(), metrics_core::ConfigError> {
        self.check()
            .map_err(|why| metrics_core::ConfigError::Invalid {
                key: "configuration".into(),
                why,
            })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerApiConfig {
    /// Where `/api/*` is forwarded.
    pub url: String,
    /// Longest time a forwarded request may take (for the event stream: until its headers).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The event stream is closed when nothing (not even docker-api's heartbeat) came this long.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// Event streams relayed at once; more get 503. docker-api sees all of them from this
    /// service's address: keep this at most its `api.max_stream_clients_per_address`.
    pub max_streams: usize,
    /// Event streams relayed at once to one browser address; more get 429.
    pub max_streams_per_address: usize,
    /// A relayed stream whose browser has not taken a chunk for this long is dropped (and its
    /// docker-api stream closed).
    #[serde(with = "humantime_serde")]
    pub stream_write_deadline: Duration,
    /// The largest answer forwarded from docker-api (and read from Alertmanager), in bytes; a
    /// longer one is a 502.
    pub max_body_bytes: u64,
    /// The CA certificate (PEM) docker-api's certificate is checked with; needed for https://.
    pub ca_file: Option<PathBuf>,
    /// Basic-auth user for docker-api (with `password_file`).
    pub username: String,
    /// The file holding that user's password.
    pub password_file: Option<PathBuf>,
}

impl Default for DockerApiConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:3001".into(),
            timeout: Duration::from_secs(10),
            stream_idle_timeout: Duration::from_secs(60),
            max_streams: 32,
            max_streams_per_address: 8,
            stream_write_deadline: Duration::from_secs(30),
            max_body_bytes: 16 * 1024 * 1024,
            ca_file: None,
            username: String::new(),
            password_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL; empty: no alerts panel.
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The CA certificate (PEM) Alertmanager's certificate is checked with; needed for https://.
    pub ca_file: Option<PathBuf>,
    /// Basic-auth user for Alertmanager (with `password_file`).
    pub username: String,
    /// The file holding that user's password.
    pub password_file: Option<PathBuf>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout: Duration::from_secs(5),
            ca_file: None,
            username: String::new(),
            password_file: None,
        }
    }
}

impl Config {
    /// Rejects settings that cannot work, naming the key.
    pub fn check(&self) -> Result<(), String> {
        check_url(
            "docker_api.url",
            &self.docker_api.url,
            self.docker_api.ca_file.is_some(),
        )?;
        if !self.alertmanager.url.is_empty() {
            check_url(
                "alertmanager.url",
                &self.alertmanager.url,
                self.alertmanager.ca_file.is_some(),
            )?;
        }
        self.prometheus.check()?;
        self.grafana.check()?;
        self.access.check()?;
        let timeouts = [
            self.docker_api.timeout,
            self.docker_api.stream_idle_timeout,
            self.alertmanager.timeout,
        ];
        if timeouts.iter().any(Duration::is_zero) {
            return Err("docker_api.timeout, docker_api.stream_idle_timeout and alertmanager.timeout must be above 0".into());
        }
        if self.docker_api.max_streams == 0 || self.docker_api.max_streams_per_address == 0 {
            return Err(
                "docker_api.max_streams and docker_api.max_streams_per_address must be above 0"
                    .into(),
            );
        }
        if self.docker_api.stream_write_deadline < Duration::from_millis(100) {
            return Err("docker_api.stream_write_deadline must be at least 100ms".into());
        }
        if self.docker_api.max_body_bytes < 1024 {
            return Err("docker_api.max_body_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

fn check_url(key: &str, url: &str, has_ca: bool) -> Result<(), String> {
    // The URL may carry a password: messages show it redacted.
    let shown = redact_url(url);
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{key}: {shown:?} is not a URL: {e}"))?;
    match (parsed.scheme(), has_ca) {
        ("http", _) | ("https", true) => {}
        ("https", false) => {
            return Err(format!(
                "{key}: an https:// URL needs the CA file its certificate is checked with (ca_file)"
            ))
        }
        _ => {
            return Err(format!(
                "{key}: only http:// and https:// URLs are supported, not {shown:?}"
            ))
        }
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{key}: {shown:?} must have no query or fragment"));
    }
    Ok(())
}

/// The service's own flags; each id is its config key.
pub fn args() -> Vec<Arg> {
    let mut args = vec![
        Arg::new("docker_api.url")
            .long("docker-api.url")
            .value_name("URL")
            .help("docker-api's base URL; /api/* is forwarded there"),
        Arg::new("docker_api.timeout")
            .long("docker-api.timeout")
            .value_name("DURATION")
            .help(
                "Longest time a forwarded request may take (the event stream: until its headers)",
            ),
        Arg::new("docker_api.stream_idle_timeout")
            .long("docker-api.stream-idle-timeout")
            .value_name("DURATION")
            .help("Close a forwarded event stream after this long without data"),
        Arg::new("docker_api.max_streams")
            .long("docker-api.max-streams")
            .value_name("N")
            .help("Event streams relayed at once; more are answered 503 (at most docker-api's --api.max-stream-clients-per-address)"),
        Arg::new("docker_api.max_streams_per_address")
            .long("docker-api.max-streams-per-address")
            .value_name("N")
            .help("Event streams relayed at once to one browser address; more are answered 429"),
        Arg::new("docker_api.stream_write_deadline")
            .long("docker-api.stream-write-deadline")
            .value_name("DURATION")
            .help("Drop a relayed event stream whose browser has not taken data for this long"),
        Arg::new("docker_api.max_body_bytes")
            .long("docker-api.max-body-bytes")
            .value_name("BYTES")
            .help("The largest answer forwarded from docker-api or read from Alertmanager; more is a 502"),
        Arg::new("docker_api.ca_file")
            .long("docker-api.ca-file")
            .value_name("FILE")
            .help("CA certificate (PEM) docker-api's TLS certificate is checked with (for https://)"),
        Arg::new("docker_api.username")
            .long("docker-api.username")
            .value_name("USER")
            .help("Basic-auth user for docker-api (with --docker-api.password-file)"),
        Arg::new("docker_api.password_file")
            .long("docker-api.password-file")
            .value_name("FILE")
            .help("File holding the basic-auth password for docker-api"),
        Arg::new("alertmanager.ca_file")
            .long("alertmanager.ca-file")
            .value_name("FILE")
            .help("CA certificate (PEM) Alertmanager's TLS certificate is checked with (for https://)"),
        Arg::new("alertmanager.username")
            .long("alertmanager.username")
            .value_name("USER")
            .help("Basic-auth user for Alertmanager (with --alertmanager.password-file)"),
        Arg::new("alertmanager.password_file")
            .long("alertmanager.password-file")
            .value_name("FILE")
            .help("File holding the basic-auth password for Alertmanager"),
        Arg::new("alertmanager.url")
            .long("alertmanager.url")
            .value_name("URL")
            .help("Alertmanager's base URL for the firing-alerts panel (empty: no panel)"),
        Arg::new("alertmanager.timeout")
            .long("alertmanager.timeout")
            .value_name("DURATION")
            .help("Longest time a request to Alertmanager may take"),
    ];
    args.extend(crate::history::args());
    args.extend(crate::access::args());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_the_check() {
        assert_eq!(Config::default().check(), Ok(()));
        assert_eq!(Config::default().web.listen_address, ":3000");
    }

    #[test]
    fn rejects_https_and_urls_with_a_query() {
        let mut config = Config::default();
        config.docker_api.url = "https://docker-api:3001".into();
        assert!(config.check().unwrap_err().contains("ca_file"));
        config.docker_api.ca_file = Some("/etc/ca.pem".into());
        assert_eq!(config.check(), Ok(()));
        config.docker_api.url = "ftp://docker-api:3001".into();
        assert!(config.check().is_err());
        config.docker_api.url = "http://docker-api:3001/?x=1".into();
        assert!(config.check().is_err());
        config.docker_api.url = "http://docker-api:3001".into();
        config.alertmanager.url = "not a url".into();
        assert!(config.check().unwrap_err().contains("alertmanager.url"));
    }
}
