//! `node_tape_*{device}` from `/sys/class/scsi_tape/st<N>/stats/`: each SCSI tape drive's I/O
//! counts, bytes and times. Only the `stN` devices are read (the `nstN` and mode variants are
//! the same drive). Hosts without tape drives have no data.

use std::path::Path;

use metrics_core::MetricSet;
use serde::{Deserialize, Serialize};

use super::{list_dir, read_attr, CollectorError, Host};

/// `(stats file, metric, help, nanoseconds?)`; `in_flight` is the only gauge.
const COUNTERS: [(&str, &str, &str, bool); 9] = [
    (
        "io_ns",
        "node_tape_io_time_seconds_total",
        "The amount of time spent waiting for all I/O to complete (including read and write).",
        true,
    ),
    (
        "other_cnt",
        "node_tape_io_others_total",
        "The number of I/Os issued to the tape drive other than read or write commands.",
        false,
    ),
    (
        "read_byte_cnt",
        "node_tape_read_bytes_total",
        "The number of bytes read from the tape drive.",
        false,
    ),
    (
        "read_cnt",
        "node_tape_reads_completed_total",
        "The number of read requests issued to the tape drive.",
        false,
    ),
    (
        "read_ns",
        "node_tape_read_time_seconds_total",
        "The amount of time spent waiting for read requests to complete.",
        true,
    ),
    (
        "resid_cnt",
        "node_tape_residual_total",
        "The number of times during a read or write the residual amount was non-zero.",
        false,
    ),
    (
        "write_byte_cnt",
        "node_tape_written_bytes_total",
        "The number of bytes written to the tape drive.",
        false,
    ),
    (
        "write_cnt",
        "node_tape_writes_completed_total",
        "The number of write requests issued to the tape drive.",
        false,
    ),
    (
        "write_ns",
        "node_tape_write_time_seconds_total",
        "The amount of time spent waiting for write requests to complete.",
        true,
    ),
];

/// Whether a `scsi_tape` entry is a drive's main device (`st0`, not `nst0` or `st0a`).
pub fn is_drive(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A stats file's value; a missing file counts as 0, as node_exporter does.
fn stat(stats: &Path, file: &str) -> Result<u64, CollectorError> {
    let path = stats.join(file);
    match read_attr(&path) {
        None => Ok(0),
        Some(text) => text.parse().map_err(|e| CollectorError::parse(&path, e)),
    }
}

fn emit_drive(out: &mut MetricSet, device: &str, dir: &Path) -> Result<(), CollectorError> {
    let stats = dir.join("stats");
    let l = [("device", device)];
    out.gauge(
        "node_tape_io_now",
        "The number of I/Os currently outstanding to this device.",
        &l,
        stat(&stats, "in_flight")? as f64,
    );
    for (file, metric, help, nanoseconds) in COUNTERS {
        let value = stat(&stats, file)? as f64;
        // Multiplied, not divided, as node_exporter does: the same float comes out.
        let value = if nanoseconds {
            value * 0.000_000_001
        } else {
            value
        };
        out.counter(metric, help, &l, value);
    }
    Ok(())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (name, dir) in list_dir(&ctx.sys("class/scsi_tape"))? {
        if is_drive(&name) && !ctx.tapestats_ignored.is_match(&name) {
            emit_drive(out, &name, &dir)?;
        }
    }
    Ok(())
}

/// `collector.tapestats.ignored-devices`: tape drives (`st0`) not to report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TapestatsSettings {
    pub ignored_devices: String,
}

impl Default for TapestatsSettings {
    fn default() -> Self {
        Self {
            ignored_devices: "^$".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_main_devices_are_drives() {
        assert!(is_drive("st0") && is_drive("st12"));
        assert!(!is_drive("nst0") && !is_drive("st0a") && !is_drive("st"));
    }

    #[test]
    fn a_drive_reports_times_in_seconds_and_missing_files_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stats")).unwrap();
        for (file, value) in [
            ("read_ns", "2500000000"),
            ("read_cnt", "7"),
            ("in_flight", "1"),
        ] {
            std::fs::write(dir.path().join("stats").join(file), format!("{value}\n")).unwrap();
        }
        let mut set = MetricSet::new();
        emit_drive(&mut set, "st0", dir.path()).unwrap();
        let l = [("device", "st0")];
        assert_eq!(
            set.value("node_tape_read_time_seconds_total", &l),
            Some(2.5)
        );
        assert_eq!(set.value("node_tape_reads_completed_total", &l), Some(7.0));
        assert_eq!(set.value("node_tape_io_now", &l), Some(1.0));
        assert_eq!(set.value("node_tape_written_bytes_total", &l), Some(0.0));
        std::fs::write(dir.path().join("stats/write_cnt"), "many\n").unwrap();
        assert!(emit_drive(&mut MetricSet::new(), "st0", dir.path()).is_err());
    }
}
