//! `pg_postmaster_start_time_seconds`.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT EXTRACT(EPOCH FROM pg_postmaster_start_time())";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        out.gauge(
            "pg_postmaster_start_time_seconds",
            "Time at which postmaster started",
            &[],
            num(row.get(0)),
        );
    })
    .await
}
