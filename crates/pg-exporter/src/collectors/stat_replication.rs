//! `pg_stat_replication_*`: one series per connected standby (WAL sender), on the primary.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT application_name, COALESCE(host(client_addr), ''), pid::text, state, \
    (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END)::float8, \
    (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END)::float8, \
    floor(EXTRACT(EPOCH FROM reply_time)) \
    FROM pg_stat_replication";

// reply_time appeared in PostgreSQL 12.
const QUERY_BEFORE_12: &str = "SELECT application_name, COALESCE(host(client_addr), ''), pid::text, state, \
    (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END)::float8, \
    (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END)::float8, \
    NULL \
    FROM pg_stat_replication";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    if !s.version.at_least(10) {
        return Ok(());
    }
    let query = if s.version.at_least(12) {
        QUERY
    } else {
        QUERY_BEFORE_12
    };
    for_rows(s, query, |row| {
        let labels = [
            ("application_name", row.get(0).unwrap_or_default()),
            ("client_addr", row.get(1).unwrap_or_default()),
            ("state", row.get(3).unwrap_or_default()),
            // postgres_exporter's built-in query puts the WAL sender's pid here.
            ("slot_name", row.get(2).unwrap_or_default()),
        ];
        out.gauge(
            "pg_stat_replication_pg_current_wal_lsn_bytes",
            "WAL position in bytes",
            &labels,
            num(row.get(4)),
        );
        out.gauge(
            "pg_stat_replication_pg_wal_lsn_diff",
            "Lag in bytes between master and slave",
            &labels,
            num(row.get(5)),
        );
        if row.get(6).is_some() {
            out.untyped(
                "pg_stat_replication_reply_time",
                "Unknown metric from pg_stat_replication",
                &labels,
                num(row.get(6)),
            );
        }
    })
    .await
}
