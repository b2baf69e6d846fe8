//! Typed configuration layered as defaults < config file < environment < command-line flags.
//!
//! The layering is done by the `config` crate: it coerces the strings that come from flags and
//! environment variables into the typed fields, and `deny_unknown_fields` on every struct turns a
//! misspelt key into an error naming it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What every service's config struct must offer to the shared server and logging.
pub trait ServiceConfig: Serialize + DeserializeOwned + Default {
    fn web(&self) -> &WebConfig;
    fn log(&self) -> &LogConfig;

    /// The web settings the server really uses, when a service-specific flag changes them (e.g.
    /// cAdvisor's `--port`); the `healthcheck` subcommand calls the same address.
    fn effective_web(&self) -> WebConfig {
        self.web().clone()
    }

    /// Checks what the types cannot (ranges, URLs, combinations); an error names the setting.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// HTTP serving settings (`web.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address to listen on; `:9100` means every interface, as with the Go exporters.
    pub listen_address: String,
    /// Path under which metrics are exposed.
    pub telemetry_path: String,
    /// Upper bound for one scrape; Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` lowers it.
    #[serde(with = "humantime_serde")]
    pub scrape_timeout: Duration,
    /// HTTP worker threads.
    pub workers: usize,
    /// Requests served at once on the metric paths (node_exporter's `--web.max-requests`); more
    /// get 503 at once. 0 means no limit.
    pub max_requests: usize,
    /// The exporter-toolkit web configuration file (TLS, basic auth, headers), re-read when it
    /// changes; none: plain HTTP, no authentication.
    pub config_file: Option<PathBuf>,
    /// A connection whose peer takes none of the data sent to it for this long (a client that
    /// stopped reading a stream or a scrape) is closed by the kernel (`TCP_USER_TIMEOUT`), so it
    /// gives back its socket, not only its request. 0s: no deadline.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Time a client has to send a request's head; slower clients (slowloris) get 408 and
    /// their connection is closed.
    #[serde(with = "humantime_serde")]
    pub request_header_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests. Longer than the usual
    /// scrape intervals (15 s to 1 min), so Prometheus reuses its connection for the next scrape
    /// instead of paying a new TLS handshake each time (node_exporter never closes idle ones).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl WebConfig {
    /// Defaults for a service whose well-known port is `port`.
    pub fn on_port(port: u16) -> Self {
        Self {
            listen_address: format!(":{port}"),
            ..Self::default()
        }
    }

    /// The socket addresses to bind: `:PORT` binds every IPv4 and IPv6 interface.
    pub fn bind_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        let invalid = |why: &str| ConfigError::Invalid {
            key: "web.listen_address".into(),
            why: format!("{:?}: {why}", self.listen_address),
        };
        if let Some(port) = self.listen_address.strip_prefix(':') {
            let port: u16 = port.parse().map_err(|_| invalid("port is not a number"))?;
            return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
        }
        let addrs: Vec<SocketAddr> = self
            .listen_address
            .to_socket_addrs()
            .map_err(|e| invalid(&e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(invalid("resolves to no address"));
        }
        Ok(addrs)
    }

    /// Where a local client (the healthcheck subcommand) reaches this server.
    pub fn local_url(&self, path: &str) -> Result<String, ConfigError> {
        let addr = self.bind_addrs()?[0];
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        Ok(format!("http://{host}:{}{path}", addr.port()))
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen_address: ":8000".into(),
            telemetry_path: "/metrics".into(),
            scrape_timeout: Duration::from_secs(10),
            workers: 2,
            max_requests: 40,
            config_file: None,
            write_timeout: Duration::from_secs(30),
            request_header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Logging settings (`log.*`), named like the Go exporters' `--log.level` and `--log.format`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    File {
        path: PathBuf,
        source: config::ConfigError,
    },
    #[error("configuration: {0}")]
    Layering(#[from] config::ConfigError),
    #[error("{key}: {why}")]
    Invalid { key: String, why: String },
}

/// One value set from the command line or an environment variable, keyed by its config path.
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    One(String),
    Many(Vec<String>),
}

/// Builds `C` from its defaults, an optional config file (YAML, TOML or JSON by extension), the
/// generic environment (`{env_prefix}_{SECTION}__{KEY}`) and the overrides from flags and
/// upstream-named environment variables, in that order of precedence.
pub fn load<C>(
    env_prefix: &str,
    file: Option<&Path>,
    overrides: &[(String, Override)],
) -> Result<C, ConfigError>
where
    C: Serialize + DeserializeOwned + Default,
{
    let mut builder =
        config::Config::builder().add_source(config::Config::try_from(&C::default())?);
    if let Some(path) = file {
        builder = builder.add_source(config_file(path)?);
    }
    // Only `{PREFIX}_SECTION__KEY` variables: a single-underscore name such as
    // `REDIS_EXPORTER_WEB_LISTEN_ADDRESS` is an upstream flag's variable, read by clap, and
    // would otherwise be taken as an unknown top-level key.
    let lead = format!("{env_prefix}_");
    let generic: config::Map<String, String> = std::env::vars()
        .filter(|(name, _)| {
            name.strip_prefix(&lead)
                .is_some_and(|rest| rest.contains("__"))
        })
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix(env_prefix)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(generic)),
    );
    for (key, value) in overrides {
        builder = match value {
            Override::One(v) => builder.set_override(key.as_str(), v.as_str())?,
            Override::Many(vs) => builder.set_override(key.as_str(), vs.clone())?,
        };
    }
    let layered = builder.build().map_err(|e| match file {
        Some(path) => ConfigError::File {
            path: path.to_path_buf(),
            source: e,
        },
        None => ConfigError::Layering(e),
    })?;
    Ok(layered.try_deserialize()?)
}

