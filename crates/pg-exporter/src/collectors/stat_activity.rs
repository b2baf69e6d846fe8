//! `pg_stat_activity_count` and `pg_stat_activity_max_tx_duration` by database and state, with a
//! zero for every state a database has no connection in (as postgres_exporter does).

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT d.datname, s.state, COALESCE(a.count, 0), COALESCE(a.max_tx, 0) \
    FROM pg_database d \
    CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), \
        ('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) AS s(state) \
    LEFT JOIN (SELECT datname, state, count(*) AS count, \
        MAX(EXTRACT(EPOCH FROM now() - xact_start))::float8 AS max_tx \
        FROM pg_stat_activity GROUP BY datname, state) a \
        ON a.datname = d.datname AND a.state = s.state";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        let labels = [
            ("datname", row.get(0).unwrap_or_default()),
            ("state", row.get(1).unwrap_or_default()),
        ];
        out.gauge(
            "pg_stat_activity_count",
            "number of connections in this state",
            &labels,
            num(row.get(2)),
        );
        out.gauge(
            "pg_stat_activity_max_tx_duration",
            "max duration in seconds any active transaction has been running",
            &labels,
            num(row.get(3)),
        );
    })
    .await
}
