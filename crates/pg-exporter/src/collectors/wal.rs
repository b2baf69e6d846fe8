//! `pg_wal_segments` and `pg_wal_size_bytes`.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT count(*), sum(size) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'";

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
        }
    })
    .await
}
