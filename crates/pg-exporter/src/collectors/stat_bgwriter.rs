//! `pg_stat_bgwriter_*_total`. PostgreSQL 17 moved the checkpoint columns to
//! `pg_stat_checkpointer`; we keep feeding the same families from there so that dashboards keep
//! working (`buffers_backend` and `buffers_backend_fsync` are gone from 17 and are not reported).

use super::{for_rows, num_or_zero, Kind, Out};
use crate::target::Session;

const QUERY: &str = "SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, \
    checkpoint_sync_time, buffers_checkpoint, buffers_clean, maxwritten_clean, buffers_backend, \
    buffers_backend_fsync, buffers_alloc, floor(EXTRACT(EPOCH FROM stats_reset)) FROM pg_stat_bgwriter";

const QUERY_17: &str = "SELECT c.num_timed, c.num_requested, c.write_time, c.sync_time, \
    c.buffers_written, b.buffers_clean, b.maxwritten_clean, NULL, NULL, b.buffers_alloc, \
    floor(EXTRACT(EPOCH FROM b.stats_reset)) FROM pg_stat_bgwriter b, pg_stat_checkpointer c";

const FAMILIES: [(&str, &str); 11] = [
    ("pg_stat_bgwriter_checkpoints_timed_total", "Number of scheduled checkpoints that have been performed"),
    ("pg_stat_bgwriter_checkpoints_req_total", "Number of requested checkpoints that have been performed"),
    ("pg_stat_bgwriter_checkpoint_write_time_total", "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds"),
    ("pg_stat_bgwriter_checkpoint_sync_time_total", "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds"),
    ("pg_stat_bgwriter_buffers_checkpoint_total", "Number of buffers written during checkpoints"),
    ("pg_stat_bgwriter_buffers_clean_total", "Number of buffers written by the background writer"),
    ("pg_stat_bgwriter_maxwritten_clean_total", "Number of times the background writer stopped a cleaning scan because it had written too many buffers"),
    ("pg_stat_bgwriter_buffers_backend_total", "Number of buffers written directly by a backend"),
    ("pg_stat_bgwriter_buffers_backend_fsync_total", "Number of times a backend had to execute its own fsync call (normally the background writer handles those even when the backend does its own write)"),
    ("pg_stat_bgwriter_buffers_alloc_total", "Number of buffers allocated"),
    ("pg_stat_bgwriter_stats_reset_total", "Time at which these statistics were last reset"),
];

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    let v17 = s.version.at_least(17);
    for_rows(s, if v17 { QUERY_17 } else { QUERY }, |row| {
        for (i, (name, help)) in FAMILIES.iter().enumerate() {
            if v17 && row.get(i).is_none() && (i == 7 || i == 8) {
                continue;
            }
            out.sample(Kind::Counter, name, help, &[], num_or_zero(row.get(i)));
        }
    })
    .await
}