/// A config file as a source: a regular file of at most 1 MiB (a device or a FIFO named by
/// mistake must not hang or exhaust the start-up), its format from its extension.
fn config_file(
    path: &Path,
) -> Result<config::File<config::FileSourceString, config::FileFormat>, ConfigError> {
    let failed = |why: String| ConfigError::File {
        path: path.to_path_buf(),
        source: config::ConfigError::Message(why),
    };
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => config::FileFormat::Yaml,
        Some("toml") => config::FileFormat::Toml,
        Some("json") => config::FileFormat::Json,
        _ => {
            return Err(failed(
                "the name must end in .yaml, .yml, .toml or .json".into(),
            ))
        }
    };
    let bytes = crate::web_config::read_capped(path).map_err(failed)?;
    let text = String::from_utf8(bytes).map_err(|_| failed("not UTF-8 text".into()))?;
    Ok(config::File::from_str(&text, format))
}

/// For `#[serde(deserialize_with = "metrics_core::config::one_or_many")]`: a list (from a
/// config file or repeated flags), or one comma-separated string (as an environment variable
/// gives it); blank items are dropped.
pub fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

/// Flattens the defaults of a config into `section.key -> value` for `--help`.
pub fn flatten_defaults<C: Serialize + Default>() -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            serde_json::Value::Array(items) => {
                let joined: Vec<String> = items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect();
                out.push((prefix.to_string(), joined.join(",")));
            }
            serde_json::Value::Null => {}
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(C::default()) {
        walk("", &value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        web: WebConfig,
        log: LogConfig,
        name: String,
    }

    #[test]
    fn a_list_comes_as_a_list_or_one_comma_separated_string() {
        #[derive(Deserialize)]
        struct Hosts {
            #[serde(deserialize_with = "one_or_many")]
            hosts: Vec<String>,
        }
        let parse = |v| serde_json::from_value::<Hosts>(v).unwrap().hosts;
        assert_eq!(parse(serde_json::json!({"hosts": " a, b ,,"})), ["a", "b"]);
        assert_eq!(parse(serde_json::json!({"hosts": ["a, b"]})), ["a, b"]);
        assert!(parse(serde_json::json!({"hosts": ""})).is_empty());
    }

    #[test]
    fn defaults_survive_layering() {
        let c: Sample = load("CMTEST_A", None, &[]).unwrap();
        assert_eq!(c, Sample::default());
    }

    #[test]
    fn file_then_flags_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(
            &path,
            "web:\n  listen_address: ':9999'\n  scrape_timeout: 3s\nname: from-file\n",
        )
        .unwrap();
        let c: Sample = load(
            "CMTEST_B",
            Some(&path),
            &[("name".into(), Override::One("from-flag".into()))],
        )
        .unwrap();
        assert_eq!(c.web.listen_address, ":9999");
        assert_eq!(c.web.scrape_timeout, Duration::from_secs(3));
        assert_eq!(c.name, "from-flag");
    }

    #[test]
    fn unknown_key_in_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "web:\n  listen_adress: ':1'\n").unwrap();
        let err = load::<Sample>("CMTEST_C", Some(&path), &[]).unwrap_err();
        assert!(err.to_string().contains("listen_adress"), "{err}");
    }

    #[test]
    fn single_underscore_variables_under_the_prefix_are_not_config_keys() {
        // Upstream flag variables such as REDIS_EXPORTER_WEB_LISTEN_ADDRESS are clap's business.
        std::env::set_var("CMTEST_E_WEB_LISTEN_ADDRESS", ":1234");
        std::env::set_var("CMTEST_E_WEB__LISTEN_ADDRESS", ":5678");
        let c: Sample = load("CMTEST_E", None, &[]).unwrap();
        assert_eq!(c.web.listen_address, ":5678");
    }

    #[test]
    fn a_config_file_that_is_a_device_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("settings.yaml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = load::<Sample>("TEST_DEVICE", Some(&link), &[]).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
        let err = load::<Sample>("TEST_DEVICE", Some(&big), &[]).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn bad_duration_is_an_error() {
        let err = load::<Sample>(
            "CMTEST_D",
            None,
            &[("web.scrape_timeout".into(), Override::One("soon".into()))],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("soon") || err.to_string().contains("scrape_timeout"),
            "{err}"
        );
    }

    #[test]
    fn colon_port_binds_all_interfaces_and_health_uses_loopback() {
        let web = WebConfig::on_port(9100);
        assert_eq!(
            web.bind_addrs().unwrap(),
            vec![SocketAddr::from(([0, 0, 0, 0], 9100))]
        );
        assert_eq!(
            web.local_url("/health").unwrap(),
            "http://127.0.0.1:9100/health"
        );
    }

    #[test]
    fn defaults_flatten_to_dotted_keys() {
        let flat = flatten_defaults::<Sample>();
        assert!(flat.contains(&("web.listen_address".into(), ":8000".into())));
        assert!(flat.contains(&("log.level".into(), "info".into())));
    }
}
