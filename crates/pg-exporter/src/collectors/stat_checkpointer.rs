//! `pg_stat_checkpointer_*_total` (PostgreSQL 17 and later; nothing before).

use super::{for_rows, num_or_zero, Kind, Out};
use crate::target::Session;

const QUERY: &str = "SELECT num_timed, num_requested, restartpoints_timed, restartpoints_req, \
    restartpoints_done, write_time, sync_time, buffers_written, floor(EXTRACT(EPOCH FROM stats_reset)) \
    FROM pg_stat_checkpointer";

const FAMILIES: [(&str, &str); 9] = [
    ("pg_stat_checkpointer_num_timed_total", "Number of scheduled checkpoints due to timeout"),
    ("pg_stat_checkpointer_num_requested_total", "Number of requested checkpoints that have been performed"),
    ("pg_stat_checkpointer_restartpoints_timed_total", "Number of scheduled restartpoints due to timeout or after a failed attempt to perform it"),
    ("pg_stat_checkpointer_restartpoints_req_total", "Number of requested restartpoints"),
    ("pg_stat_checkpointer_restartpoints_done_total", "Number of restartpoints that have been performed"),
    ("pg_stat_checkpointer_write_time_total", "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints where files are written to disk, in milliseconds"),
    ("pg_stat_checkpointer_sync_time_total", "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints where files are synchronized to disk, in milliseconds"),
    ("pg_stat_checkpointer_buffers_written_total", "Number of buffers written during checkpoints and restartpoints"),
    ("pg_stat_checkpointer_stats_reset_total", "Time at which these statistics were last reset"),
];

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    if !s.version.at_least(17) {
        return Ok(());
    }
    for_rows(s, QUERY, |row| {
        for (i, (name, help)) in FAMILIES.iter().enumerate() {
            out.sample(Kind::Counter, name, help, &[], num_or_zero(row.get(i)));
        }
    })
    .await
}
