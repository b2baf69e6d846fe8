//! postgres_exporter's metric families, one module per collector. Each collector runs one or two
//! queries on the shared connection and turns the rows into samples; the queries are chosen by
//! server version.

use std::collections::HashMap;
use std::sync::Arc;

use crate::target::Session;

mod database;
mod locks;
mod postmaster;
mod replication;
mod replication_slot;
mod roles;
mod settings;
mod stat_activity;
mod stat_archiver;
mod stat_bgwriter;
mod stat_checkpointer;
mod stat_database;
mod stat_replication;
mod stat_user_tables;
mod statio_user_tables;
mod wal;

/// Where a collector runs: once per server, or in every database scraped (its views only show
/// the database the connection is in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Server,
    Database,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Collector {
    Database,
    Locks,
    Postmaster,
    Replication,
    ReplicationSlot,
    Roles,
    Settings,
    StatActivity,
    StatArchiver,
    StatBgwriter,
    StatCheckpointer,
    StatDatabase,
    StatReplication,
    StatUserTables,
    StatioUserTables,
    Wal,
}

impl Collector {
    pub const ALL: [Collector; 16] = [
        Collector::Database,
        Collector::Locks,
        Collector::Postmaster,
        Collector::Replication,
        Collector::ReplicationSlot,
        Collector::Roles,
        Collector::Settings,
        Collector::StatActivity,
        Collector::StatArchiver,
        Collector::StatBgwriter,
        Collector::StatCheckpointer,
        Collector::StatDatabase,
        Collector::StatReplication,
        Collector::StatUserTables,
        Collector::StatioUserTables,
        Collector::Wal,
    ];

    /// The name in `--collector.<name>` and in `pg_scrape_collector_success{collector}`.
    pub fn name(self) -> &'static str {
        match self {
            Collector::Database => "database",
            Collector::Locks => "locks",
            Collector::Postmaster => "postmaster",
            Collector::Replication => "replication",
            Collector::ReplicationSlot => "replication_slot",
            Collector::Roles => "roles",
            Collector::Settings => "settings",
            Collector::StatActivity => "stat_activity",
            Collector::StatArchiver => "stat_archiver",
            Collector::StatBgwriter => "stat_bgwriter",
            Collector::StatCheckpointer => "stat_checkpointer",
            Collector::StatDatabase => "stat_database",
            Collector::StatReplication => "stat_replication",
            Collector::StatUserTables => "stat_user_tables",
            Collector::StatioUserTables => "statio_user_tables",
            Collector::Wal => "wal",
        }
    }

    /// Every collector is on by default: together they are postgres_exporter's default output
    /// (old and new releases), and `stat_checkpointer` does nothing before PostgreSQL 17.
    pub fn default_enabled(self) -> bool {
        true
    }

    pub fn scope(self) -> Scope {
        match self {
            Collector::StatUserTables | Collector::StatioUserTables => Scope::Database,
            _ => Scope::Server,
        }
    }

    pub async fn collect(
        self,
        s: &Session,
        out: &mut Out,
        opts: &Options,
    ) -> Result<(), tokio_postgres::Error> {
        match self {
            Collector::Database => database::collect(s, out, opts).await,
            Collector::Locks => locks::collect(s, out).await,
            Collector::Postmaster => postmaster::collect(s, out).await,
            Collector::Replication => replication::collect(s, out).await,
            Collector::ReplicationSlot => replication_slot::collect(s, out).await,
            Collector::Roles => roles::collect(s, out).await,
            Collector::Settings => settings::collect(s, out).await,
            Collector::StatActivity => stat_activity::collect(s, out).await,
            Collector::StatArchiver => stat_archiver::collect(s, out).await,
            Collector::StatBgwriter => stat_bgwriter::collect(s, out).await,
            Collector::StatCheckpointer => stat_checkpointer::collect(s, out).await,
            Collector::StatDatabase => stat_database::collect(s, out).await,
            Collector::StatReplication => stat_replication::collect(s, out).await,
            Collector::StatUserTables => stat_user_tables::collect(s, out).await,
            Collector::StatioUserTables => statio_user_tables::collect(s, out).await,
            Collector::Wal => wal::collect(s, out).await,
        }
    }
}

/// Settings some collectors need.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Databases the `database` collector leaves out (`--exclude-databases`).
    pub exclude_databases: Vec<String>,
}

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
}

/// Samples of one collector on one server, rendered straight into the text format (one string
/// per family; postgres_exporter's output is hundreds of regular series, and building protobuf
/// objects for each cost more than the queries). Every sample gets the `server` label and the
/// `--constantLabels`, as postgres_exporter adds them.
#[derive(Clone)]
pub struct Out {
    families: Vec<FamilyText>,
    index: HashMap<String, usize>,
    server: Arc<str>,
    constant: Arc<[(String, String)]>,
}

