//! postgres_exporter's metric families, one module per collector. Each collector runs one or two
//! queries on the shared connection and turns the rows into samples; the queries are chosen by
//! server version.

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

    /// Runs the collector; families of postgres_exporter's built-in query map go to
    /// `sets.by_server`, those of its collector package to `sets.plain`.
    pub async fn collect(
        self,
        s: &Session,
        sets: &mut Sets,
        opts: &Options,
    ) -> Result<(), tokio_postgres::Error> {
        let plain = &mut sets.plain;
        let by_server = &mut sets.by_server;
        match self {
            Collector::Database => database::collect(s, plain, opts).await,
            Collector::Locks => locks::collect(s, plain).await,
            Collector::Postmaster => postmaster::collect(s, plain).await,
            Collector::Replication => replication::collect(s, plain).await,
            Collector::ReplicationSlot => replication_slot::collect(s, sets).await,
            Collector::Roles => roles::collect(s, plain).await,
            Collector::Settings => settings::collect(s, by_server).await,
            Collector::StatActivity => stat_activity::collect(s, by_server).await,
            Collector::StatArchiver => stat_archiver::collect(s, by_server).await,
            Collector::StatBgwriter => stat_bgwriter::collect(s, plain).await,
            Collector::StatCheckpointer => stat_checkpointer::collect(s, plain).await,
            Collector::StatDatabase => stat_database::collect(s, sets).await,
            Collector::StatReplication => stat_replication::collect(s, by_server).await,
            Collector::StatUserTables => stat_user_tables::collect(s, plain).await,
            Collector::StatioUserTables => statio_user_tables::collect(s, plain).await,
            Collector::Wal => wal::collect(s, plain).await,
        }
    }
}

/// Settings some collectors need.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Databases the `database` collector leaves out (`--exclude-databases`).
    pub exclude_databases: Vec<String>,
}

pub use metrics_core::metric::Kind;

/// Samples of one collector on one server.
pub type Out = metrics_core::MetricSet;

/// The samples of one server, in two sets by the labels postgres_exporter 0.17 gives them.
#[derive(Debug, Clone, Default)]
pub struct Sets {
    /// Families of its built-in query map (`pg_stat_activity_*`, `pg_settings_*`,
    /// `pg_stat_archiver_*`, `pg_replication_slots_*`, ...) and custom queries: the `server`
    /// label and the `--constantLabels` after their own labels.
    pub by_server: Out,
    /// Families of its collector package (`pg_database_*`, `pg_stat_database_*`, `pg_locks_*`,
    /// ...): neither, unless several data sources are scraped (`server` then keeps their
    /// series apart; upstream runs these collectors on the first data source only).
    pub plain: Out,
}

/// Where the `server` label goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLabel {
    /// Only on the families of the built-in query map, as postgres_exporter 0.17 does.
    QueryMap,
    /// On every family (several data sources).
    Everywhere,
}

/// Empty [`Sets`] for `server` with the constant labels.
pub fn sets_for(server: &str, constant: &[(String, String)], label: ServerLabel) -> Sets {
    let mut common = Vec::with_capacity(constant.len() + 1);
    common.push(("server".to_string(), server.to_string()));
    common.extend(constant.iter().cloned());
    let plain = match label {
        ServerLabel::QueryMap => Out::new(),
        ServerLabel::Everywhere => {
            Out::with_labels(vec![("server".to_string(), server.to_string())])
        }
    };
    Sets {
        by_server: Out::with_labels(common),
        plain,
    }
}

impl Sets {
    /// Adds another set's samples (another collector, another database of the server).
    pub fn append(&mut self, other: Sets) {
        self.by_server.append(other.by_server);
        self.plain.append(other.plain);
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
    use std::sync::Arc;

    fn rendered(out: &Out) -> String {
        let mut buf = Vec::new();
        out.encode_text(&mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn samples_render_with_server_and_constant_labels() {
        let constant: Arc<[(String, String)]> =
            vec![("env".to_string(), "prod".to_string())].into();
        let mut sets = sets_for("db:5432", &constant, ServerLabel::QueryMap);
        sets.by_server
            .gauge("pg_x", "X \\ help\nmore", &[("datname", "a\"b")], 1.5);
        let mut other = sets_for("db2:5432", &constant, ServerLabel::QueryMap);
        other
            .by_server
            .gauge("pg_x", "X", &[("datname", "c")], f64::NAN);
        other
            .by_server
            .counter("pg_y_total", "Y", &[], f64::INFINITY);
        sets.append(other);
        let out = sets.by_server;
        assert_eq!(
            rendered(&out),
            "# HELP pg_x X \\\\ help\\nmore\n# TYPE pg_x gauge\n\
             pg_x{datname=\"a\\\"b\",server=\"db:5432\",env=\"prod\"} 1.5\n\
             pg_x{datname=\"c\",server=\"db2:5432\",env=\"prod\"} NaN\n\
             # HELP pg_y_total Y\n# TYPE pg_y_total counter\npg_y_total{server=\"db2:5432\",env=\"prod\"} +Inf\n"
        );
    }

    #[test]
    fn collector_package_families_carry_server_only_with_several_data_sources() {
        let constant = [("env".to_string(), "prod".to_string())];
        let mut one = sets_for("db:5432", &constant, ServerLabel::QueryMap);
        one.plain
            .gauge("pg_database_size_bytes", "S", &[("datname", "a")], 1.0);
        one.by_server.gauge("pg_static", "V", &[], 1.0);
        assert_eq!(
            rendered(&one.plain),
            "# HELP pg_database_size_bytes S\n# TYPE pg_database_size_bytes gauge\n\
             pg_database_size_bytes{datname=\"a\"} 1\n"
        );
        assert_eq!(
            rendered(&one.by_server),
            "# HELP pg_static V\n# TYPE pg_static gauge\npg_static{server=\"db:5432\",env=\"prod\"} 1\n"
        );
        let mut several = sets_for("db:5432", &constant, ServerLabel::Everywhere);
        several
            .plain
            .gauge("pg_database_size_bytes", "S", &[("datname", "a")], 1.0);
        assert_eq!(
            rendered(&several.plain),
            "# HELP pg_database_size_bytes S\n# TYPE pg_database_size_bytes gauge\n\
             pg_database_size_bytes{datname=\"a\",server=\"db:5432\"} 1\n"
        );
    }
}
