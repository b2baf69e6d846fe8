//! `pg_stat_archiver_*`: WAL archiving counts and the age of the last archived segment.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT archived_count, failed_count, \
    EXTRACT(EPOCH FROM now() - last_archived_time) FROM pg_stat_archiver";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        out.counter(
            "pg_stat_archiver_archived_count",
            "Number of WAL files that have been successfully archived",
            &[],
            num(row.get(0)),
        );
        out.counter(
            "pg_stat_archiver_failed_count",
            "Number of failed attempts for archiving WAL files",
            &[],
            num(row.get(1)),
        );
        out.gauge(
            "pg_stat_archiver_last_archive_age",
            "Time in seconds since last WAL segment was successfully archived",
            &[],
            num(row.get(2)),
        );
    })
    .await
}
