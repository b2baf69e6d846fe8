//! `pg_replication_lag_seconds`, `pg_replication_is_replica`, `pg_replication_last_replay_seconds`.

use super::{for_rows, num_or_zero, Out};
use crate::target::Session;

const QUERY: &str = "SELECT \
    CASE WHEN NOT pg_is_in_recovery() THEN 0 \
         WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
         ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END, \
    CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END, \
    GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()))";

const QUERY_BEFORE_10: &str = "SELECT \
    CASE WHEN NOT pg_is_in_recovery() THEN 0 \
         WHEN pg_last_xlog_receive_location() = pg_last_xlog_replay_location() THEN 0 \
         ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END, \
    CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END, \
    GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()))";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    let query = if s.version.at_least(10) {
        QUERY
    } else {
        QUERY_BEFORE_10
    };
    for_rows(s, query, |row| {
        out.gauge(
            "pg_replication_lag_seconds",
            "Replication lag behind master in seconds",
            &[],
            num_or_zero(row.get(0)),
        );
        out.gauge(
            "pg_replication_is_replica",
            "Indicates if the server is a replica",
            &[],
            num_or_zero(row.get(1)),
        );
        out.gauge(
            "pg_replication_last_replay_seconds",
            "Age of last replay in seconds",
            &[],
            num_or_zero(row.get(2)),
        );
    })
    .await
}
