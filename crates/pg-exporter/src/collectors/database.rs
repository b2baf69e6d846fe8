//! `pg_database_size_bytes` and `pg_database_connection_limit` for every database.

use super::{for_rows, num, Options, Out};
use crate::target::Session;

// Databases we may not connect to have no size for us: NULL, skipped.
const QUERY: &str = "SELECT datname, \
    CASE WHEN has_database_privilege(oid, 'CONNECT') THEN pg_database_size(oid) END, \
    datconnlimit FROM pg_database";

pub async fn collect(
    s: &Session,
    out: &mut Out,
    opts: &Options,
) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        let datname = row.get(0).unwrap_or_default();
        if opts.exclude_databases.iter().any(|d| d == datname) {
            return;
        }
        let labels = [("datname", datname)];
        if row.get(1).is_some() {
            out.gauge(
                "pg_database_size_bytes",
                "Disk space used by the database",
                &labels,
                num(row.get(1)),
            );
        }
        out.gauge(
            "pg_database_connection_limit",
            "Connection limit set for the database",
            &labels,
            num(row.get(2)),
        );
    })
    .await
}
