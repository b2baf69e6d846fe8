//! Replication slots: `pg_replication_slot_*` (slot name and type, newer postgres_exporter) and
//! `pg_replication_slots_*` (slot name and database, with `server`: postgres_exporter's built-in
//! query map).

use super::{for_rows, num, num_or_zero, Sets};
use crate::target::Session;

const QUERY: &str = "SELECT slot_name, slot_type, database, active, \
    ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END) - '0/0')::float8, \
    (COALESCE(confirmed_flush_lsn, '0/0') - '0/0')::float8, \
    (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END)::float8, \
    wal_status, safe_wal_size \
    FROM pg_replication_slots";

// wal_status and safe_wal_size appeared in PostgreSQL 13.
const QUERY_BEFORE_13: &str = "SELECT slot_name, slot_type, database, active, \
    ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END) - '0/0')::float8, \
    (COALESCE(confirmed_flush_lsn, '0/0') - '0/0')::float8, \
    (CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END)::float8, \
    NULL, NULL \
    FROM pg_replication_slots";

pub async fn collect(s: &Session, sets: &mut Sets) -> Result<(), tokio_postgres::Error> {
    if !s.version.at_least(10) {
        return Ok(());
    }
    let query = if s.version.at_least(13) {
        QUERY
    } else {
        QUERY_BEFORE_13
    };
    let Sets { by_server, plain } = sets;
    for_rows(s, query, |row| {
        let slot_name = row.get(0).unwrap_or("unknown");
        let slot_type = row.get(1).unwrap_or("unknown");
        let active = row.get(3) == Some("t");
        let by_type = [("slot_name", slot_name), ("slot_type", slot_type)];
        plain.gauge(
            "pg_replication_slot_slot_current_wal_lsn",
            "current wal lsn value",
            &by_type,
            num_or_zero(row.get(4)),
        );
        if active {
            plain.gauge(
                "pg_replication_slot_slot_confirmed_flush_lsn",
                "last lsn confirmed flushed to the replication slot",
                &by_type,
                num_or_zero(row.get(5)),
            );
        }
        plain.gauge(
            "pg_replication_slot_slot_is_active",
            "whether the replication slot is active or not",
            &by_type,
            if active { 1.0 } else { 0.0 },
        );
        if let Some(wal_status) = row.get(7) {
            plain.gauge(
                "pg_replication_slot_wal_status",
                "availability of WAL files claimed by this slot",
                &[("slot_name", slot_name), ("slot_type", slot_type), ("wal_status", wal_status)],
                1.0,
            );
        }
        if row.get(8).is_some() {
            plain.gauge(
                "pg_replication_slot_safe_wal_size_bytes",
                "number of bytes that can be written to WAL such that this slot is not in danger of getting in state lost",
                &by_type,
                num(row.get(8)),
            );
        }
        let by_database = [("slot_name", slot_name), ("database", row.get(2).unwrap_or_default())];
        by_server.gauge(
            "pg_replication_slots_active",
            "Flag indicating if the slot is active",
            &by_database,
            if active { 1.0 } else { 0.0 },
        );
        by_server.gauge(
            "pg_replication_slots_pg_wal_lsn_diff",
            "Replication lag in bytes",
            &by_database,
            num(row.get(6)),
        );
    })
    .await
}
