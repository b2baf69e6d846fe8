//! Custom queries from a YAML file in postgres_exporter's format (`--extend.query-path`):
//!
//! ```yaml
//! pg_replication:
//!   query: "SELECT EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) AS lag"
//!   master: true
//!   metrics:
//!     - lag:
//!         usage: "GAUGE"
//!         description: "Replication lag behind master in seconds"
//! ```
//!
//! A broken file is rejected at start with its path, line and reason. A query that fails at run
//! time makes its `pg_custom_query_success` 0 and nothing else.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::collectors::{num, Out};
use crate::target::Session;
use crate::version::{Version, VersionRange};

#[derive(Debug, thiserror::Error)]
pub enum QueryFileError {
    #[error("custom queries file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("custom queries file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Usage {
    Discard,
    Label,
    Counter,
    Gauge,
    Mappedmetric,
    Duration,
    Histogram,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    query: String,
    #[serde(default)]
    metrics: Vec<BTreeMap<String, RawColumn>>,
    #[serde(default)]
    master: bool,
    #[serde(default)]
    cache_seconds: u64,
    #[serde(default)]
    runonserver: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    usage: Usage,
    #[serde(default)]
    description: String,
    #[serde(default)]
    metric_mapping: BTreeMap<String, f64>,
    #[serde(default)]
    pg_version: Option<String>,
}

/// One column's meaning.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub usage: Usage,
    pub description: String,
    pub mapping: BTreeMap<String, f64>,
    pub versions: Option<VersionRange>,
}

/// One query and how its columns become metrics.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub namespace: String,
    pub query: String,
    /// Only on the configured database, not on auto-discovered ones.
    pub master: bool,
    pub runonserver: Option<VersionRange>,
    pub columns: Vec<Column>,
}

/// A loaded queries file.
#[derive(Debug)]
pub struct CustomQueries {
    pub path: PathBuf,
    /// sha256 of the file, for `pg_exporter_user_queries_load_error{hashsum}`.
    pub hashsum: String,
    pub queries: Vec<UserQuery>,
    /// (server/database, namespace) pairs whose last run failed, to log changes only.
    failing: Mutex<HashSet<(String, String)>>,
}

impl CustomQueries {
    /// Reads (capped, off the async workers) and parses the file.
    pub async fn load(path: &Path) -> Result<Self, QueryFileError> {
        let text = crate::files::read_text(path.to_path_buf(), crate::files::MAX_QUERIES_FILE)
            .await
            .map_err(|e| QueryFileError::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let queries = parse(&text).map_err(|reason| QueryFileError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        let hashsum = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            hashsum,
            queries,
            failing: Mutex::new(HashSet::new()),
        })
    }

    /// Runs every query that applies to this server (and database kind) into `out`.
    /// `database` labels the success metric, so that auto-discovered databases do not collide.
    pub async fn collect(
        &self,
        s: &Session,
        out: &mut Out,
        server: &str,
        database: &str,
        primary: bool,
    ) {
        let runs = self
            .queries
            .iter()
            .filter(|q| primary || !q.master)
            .filter(|q| q.runonserver.as_ref().is_none_or(|r| r.contains(s.version)))
            .map(|q| async move { (q, s.rows(&q.query).await) });
        let results = futures_util::future::join_all(runs).await;
        for (q, result) in results {
            let ok = match result {
                Ok(rows) => {
                    for row in &rows {
                        emit_row(q, s.version, row, out);
                    }
                    true
                }
                Err(_) if s.client.is_closed() => false,
                Err(e) => {
                    self.note_failure(server, database, &q.namespace, &crate::target::describe(&e));
                    false
                }
            };
            if ok {
                self.note_success(server, database, &q.namespace);
            }
            out.gauge(
                "pg_custom_query_success",
                "Whether the last run of a custom query succeeded (1) or failed (0).",
                &[("namespace", &q.namespace), ("datname", database)],
                if ok { 1.0 } else { 0.0 },
            );
        }
    }

    fn note_failure(&self, server: &str, database: &str, namespace: &str, error: &str) {
        let key = (format!("{server}/{database}"), namespace.to_string());
        let new = match self.failing.lock() {
            Ok(mut f) => f.insert(key),
            Err(poisoned) => poisoned.into_inner().insert(key),
        };
        if new {
            tracing::warn!(server, database, namespace, error, "custom query failed");
        }
    }

