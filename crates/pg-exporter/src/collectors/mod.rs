//! postgres_exporter's metric families, one module per collector. Each collector runs one or two
//! queries on the shared connection and turns the rows into samples; the queries are chosen by
//! server version.

use std::sync::Arc;

use metrics_core::MetricSet;

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

/// Samples of one collector on one server: every sample gets the `server` label and the
/// `--constantLabels`, as postgres_exporter adds them.
pub struct Out {
    pub set: MetricSet,
    server: Arc<str>,
    constant: Arc<[(String, String)]>,
}

impl Out {
    pub fn new(server: Arc<str>, constant: Arc<[(String, String)]>) -> Self {
        Self {
            set: MetricSet::new(),
            server,
            constant,
        }
    }

    pub fn sample(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        match kind {
            Kind::Counter => self.counter(name, help, labels, value),
            Kind::Gauge => self.gauge(name, help, labels, value),
            Kind::Untyped => self.untyped(name, help, labels, value),
        }
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let all = with_common(labels, &self.server, &self.constant);
        self.set.gauge(name, help, &all, value);
    }

    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let all = with_common(labels, &self.server, &self.constant);
        self.set.counter(name, help, &all, value);
    }

    pub fn untyped(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let all = with_common(labels, &self.server, &self.constant);
        self.set.untyped(name, help, &all, value);
    }
}

fn with_common<'a>(
    labels: &[(&'a str, &'a str)],
    server: &'a str,
    constant: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = Vec::with_capacity(labels.len() + 1 + constant.len());
    all.extend_from_slice(labels);
    all.push(("server", server));
    all.extend(constant.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    all
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
