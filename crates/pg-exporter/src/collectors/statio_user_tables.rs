//! `pg_statio_user_tables_*{datname,schemaname,relname}`: block reads and buffer hits per table.

use super::{for_rows, num_or_zero, Out};
use crate::target::Session;

const QUERY: &str = "SELECT current_database(), schemaname, relname, heap_blks_read, \
    heap_blks_hit, idx_blks_read, idx_blks_hit, toast_blks_read, toast_blks_hit, \
    tidx_blks_read, tidx_blks_hit FROM pg_statio_user_tables";

const COLUMNS: [(&str, &str); 8] = [
    (
        "pg_statio_user_tables_heap_blocks_read",
        "Number of disk blocks read from this table",
    ),
    (
        "pg_statio_user_tables_heap_blocks_hit",
        "Number of buffer hits in this table",
    ),
    (
        "pg_statio_user_tables_idx_blocks_read",
        "Number of disk blocks read from all indexes on this table",
    ),
    (
        "pg_statio_user_tables_idx_blocks_hit",
        "Number of buffer hits in all indexes on this table",
    ),
    (
        "pg_statio_user_tables_toast_blocks_read",
        "Number of disk blocks read from this table's TOAST table (if any)",
    ),
    (
        "pg_statio_user_tables_toast_blocks_hit",
        "Number of buffer hits in this table's TOAST table (if any)",
    ),
    (
        "pg_statio_user_tables_tidx_blocks_read",
        "Number of disk blocks read from this table's TOAST table indexes (if any)",
    ),
    (
        "pg_statio_user_tables_tidx_blocks_hit",
        "Number of buffer hits in this table's TOAST table indexes (if any)",
    ),
];

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        let labels = [
            ("datname", row.get(0).unwrap_or("unknown")),
            ("schemaname", row.get(1).unwrap_or("unknown")),
            ("relname", row.get(2).unwrap_or("unknown")),
        ];
        for (i, (name, help)) in COLUMNS.iter().enumerate() {
            out.counter(name, help, &labels, num_or_zero(row.get(i + 3)));
        }
    })
    .await
}