    fn note_success(&self, server: &str, database: &str, namespace: &str) {
        let key = (format!("{server}/{database}"), namespace.to_string());
        let was_failing = match self.failing.lock() {
            Ok(mut f) => f.remove(&key),
            Err(poisoned) => poisoned.into_inner().remove(&key),
        };
        if was_failing {
            tracing::info!(server, database, namespace, "custom query succeeds again");
        }
    }
}

/// Parses the file's text; the error names the line where it can.
pub fn parse(text: &str) -> Result<Vec<UserQuery>, String> {
    let raw: BTreeMap<String, RawQuery> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let line_of = |namespace: &str| {
        text.lines()
            .position(|l| l.trim_end().starts_with(&format!("{namespace}:")))
            .map(|i| format!("line {}: ", i + 1))
            .unwrap_or_default()
    };
    let mut out = Vec::with_capacity(raw.len());
    for (namespace, q) in raw {
        if q.query.trim().is_empty() {
            return Err(format!(
                "{}{namespace}: the query is empty",
                line_of(&namespace)
            ));
        }
        if !is_metric_name(&namespace) {
            return Err(format!(
                "{}{namespace:?} is not a valid metric name prefix",
                line_of(&namespace)
            ));
        }
        let runonserver = match q.runonserver.trim() {
            "" => None,
            r => Some(
                VersionRange::parse(r)
                    .map_err(|e| format!("{}{namespace}: runonserver: {e}", line_of(&namespace)))?,
            ),
        };
        if q.cache_seconds > 0 {
            tracing::debug!(
                namespace,
                "cache_seconds is ignored: queries run on every scrape"
            );
        }
        let mut columns = Vec::new();
        for entry in q.metrics {
            for (name, c) in entry {
                if !is_metric_name(&name) {
                    return Err(format!(
                        "{}{namespace}: column {name:?} is not a valid metric or label name",
                        line_of(&namespace)
                    ));
                }
                let versions = match c.pg_version.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(r) => Some(VersionRange::parse(r).map_err(|e| {
                        format!("{}{namespace}.{name}: pg_version: {e}", line_of(&namespace))
                    })?),
                };
                if c.usage == Usage::Histogram {
                    tracing::warn!(namespace, column = %name, "HISTOGRAM columns are not supported and are left out");
                }
                columns.push(Column {
                    name,
                    usage: c.usage,
                    description: c.description,
                    mapping: c.metric_mapping,
                    versions,
                });
            }
        }
        out.push(UserQuery {
            namespace,
            query: q.query,
            master: q.master,
            runonserver,
            columns,
        });
    }
    Ok(out)
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn emit_row(q: &UserQuery, version: Version, row: &tokio_postgres::SimpleQueryRow, out: &mut Out) {
    let applies = |c: &Column| c.versions.as_ref().is_none_or(|r| r.contains(version));
    let value_of = |name: &str| -> Option<&str> {
        let i = row.columns().iter().position(|c| c.name() == name)?;
        row.get(i)
    };
    let labels: Vec<(&str, &str)> = q
        .columns
        .iter()
        .filter(|c| c.usage == Usage::Label && applies(c))
        .map(|c| (c.name.as_str(), value_of(&c.name).unwrap_or_default()))
        .collect();
    let mut name = String::with_capacity(q.namespace.len() + 32);
    for (i, column) in row.columns().iter().enumerate() {
        let value = row.get(i);
        name.clear();
        name.push_str(&q.namespace);
        name.push('_');
        name.push_str(column.name());
        let Some(spec) = q.columns.iter().find(|c| c.name == column.name()) else {
            // A column the file does not describe: postgres_exporter exports it untyped.
            let v = match value {
                None => f64::NAN,
                Some(text) => match number(text) {
                    Some(v) => v,
                    None => continue,
                },
            };
            let help = format!("Unknown metric from {}", q.namespace);
            out.untyped(&name, &help, &labels, v);
            continue;
        };
        if !applies(spec) {
            continue;
        }
        match spec.usage {
            Usage::Discard | Usage::Label | Usage::Histogram => {}
            Usage::Counter | Usage::Gauge => {
                let v = value.map_or(f64::NAN, |t| number(t).unwrap_or(f64::NAN));
                if spec.usage == Usage::Counter {
                    out.counter(&name, &spec.description, &labels, v);
                } else {
                    out.gauge(&name, &spec.description, &labels, v);
                }
            }
            Usage::Mappedmetric => {
                if let Some(v) = value.and_then(|t| spec.mapping.get(t)) {
                    out.gauge(&name, &spec.description, &labels, *v);
                }
            }
            Usage::Duration => {
                let ms = value.and_then(|t| humantime::parse_duration(t).ok());
                if let Some(ms) = ms {
                    name.push_str("_milliseconds");
                    out.gauge(&name, &spec.description, &labels, ms.as_secs_f64() * 1000.0);
                }
            }
        }
    }
}

