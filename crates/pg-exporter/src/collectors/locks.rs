//! `pg_locks_count{datname,mode}`: held and awaited locks per database and mode, zero included.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT d.datname, m.mode, COALESCE(l.count, 0) \
    FROM pg_database d \
    CROSS JOIN (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'), \
        ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'), \
        ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS m(mode) \
    LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks \
        WHERE database IS NOT NULL GROUP BY database, lower(mode)) l \
        ON l.database = d.oid AND l.mode = m.mode";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        let labels = [
            ("datname", row.get(0).unwrap_or_default()),
            ("mode", row.get(1).unwrap_or_default()),
        ];
        out.gauge(
            "pg_locks_count",
            "Number of locks",
            &labels,
            num(row.get(2)),
        );
    })
    .await
}
