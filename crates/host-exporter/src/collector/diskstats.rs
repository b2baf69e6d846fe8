//! `node_disk_*` from `/proc/diskstats` (procfs-core's parser) and `node_disk_info` with the
//! device's udev properties when `/run/udev/data` has them.

use std::collections::HashMap;

use metrics_core::MetricSet;
use procfs::FromRead;

use super::{read, CollectorError, Host};

/// The kernel counts in 512-byte sectors whatever the device's real sector size.
const SECTOR_BYTES: f64 = 512.0;

pub fn parse(text: &str) -> Result<Vec<procfs::DiskStat>, String> {
    procfs::DiskStats::from_read(text.as_bytes())
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

/// `/sys/block/<dev>/queue/rotational` as `"1"` (spinning) or `"0"`; devices without a queue
/// (partitions, some virtual ones) report `"0"`, as node_exporter does.
fn rotational(ctx: &Host, device: &str) -> &'static str {
    let path = ctx.sys("block").join(device).join("queue/rotational");
    match super::read_attr(&path).as_deref() {
        Some("1") => "1",
        _ => "0",
    }
}

/// `node_disk_filesystem_info` for a device whose udev record names a filesystem on it
/// (`ID_FS_TYPE`, which blkid puts there); nothing for one without.
fn filesystem_info(out: &mut MetricSet, device: &str, udev: &HashMap<&str, &str>) {
    let prop = |k: &str| udev.get(k).copied().unwrap_or("");
    if prop("ID_FS_TYPE").is_empty() {
        return;
    }
    out.gauge(
        "node_disk_filesystem_info",
        "The filesystem udev found on the block device: type, usage, UUID and version.",
        &[
            ("device", device),
            ("type", prop("ID_FS_TYPE")),
            ("usage", prop("ID_FS_USAGE")),
            ("uuid", prop("ID_FS_UUID")),
            ("version", prop("ID_FS_VERSION")),
        ],
        1.0,
    );
}

/// The `E:KEY=VALUE` properties of a udev database file.
pub fn parse_udev(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .collect()
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("diskstats");
    let disks = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    for d in disks {
        if ctx.diskstats_filter.excludes(&d.name) {
            continue;
        }
        let dev = [("device", d.name.as_str())];
        let ms = |v: u64| v as f64 / 1000.0;
        let c =
            |out: &mut MetricSet, name: &str, help: &str, v: f64| out.counter(name, help, &dev, v);
        let (major, minor) = (d.major.to_string(), d.minor.to_string());
        let udev_text = read(&ctx.udev_data.join(format!("b{major}:{minor}"))).unwrap_or_default();
        let udev = parse_udev(&udev_text);
        let prop = |k: &str| udev.get(k).copied().unwrap_or("");
        // The serial printed on the disk's label when udev knows it, else the short one.
        let serial = udev
            .get("SCSI_IDENT_SERIAL")
            .filter(|s| !s.is_empty())
            .copied()
            .unwrap_or(prop("ID_SERIAL_SHORT"));
        let rotational = rotational(ctx, &d.name);
        out.gauge(
            "node_disk_info",
            "Info of /sys/block/<block_device>.",
            &[
                ("device", d.name.as_str()),
                ("major", &major),
                ("minor", &minor),
                ("model", prop("ID_MODEL")),
                ("path", prop("ID_PATH")),
                ("revision", prop("ID_REVISION")),
                ("rotational", rotational),
                ("serial", serial),
                ("wwn", prop("ID_WWN")),
            ],
            1.0,
        );
        filesystem_info(out, &d.name, &udev);
        c(
            out,
            "node_disk_reads_completed_total",
            "The total number of reads completed successfully.",
            d.reads as f64,
        );
        c(
            out,
            "node_disk_reads_merged_total",
            "The total number of reads merged.",
            d.merged as f64,
        );
        c(
            out,
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            d.sectors_read as f64 * SECTOR_BYTES,
        );
        c(
            out,
            "node_disk_read_time_seconds_total",
            "The total number of seconds spent by all reads.",
            ms(d.time_reading),
        );
        c(
            out,
            "node_disk_writes_completed_total",
            "The total number of writes completed successfully.",
            d.writes as f64,
        );
        c(
            out,
            "node_disk_writes_merged_total",
            "The number of writes merged.",
            d.writes_merged as f64,
        );
        c(
            out,
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            d.sectors_written as f64 * SECTOR_BYTES,
        );
        c(
            out,
            "node_disk_write_time_seconds_total",
            "This is the total number of seconds spent by all writes.",
            ms(d.time_writing),
        );
        out.gauge(
            "node_disk_io_now",
            "The number of I/Os currently in progress.",
            &dev,
            d.in_progress as f64,
        );
        c(
            out,
            "node_disk_io_time_seconds_total",
            "Total seconds spent doing I/Os.",
            ms(d.time_in_progress),
        );
        c(
            out,
            "node_disk_io_time_weighted_seconds_total",
            "The weighted number of seconds spent doing I/Os.",
            ms(d.weighted_time_in_progress),
        );
        if let (Some(n), Some(merged), Some(sectors), Some(time)) = (
            d.discards,
            d.discards_merged,
            d.sectors_discarded,
            d.time_discarding,
        ) {
            c(
                out,
                "node_disk_discards_completed_total",
                "The total number of discards completed successfully.",
                n as f64,
            );
            c(
                out,
                "node_disk_discards_merged_total",
                "The total number of discards merged.",
                merged as f64,
            );
            c(
                out,
                "node_disk_discarded_sectors_total",
                "The total number of sectors discarded successfully.",
                sectors as f64,
            );
            c(
                out,
                "node_disk_discard_time_seconds_total",
                "This is the total number of seconds spent by all discards.",
                ms(time),
            );
        }
        if let (Some(n), Some(time)) = (d.flushes, d.time_flushing) {
            c(
                out,
                "node_disk_flush_requests_total",
                "The total number of flush requests completed successfully.",
                n as f64,
            );
            c(
                out,
                "node_disk_flush_requests_time_seconds_total",
                "This is the total number of seconds spent by all flush requests.",
                ms(time),
            );
        }
    }
    Ok(())
}