/// A text value as a number: numbers, booleans (`t`/`f`) and timestamps (as Unix seconds).
pub fn number(text: &str) -> Option<f64> {
    let v = num(Some(text));
    if !v.is_nan() || text.eq_ignore_ascii_case("nan") {
        return Some(v);
    }
    timestamp_seconds(text)
}

/// `2026-11-25 01:05:49.123+00` (the session runs in UTC) as Unix seconds. Text that is not a
/// timestamp PostgreSQL can hold (years beyond ±294,276, a month 13, an hour 99) is `None`,
/// so that the arithmetic below stays far inside `i64`.
pub fn timestamp_seconds(text: &str) -> Option<f64> {
    let (date, rest) = text.split_once(' ')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let tz_at = rest.find(['+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_at);
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    let in_range = y.abs() <= 294_276
        && (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..=24).contains(&hh)
        && (0..=59).contains(&mm)
        && (0.0..61.0).contains(&ss);
    if !in_range {
        return None;
    }
    let offset = match tz.chars().next() {
        None => 0,
        Some(sign) => {
            let mut parts = tz.get(1..)?.split(':');
            let h: i64 = parts.next()?.parse().ok()?;
            let m: i64 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
            if !(0..=24).contains(&h) || !(0..=59).contains(&m) {
                return None;
            }
            let seconds = h * 3600 + m * 60;
            if sign == '-' {
                -seconds
            } else {
                seconds
            }
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + hh * 3600 + mm * 60 - offset) as f64 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../tests/fixtures/queries.yaml");

    #[test]
    fn parses_upstreams_example_format() {
        let q = parse(SAMPLE).unwrap();
        let rep = q.iter().find(|q| q.namespace == "pg_replication").unwrap();
        assert!(rep.master);
        assert_eq!(rep.columns[0].usage, Usage::Gauge);
        let tables = q.iter().find(|q| q.namespace == "app_tables").unwrap();
        assert_eq!(
            tables
                .columns
                .iter()
                .filter(|c| c.usage == Usage::Label)
                .count(),
            2
        );
    }

    #[test]
    fn broken_files_name_the_line_and_reason() {
        let err =
            parse("a:\n  query: \"SELECT 1\"\n  metrics:\n    - x:\n        usage: \"GAUG\"\n")
                .unwrap_err();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("GAUG"), "{err}");
        let err = parse("ok:\n  query: \"SELECT 1\"\nbad:\n  query: \"\"\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("empty"), "{err}");
        let err = parse("a:\n  query: x\n  metrics:\n    - y:\n        usage: GAUGE\n        pg_version: \">=ten\"\n")
            .unwrap_err();
        assert!(err.contains("pg_version"), "{err}");
        assert!(parse("a: [").is_err());
        assert!(parse("a:\n  query: x\n  colour: red\n")
            .unwrap_err()
            .contains("colour"));
    }

    #[test]
    fn timestamps_and_booleans_become_numbers() {
        assert_eq!(timestamp_seconds("1970-01-02 00:00:00+00"), Some(86400.0));
        assert_eq!(
            timestamp_seconds("2026-11-25 01:05:49.5+00"),
            Some(1795568749.5)
        );
        assert_eq!(timestamp_seconds("1970-01-01 01:00:00+01"), Some(0.0));
        assert_eq!(number("t"), Some(1.0));
        assert_eq!(number("12.5"), Some(12.5));
        assert_eq!(number("hello"), None);
    }

    #[test]
    fn timestamps_outside_postgres_range_are_not_numbers_and_never_overflow() {
        for text in [
            "9223372036854775807-01-01 00:00:00+00",
            "-9223372036854775808-03-01 00:00:00",
            "2026-01-01 9223372036854775807:00:00",
            "2026-01-01 00:9223372036854775807:00",
            "2026-01-01 00:00:00+9223372036854775807",
            "2026-01-01 00:00:00-9223372036854775807:9223372036854775807",
            "2026-13-01 00:00:00",
            "2026-01-01 00:00:inf",
        ] {
            assert_eq!(timestamp_seconds(text), None, "{text}");
        }
        assert_eq!(
            timestamp_seconds("294276-12-31 23:59:59+00").map(|s| s > 9.0e12),
            Some(true)
        );
    }
}
