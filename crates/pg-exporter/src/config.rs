//! Settings, named as postgres_exporter names them (flags and environment variables), and the
//! data sources they describe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Arg, ArgAction};
use metrics_core::{LogConfig, Service, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

use crate::collectors::Collector;
use crate::dsn::Dsn;

pub const SERVICE: Service = Service {
    name: "pg-exporter",
    about: "Prometheus exporter for PostgreSQL server metrics (a drop-in replacement for postgres_exporter)",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "PG_EXPORTER",
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub data_source: DataSourceConfig,
    pub extend: ExtendConfig,
    pub probe: ProbeConfig,
    /// Also scrape every other database of each server (per-database collectors and custom
    /// queries without `master: true`).
    pub auto_discover_databases: bool,
    pub exclude_databases: Vec<String>,
    /// When not empty, only these databases are discovered.
    pub include_databases: Vec<String>,
    /// Turn every built-in collector off except `settings` (custom queries still run).
    pub disable_default_metrics: bool,
    pub disable_settings_metrics: bool,
    /// `label=value,label2=value2` added to every PostgreSQL metric.
    pub constant_labels: String,
    /// Server-side limit for each query; kept below the scrape timeout.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    pub collectors: BTreeMap<String, bool>,
    /// Credentials for `/probe?target=...&auth_module=NAME`, in the shape of postgres_exporter's
    /// `auth_modules` file.
    pub auth_modules: BTreeMap<String, AuthModule>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // One HTTP worker: scrapes are async (queries pipelined on the target's connection)
            // and each worker thread costs a runtime and a malloc arena.
            web: WebConfig {
                workers: 1,
                ..WebConfig::on_port(9187)
            },
            log: LogConfig::default(),
            data_source: DataSourceConfig::default(),
            extend: ExtendConfig::default(),
            probe: ProbeConfig::default(),
            auto_discover_databases: false,
            exclude_databases: Vec::new(),
            include_databases: Vec::new(),
            disable_default_metrics: false,
            disable_settings_metrics: false,
            constant_labels: String::new(),
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            collectors: Collector::ALL
                .iter()
                .map(|c| (c.name().to_string(), c.default_enabled()))
                .collect(),
            auth_modules: BTreeMap::new(),
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

/// Where PostgreSQL is: postgres_exporter's `DATA_SOURCE_*` variables.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSourceConfig {
    /// Connection strings (URI or key=value), comma-separated.
    pub name: String,
    /// `host:port/db?params` without credentials, comma-separated.
    pub uri: String,
    pub user: String,
    pub pass: String,
    pub user_file: String,
    pub pass_file: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtendConfig {
    /// A custom queries YAML file.
    pub query_path: String,
}

/// What `/probe` may reach.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// `host:port` or `host` (any port) entries `/probe?target=` may name, besides the
    /// configured data sources (always allowed). Empty: only the configured data sources.
    pub allowed_targets: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthModule {
    #[serde(rename = "type")]
    pub kind: String,
    pub userpass: UserPass,
    /// Extra connection parameters (`sslmode: disable`).
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserPass {
    pub username: String,
    pub password: String,
}

impl AuthModule {
    pub fn apply(&self, dsn: &mut Dsn) {
        if !self.userpass.username.is_empty() {
            dsn.user = Some(self.userpass.username.clone());
        }
        if !self.userpass.password.is_empty() {
            dsn.password = Some(self.userpass.password.clone());
        }
        for (k, v) in &self.options {
            dsn.set_param(k, v);
        }
    }
}

/// The service's own flags (metrics-core adds web and log ones). Ids are config keys.
pub fn args() -> Vec<Arg> {
    let secret = |id: &'static str, long: &'static str, env: &'static str, help: &'static str| {
        Arg::new(id)
            .long(long)
            .env(env)
            .hide_env_values(true)
            .value_name("VALUE")
            .help(help)
    };
    let flag = |id: &'static str, long: &'static str, env: &'static str, help: &'static str| {
        Arg::new(id)
            .long(long)
            .env(env)
            .action(ArgAction::SetTrue)
            .help(help)
    };
    let mut args = vec![
        secret(
            "data_source.name",
            "data-source.name",
            "DATA_SOURCE_NAME",
            "PostgreSQL connection strings (URI or key=value), comma-separated",
        ),
        secret(
            "data_source.uri",
            "data-source.uri",
            "DATA_SOURCE_URI",
            "host:port/dbname?params without credentials, comma-separated (used when DATA_SOURCE_NAME is empty)",
        ),
        secret("data_source.user", "data-source.user", "DATA_SOURCE_USER", "User for DATA_SOURCE_URI"),
        secret("data_source.pass", "data-source.pass", "DATA_SOURCE_PASS", "Password for DATA_SOURCE_URI"),
        secret(
            "data_source.user_file",
            "data-source.user-file",
            "DATA_SOURCE_USER_FILE",
            "File holding the user for DATA_SOURCE_URI (Docker secrets)",
        ),
        secret(
            "data_source.pass_file",
            "data-source.pass-file",
            "DATA_SOURCE_PASS_FILE",
            "File holding the password for DATA_SOURCE_URI (Docker secrets)",
        ),
        Arg::new("extend.query_path")
            .long("extend.query-path")
            .env("PG_EXPORTER_EXTEND_QUERY_PATH")
            .value_name("PATH")
            .help("Path to a custom queries YAML file (postgres_exporter's format)"),
        Arg::new("probe.allowed_targets")
            .long("probe.allowed-targets")
            .env("PG_EXPORTER_PROBE_ALLOWED_TARGETS")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .value_name("HOST:PORT")
            .help("Servers /probe may reach besides the configured data sources: host:port or host (any port), comma-separated"),
        flag(
            "auto_discover_databases",
            "auto-discover-databases",
            "PG_EXPORTER_AUTO_DISCOVER_DATABASES",
            "Also scrape every other database of the server (per-table metrics, custom queries without master: true)",
        ),
        Arg::new("exclude_databases")
            .long("exclude-databases")
            .env("PG_EXPORTER_EXCLUDE_DATABASES")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .value_name("NAMES")
            .help("Databases to leave out, comma-separated"),
        Arg::new("include_databases")
            .long("include-databases")
            .env("PG_EXPORTER_INCLUDE_DATABASES")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .value_name("NAMES")
            .help("Only discover these databases, comma-separated"),
        flag(
            "disable_default_metrics",
            "disable-default-metrics",
            "PG_EXPORTER_DISABLE_DEFAULT_METRICS",
            "Turn off every built-in collector except settings",
        ),
        flag(
            "disable_settings_metrics",
            "disable-settings-metrics",
            "PG_EXPORTER_DISABLE_SETTINGS_METRICS",
            "Do not include pg_settings metrics",
        ),
        Arg::new("constant_labels")
            .long("constantLabels")
            .env("PG_EXPORTER_CONSTANT_LABELS")
            .value_name("LABELS")
            .help("label=value pairs, comma-separated, added to every PostgreSQL metric"),
        Arg::new("statement_timeout")
            .long("statement-timeout")
            .env("PG_EXPORTER_STATEMENT_TIMEOUT")
            .value_name("DURATION")
            .help("Server-side limit for one query (kept below the scrape timeout)"),
        Arg::new("connect_timeout")
            .long("connect-timeout")
            .env("PG_EXPORTER_CONNECT_TIMEOUT")
            .value_name("DURATION")
            .help("Limit for opening a connection"),
    ];
    let toggles: Vec<(&str, bool)> = Collector::ALL
        .iter()
        .map(|c| (c.name(), c.default_enabled()))
        .collect();
    args.extend(metrics_core::toggle_args(
        "collectors",
        "collector",
        &toggles,
    ));
    args
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{var}: cannot read {path}: {reason}")]
    SecretFile {
        var: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{var}: data source {index}: {reason}")]
    DataSource {
        var: &'static str,
        index: usize,
        reason: String,
    },
    #[error("--constantLabels: {0}")]
    ConstantLabels(String),
    #[error("unknown collector {0:?} in the config")]
    UnknownCollector(String),
}

impl Config {
    /// The configured servers, in postgres_exporter's order of precedence: `DATA_SOURCE_NAME`,
    /// else `DATA_SOURCE_URI` with the user and password (from their files when given). Errors
    /// name the variable and the entry, never the text (it may hold a password).
    pub async fn data_sources(&self) -> Result<Vec<Dsn>, SetupError> {
        let ds = &self.data_source;
        if !ds.name.trim().is_empty() {
            return parse_list("DATA_SOURCE_NAME", &ds.name);
        }
        if ds.uri.trim().is_empty() {
            return Ok(Vec::new());
        }
        let user = match ds.user_file.trim() {
            "" => ds.user.clone(),
            path => read_secret("DATA_SOURCE_USER_FILE", Path::new(path)).await?,
        };
        let pass = match ds.pass_file.trim() {
            "" => ds.pass.clone(),
            path => read_secret("DATA_SOURCE_PASS_FILE", Path::new(path)).await?,
        };
        let mut dsns = parse_list("DATA_SOURCE_URI", &ds.uri)?;
        for dsn in &mut dsns {
            if !user.is_empty() {
                dsn.user = Some(user.clone());
            }
            if !pass.is_empty() {
                dsn.password = Some(pass.clone());
            }
        }
        Ok(dsns)
    }

    pub fn constant_labels(&self) -> Result<Vec<(String, String)>, SetupError> {
        split(&self.constant_labels)
            .map(|pair| {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    SetupError::ConstantLabels(format!("{pair:?} is not label=value"))
                })?;
                let k = k.trim();
                let valid = k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid || k == "server" {
                    return Err(SetupError::ConstantLabels(format!(
                        "{k:?} is not a usable label name"
                    )));
                }
                Ok((k.to_string(), v.trim().to_string()))
            })
            .collect()
    }

    /// The collectors to run, from `collectors.*` and the two `--disable-*` flags.
    pub fn enabled_collectors(&self) -> Result<Vec<Collector>, SetupError> {
        for name in self.collectors.keys() {
            if !Collector::ALL.iter().any(|c| c.name() == name) {
                return Err(SetupError::UnknownCollector(name.clone()));
            }
        }
        Ok(Collector::ALL
            .into_iter()
            .filter(|c| {
                self.collectors
                    .get(c.name())
                    .copied()
                    .unwrap_or(c.default_enabled())
            })
            .filter(|c| !self.disable_default_metrics || *c == Collector::Settings)
            .filter(|c| !self.disable_settings_metrics || *c != Collector::Settings)
            .collect())
    }
}

fn split(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_list(var: &'static str, text: &str) -> Result<Vec<Dsn>, SetupError> {
    crate::dsn::split_list(text)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            Dsn::parse(text).map_err(|e| SetupError::DataSource {
                var,
                index: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

async fn read_secret(var: &'static str, path: &Path) -> Result<String, SetupError> {
    crate::files::read_text(path.to_path_buf(), crate::files::MAX_SECRET_FILE)
        .await
        .map(|s| s.trim().to_string())
        .map_err(|e| SetupError::SecretFile {
            var,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn data_source_name_wins_and_splits_on_commas() {
        let mut c = Config::default();
        c.data_source.name = "postgresql://a:x@h1/db, host=h2 user=b".into();
        c.data_source.uri = "ignored:1".into();
        let d = c.data_sources().await.unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].fingerprint(), "h2:5432");
    }

    #[tokio::test]
    async fn uri_takes_user_and_password_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u"), "monitor\n").unwrap();
        std::fs::write(dir.path().join("p"), "s3cret\n").unwrap();
        let mut c = Config::default();
        c.data_source.uri = "db:5433/postgres?sslmode=disable".into();
        c.data_source.user = "ignored".into();
        c.data_source.user_file = dir.path().join("u").display().to_string();
        c.data_source.pass_file = dir.path().join("p").display().to_string();
        let d = c.data_sources().await.unwrap();
        assert_eq!(d[0].user.as_deref(), Some("monitor"));
        assert_eq!(d[0].password.as_deref(), Some("s3cret"));
        assert_eq!(d[0].fingerprint(), "db:5433");
    }

    #[tokio::test]
    async fn missing_secret_file_names_the_variable_and_path() {
        let mut c = Config::default();
        c.data_source.uri = "db".into();
        c.data_source.pass_file = "/nonexistent/secret".into();
        let err = c.data_sources().await.unwrap_err().to_string();
        assert!(
            err.contains("DATA_SOURCE_PASS_FILE") && err.contains("/nonexistent/secret"),
            "{err}"
        );
    }

    #[test]
    fn constant_labels_parse_and_reject_bad_names() {
        let mut c = Config {
            constant_labels: "env=prod, team = db".into(),
            ..Config::default()
        };
        assert_eq!(
            c.constant_labels().unwrap(),
            vec![("env".into(), "prod".into()), ("team".into(), "db".into())]
        );
        c.constant_labels = "9x=1".into();
        assert!(c.constant_labels().is_err());
        c.constant_labels = "novalue".into();
        assert!(c.constant_labels().is_err());
    }

    #[test]
    fn disable_flags_turn_collectors_off() {
        let mut c = Config::default();
        assert_eq!(c.enabled_collectors().unwrap().len(), Collector::ALL.len());
        c.disable_default_metrics = true;
        assert_eq!(c.enabled_collectors().unwrap(), vec![Collector::Settings]);
        c.disable_settings_metrics = true;
        assert!(c.enabled_collectors().unwrap().is_empty());
        c.collectors.insert("nope".into(), true);
        assert!(c.enabled_collectors().is_err());
    }
}
