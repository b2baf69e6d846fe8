//! `pg_stat_activity_count` and `pg_stat_activity_max_tx_duration` by database, state, user,
//! application, backend type and wait event (postgres_exporter's labels since 0.12), with a zero
//! for every state a database has no connection in (the other labels empty), as upstream does.

use super::{for_rows, num, Out};
use crate::target::Session;

/// `backend_type` is PostgreSQL 10+; earlier servers get it empty.
const QUERY: &str = "SELECT d.datname, s.state, a.usename, a.application_name, a.backend_type, \
        a.wait_event_type, a.wait_event, COALESCE(a.count, 0), COALESCE(a.max_tx, 0) \
    FROM pg_database d \
    CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), \
        ('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) AS s(state) \
    LEFT JOIN (SELECT datname, state, usename, application_name, BACKEND_TYPE AS backend_type, \
        wait_event_type, wait_event, count(*) AS count, \
        MAX(EXTRACT(EPOCH FROM now() - xact_start))::float8 AS max_tx \
        FROM pg_stat_activity \
        GROUP BY datname, state, usename, application_name, 5, wait_event_type, wait_event) a \
        ON a.datname = d.datname AND a.state = s.state";

/// The label names, in query order.
const LABELS: [&str; 7] = [
    "datname",
    "state",
    "usename",
    "application_name",
    "backend_type",
    "wait_event_type",
    "wait_event",
];

fn query(server_version_at_least_10: bool) -> String {
    let backend_type = if server_version_at_least_10 {
        "backend_type"
    } else {
        "NULL::text"
    };
    QUERY.replace("BACKEND_TYPE", backend_type)
}

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    let sql = query(s.version.at_least(10));
    for_rows(s, &sql, |row| {
        let labels: [(&str, &str); 7] =
            std::array::from_fn(|i| (LABELS[i], row.get(i).unwrap_or_default()));
        out.gauge(
            "pg_stat_activity_count",
            "number of connections in this state",
            &labels,
            num(row.get(7)),
        );
        out.gauge(
            "pg_stat_activity_max_tx_duration",
            "max duration in seconds any active transaction has been running",
            &labels,
            num(row.get(8)),
        );
    })
    .await
}
