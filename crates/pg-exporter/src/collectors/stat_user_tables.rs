//! `pg_stat_user_tables_*{datname,schemaname,relname}` for the tables of the connected database.

use super::{for_rows, num_or_zero, Kind, Out};
use crate::target::Session;

const QUERY: &str = "SELECT current_database(), schemaname, relname, seq_scan, seq_tup_read, \
    idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd, n_live_tup, \
    n_dead_tup, n_mod_since_analyze, \
    COALESCE(floor(EXTRACT(EPOCH FROM last_vacuum)), 0), COALESCE(floor(EXTRACT(EPOCH FROM last_autovacuum)), 0), \
    COALESCE(floor(EXTRACT(EPOCH FROM last_analyze)), 0), COALESCE(floor(EXTRACT(EPOCH FROM last_autoanalyze)), 0), \
    vacuum_count, autovacuum_count, analyze_count, autoanalyze_count, \
    pg_total_relation_size(relid) \
    FROM pg_stat_user_tables";

const COLUMNS: [(&str, Kind, &str); 20] = [
    (
        "pg_stat_user_tables_seq_scan",
        Kind::Counter,
        "Number of sequential scans initiated on this table",
    ),
    (
        "pg_stat_user_tables_seq_tup_read",
        Kind::Counter,
        "Number of live rows fetched by sequential scans",
    ),
    (
        "pg_stat_user_tables_idx_scan",
        Kind::Counter,
        "Number of index scans initiated on this table",
    ),
    (
        "pg_stat_user_tables_idx_tup_fetch",
        Kind::Counter,
        "Number of live rows fetched by index scans",
    ),
    (
        "pg_stat_user_tables_n_tup_ins",
        Kind::Counter,
        "Number of rows inserted",
    ),
    (
        "pg_stat_user_tables_n_tup_upd",
        Kind::Counter,
        "Number of rows updated",
    ),
    (
        "pg_stat_user_tables_n_tup_del",
        Kind::Counter,
        "Number of rows deleted",
    ),
    (
        "pg_stat_user_tables_n_tup_hot_upd",
        Kind::Counter,
        "Number of rows HOT updated (i.e., with no separate index update required)",
    ),
    (
        "pg_stat_user_tables_n_live_tup",
        Kind::Gauge,
        "Estimated number of live rows",
    ),
    (
        "pg_stat_user_tables_n_dead_tup",
        Kind::Gauge,
        "Estimated number of dead rows",
    ),
    (
        "pg_stat_user_tables_n_mod_since_analyze",
        Kind::Gauge,
        "Estimated number of rows changed since last analyze",
    ),
    (
        "pg_stat_user_tables_last_vacuum",
        Kind::Gauge,
        "Last time at which this table was manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        "pg_stat_user_tables_last_autovacuum",
        Kind::Gauge,
        "Last time at which this table was vacuumed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_last_analyze",
        Kind::Gauge,
        "Last time at which this table was manually analyzed",
    ),
    (
        "pg_stat_user_tables_last_autoanalyze",
        Kind::Gauge,
        "Last time at which this table was analyzed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_vacuum_count",
        Kind::Counter,
        "Number of times this table has been manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        "pg_stat_user_tables_autovacuum_count",
        Kind::Counter,
        "Number of times this table has been vacuumed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_analyze_count",
        Kind::Counter,
        "Number of times this table has been manually analyzed",
    ),
    (
        "pg_stat_user_tables_autoanalyze_count",
        Kind::Counter,
        "Number of times this table has been analyzed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_size_bytes",
        Kind::Gauge,
        "Total disk space used by this table, in bytes, including all indexes and TOAST data",
    ),
];

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        let labels = [
            ("datname", row.get(0).unwrap_or("unknown")),
            ("schemaname", row.get(1).unwrap_or("unknown")),
            ("relname", row.get(2).unwrap_or("unknown")),
        ];
        for (i, (name, kind, help)) in COLUMNS.iter().enumerate() {
            out.sample(*kind, name, help, &labels, num_or_zero(row.get(i + 3)));
        }
    })
    .await
}
