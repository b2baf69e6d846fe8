//! `pg_stat_database_*` by `datid` and `datname` (the row of shared objects, without a
//! database name, left out as postgres_exporter 0.17 does), `pg_stat_database_active_time_seconds_total`
//! (PostgreSQL 14+), and `pg_stat_database_conflicts_confl_*` (built-in query map: with `server`).
//! postgres_exporter 0.12 dropped the untyped families of the newer columns (`sessions`,
//! `checksum_failures`, ...) that 0.11 exported; so do we.

use super::{for_rows, num, num_or_zero, Kind, Sets};
use crate::target::Session;

const BASE: &str = "SELECT datid, datname, numbackends, xact_commit, xact_rollback, blks_read, \
    blks_hit, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, conflicts, \
    temp_files, temp_bytes, deadlocks, blk_read_time, blk_write_time, \
    floor(EXTRACT(EPOCH FROM stats_reset))";
const SINCE_14: &str = ", active_time";

/// Columns after `datid, datname`, in query order.
const COLUMNS: [(&str, Kind, &str); 17] = [
    ("numbackends", Kind::Gauge, "Number of backends currently connected to this database. This is the only column in this view that returns a value reflecting current state; all other columns return the accumulated values since the last reset."),
    ("xact_commit", Kind::Counter, "Number of transactions in this database that have been committed"),
    ("xact_rollback", Kind::Counter, "Number of transactions in this database that have been rolled back"),
    ("blks_read", Kind::Counter, "Number of disk blocks read in this database"),
    ("blks_hit", Kind::Counter, "Number of times disk blocks were found already in the buffer cache, so that a read was not necessary (this only includes hits in the PostgreSQL buffer cache, not the operating system's file system cache)"),
    ("tup_returned", Kind::Counter, "Number of rows returned by queries in this database"),
    ("tup_fetched", Kind::Counter, "Number of rows fetched by queries in this database"),
    ("tup_inserted", Kind::Counter, "Number of rows inserted by queries in this database"),
    ("tup_updated", Kind::Counter, "Number of rows updated by queries in this database"),
    ("tup_deleted", Kind::Counter, "Number of rows deleted by queries in this database"),
    ("conflicts", Kind::Counter, "Number of queries canceled due to conflicts with recovery in this database. (Conflicts occur only on standby servers; see pg_stat_database_conflicts for details.)"),
    ("temp_files", Kind::Counter, "Number of temporary files created by queries in this database. All temporary files are counted, regardless of why the temporary file was created (e.g., sorting or hashing), and regardless of the log_temp_files setting."),
    ("temp_bytes", Kind::Counter, "Total amount of data written to temporary files by queries in this database. All temporary files are counted, regardless of why the temporary file was created, and regardless of the log_temp_files setting."),
    ("deadlocks", Kind::Counter, "Number of deadlocks detected in this database"),
    ("blk_read_time", Kind::Counter, "Time spent reading data file blocks by backends in this database, in milliseconds"),
    ("blk_write_time", Kind::Counter, "Time spent writing data file blocks by backends in this database, in milliseconds"),
    ("stats_reset", Kind::Counter, "Time at which these statistics were last reset"),
];

const CONFLICTS: &str = "SELECT datid, datname, confl_tablespace, confl_lock, confl_snapshot, \
    confl_bufferpin, confl_deadlock FROM pg_stat_database_conflicts";
const CONFLICTS_16: &str = "SELECT datid, datname, confl_tablespace, confl_lock, confl_snapshot, \
    confl_bufferpin, confl_deadlock, confl_active_logicalslot FROM pg_stat_database_conflicts";

const CONFLICT_COLUMNS: [(&str, &str); 6] = [
    ("pg_stat_database_conflicts_confl_tablespace", "Number of queries in this database that have been canceled due to dropped tablespaces"),
    ("pg_stat_database_conflicts_confl_lock", "Number of queries in this database that have been canceled due to lock timeouts"),
    ("pg_stat_database_conflicts_confl_snapshot", "Number of queries in this database that have been canceled due to old snapshots"),
    ("pg_stat_database_conflicts_confl_bufferpin", "Number of queries in this database that have been canceled due to pinned buffers"),
    ("pg_stat_database_conflicts_confl_deadlock", "Number of queries in this database that have been canceled due to deadlocks"),
    ("pg_stat_database_conflicts_confl_active_logicalslot", "Number of uses of logical slots in this database that have been canceled due to old snapshots or too low a wal_level on the primary"),
];

pub async fn collect(s: &Session, sets: &mut Sets) -> Result<(), tokio_postgres::Error> {
    let v = s.version;
    let query = if v.at_least(14) {
        format!("{BASE}{SINCE_14} FROM pg_stat_database")
    } else {
        format!("{BASE} FROM pg_stat_database")
    };
    let Sets { by_server, plain } = sets;
    let out = plain;
    let mut name = String::with_capacity(64);
    for_rows(s, &query, |row| {
        let Some(datname) = row.get(1) else { return };
        let labels = [
            ("datid", row.get(0).unwrap_or_default()),
            ("datname", datname),
        ];
        for (i, (column, kind, help)) in COLUMNS.iter().enumerate() {
            let Ok(value) = row.try_get(i + 2) else { break };
            name.clear();
            name.push_str("pg_stat_database_");
            name.push_str(column);
            // NULL (e.g. never reset) is 0, as postgres_exporter 0.17 reports it.
            out.sample(*kind, &name, help, &labels, num_or_zero(value));
        }
        if let Ok(Some(active)) = row.try_get(COLUMNS.len() + 2) {
            out.counter(
                "pg_stat_database_active_time_seconds_total",
                "Time spent executing SQL statements in this database, in seconds",
                &labels,
                num(Some(active)) / 1000.0,
            );
        }
    })
    .await?;
    let conflicts = if v.at_least(16) {
        CONFLICTS_16
    } else {
        CONFLICTS
    };
    for_rows(s, conflicts, |row| {
        let labels = [
            ("datid", row.get(0).unwrap_or_default()),
            ("datname", row.get(1).unwrap_or_default()),
        ];
        for (i, (name, help)) in CONFLICT_COLUMNS.iter().enumerate() {
            let Ok(value) = row.try_get(i + 2) else { break };
            by_server.counter(name, help, &labels, num(value));
        }
    })
    .await
}