/// node_exporter 1.9's default (1.8 added `z?` so compressed-RAM swap devices stay out too).
pub const DEFAULT_DISKSTATS_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_real_diskstats_with_discards_and_flushes() {
        let disks = parse(&fixtures::read("proc/diskstats")).unwrap();
        let vda = disks.iter().find(|d| d.name == "vda").unwrap();
        assert!(vda.reads > 0);
        assert!(vda.flushes.is_some() && vda.discards.is_some());
    }

    #[test]
    fn rotational_comes_from_the_devices_queue() {
        let sys = tempfile::tempdir().unwrap();
        for (device, value) in [("sda", "1"), ("nvme0n1", "0")] {
            let queue = sys.path().join("block").join(device).join("queue");
            std::fs::create_dir_all(&queue).unwrap();
            std::fs::write(queue.join("rotational"), format!("{value}\n")).unwrap();
        }
        let context = fixtures::sysfs_context(sys.path());
        let host = Host::new(&context);
        assert_eq!(rotational(&host, "sda"), "1");
        assert_eq!(rotational(&host, "nvme0n1"), "0");
        // No queue (a partition, device-mapper on some kernels): not rotational.
        assert_eq!(rotational(&host, "sda1"), "0");
    }

    #[test]
    fn filesystem_info_only_where_udev_names_a_filesystem() {
        // As the Debian 13 guest's udev database has it for its root disk.
        let ext4 = parse_udev(
            "E:ID_FS_UUID=0d4c1c7e-5a1b-4e1e-9d0c-3f1f6f1f2a11\nE:ID_FS_VERSION=1.0\n\
             E:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\n",
        );
        let bare = parse_udev("E:ID_MODEL=QEMU_HARDDISK\n");
        let mut set = MetricSet::new();
        filesystem_info(&mut set, "vda", &ext4);
        filesystem_info(&mut set, "vdb", &bare);
        assert_eq!(set.sample_count("node_disk_filesystem_info"), 1);
        let labels = [
            ("device", "vda"),
            ("type", "ext4"),
            ("usage", "filesystem"),
            ("uuid", "0d4c1c7e-5a1b-4e1e-9d0c-3f1f6f1f2a11"),
            ("version", "1.0"),
        ];
        assert_eq!(set.value("node_disk_filesystem_info", &labels), Some(1.0));
    }

    #[test]
    fn udev_properties_are_read_from_e_lines() {
        let p = parse_udev(
            "S:disk/by-id/x\nE:ID_MODEL=QEMU_HARDDISK\nE:ID_SERIAL_SHORT=123\nG:systemd\n",
        );
        assert_eq!(p.get("ID_MODEL"), Some(&"QEMU_HARDDISK"));
        assert_eq!(p.get("ID_SERIAL_SHORT"), Some(&"123"));
        assert_eq!(p.len(), 2);
    }
}
