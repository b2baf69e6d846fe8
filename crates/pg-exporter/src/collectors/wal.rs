//! `pg_wal_segments`, `pg_wal_size_bytes` and `pg_wal_lsn_location_bytes`.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT count(*), sum(size), \
    (CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') \
          ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END)::float8 \
    FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    if !s.version.at_least(10) {
        return Ok(());
    }
    for_rows(s, QUERY, |row| {
        out.gauge(
            "pg_wal_segments",
            "Number of WAL segments",
            &[],
            num(row.get(0)),
        );
        if row.get(1).is_some() {
            out.gauge(
                "pg_wal_size_bytes",
                "Total size of WAL segments",
                &[],
                num(row.get(1)),
            );
            out.gauge(
                "pg_wal_lsn_location_bytes",
                "WAL Log Sequence Number in bytes",
                &[],
                num(row.get(2)),
            );
        }
    })
    .await
}