#[derive(Clone)]
struct FamilyText {
    name: String,
    help: String,
    kind: Kind,
    samples: String,
}

impl Out {
    pub fn new(server: Arc<str>, constant: Arc<[(String, String)]>) -> Self {
        Self {
            families: Vec::new(),
            index: HashMap::new(),
            server,
            constant,
        }
    }

    /// An empty set with the same common labels.
    pub fn empty_like(&self) -> Self {
        Self::new(self.server.clone(), self.constant.clone())
    }

    pub fn sample(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.index.insert(name.to_string(), self.families.len());
                self.families.push(FamilyText {
                    name: name.to_string(),
                    help: help.to_string(),
                    kind,
                    samples: String::with_capacity(128),
                });
                self.families.len() - 1
            }
        };
        let out = &mut self.families[i].samples;
        out.push_str(name);
        out.push('{');
        for (k, v) in labels {
            push_label(out, k, v);
        }
        push_label(out, "server", &self.server);
        for (k, v) in self.constant.iter() {
            push_label(out, k, v);
        }
        out.pop();
        out.push_str("} ");
        push_value(out, value);
        out.push('\n');
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(Kind::Gauge, name, help, labels, value);
    }

    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(Kind::Counter, name, help, labels, value);
    }

    pub fn untyped(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(Kind::Untyped, name, help, labels, value);
    }

    /// Adds another collector's (or server's) samples; families of the same name are joined.
    pub fn append(&mut self, other: Out) {
        for family in other.families {
            match self.index.get(family.name.as_str()) {
                Some(&i) => self.families[i].samples.push_str(&family.samples),
                None => {
                    self.index.insert(family.name.clone(), self.families.len());
                    self.families.push(family);
                }
            }
        }
    }

    /// The families in the text format, in the order they were first seen.
    pub fn render(&self, buf: &mut Vec<u8>) {
        for f in &self.families {
            let help = escape(&f.help, false);
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Untyped => "untyped",
            };
            for part in [
                "# HELP ",
                &f.name,
                " ",
                &help,
                "\n# TYPE ",
                &f.name,
                " ",
                kind,
                "\n",
            ] {
                buf.extend_from_slice(part.as_bytes());
            }
            buf.extend_from_slice(f.samples.as_bytes());
        }
    }
}

/// `name="value",` with the value escaped as the text format requires.
fn push_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(&escape(value, true));
    out.push_str("\",");
}

fn escape(text: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    // Byte scan: label values are almost always clean, and this is per label of every sample.
    if !text.bytes().any(|b| b == b'\\' || b == b'\n' || b == b'"') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn push_value(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A numeric column: NULL and unreadable text are NaN, as postgres_exporter reports them.
pub fn num(value: Option<&str>) -> f64 {
    match value {
        Some("t") => 1.0,
        Some("f") => 0.0,
        Some(v) => v.parse().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

/// A numeric column where NULL means 0 (the newer collectors' convention).
pub fn num_or_zero(value: Option<&str>) -> f64 {
    match value {
        None => 0.0,
        v => num(v),
    }
}

/// Runs `sql` and hands each row's columns to `each`.
pub async fn for_rows(
    s: &Session,
    sql: &str,
    mut each: impl FnMut(&tokio_postgres::SimpleQueryRow),
) -> Result<(), tokio_postgres::Error> {
    for row in s.rows(sql).await? {
        each(&row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(out: &Out) -> String {
        let mut buf = Vec::new();
        out.render(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn samples_render_with_server_and_constant_labels() {
        let constant: Arc<[(String, String)]> =
            vec![("env".to_string(), "prod".to_string())].into();
        let mut out = Out::new("db:5432".into(), constant.clone());
        out.gauge("pg_x", "X \\ help\nmore", &[("datname", "a\"b")], 1.5);
        let mut other = Out::new("db2:5432".into(), constant);
        other.gauge("pg_x", "X", &[("datname", "c")], f64::NAN);
        other.counter("pg_y_total", "Y", &[], f64::INFINITY);
        out.append(other);
        assert_eq!(
            rendered(&out),
            "# HELP pg_x X \\\\ help\\nmore\n# TYPE pg_x gauge\n\
             pg_x{datname=\"a\\\"b\",server=\"db:5432\",env=\"prod\"} 1.5\n\
             pg_x{datname=\"c\",server=\"db2:5432\",env=\"prod\"} NaN\n\
             # HELP pg_y_total Y\n# TYPE pg_y_total counter\npg_y_total{server=\"db2:5432\",env=\"prod\"} +Inf\n"
        );
    }
}
