//! cAdvisor's `container_fs_*` and `container_blkio_device_usage_total` families, per device:
//! from the cgroup's block I/O files, and for the root cgroup also from the host's filesystems
//! (`statvfs` and `/proc/diskstats`), as cAdvisor's raw handler reports them.
//!
//! A family gets a series only where a file has the figure: v1's throttle layer counts bytes and
//! requests only, CFQ/BFQ add service time, merged and queued requests, v2's `io.stat` has bytes,
//! requests and (with iocost) cost; cAdvisor exports a 0 where it has no source, here the series
//! is absent. A device the host's filesystems and the blkio files both list is reported once,
//! from the filesystem's disk counters (cAdvisor would emit the same label set twice).

use container_stats::host::HostFilesystem;
use container_stats::{BlkioDevice, IoSplit};

use crate::out::Out;

const NS: f64 = 1e9;
const MS: f64 = 1e3;
const US: f64 = 1e6;

/// One family's series by device, the first value of a device winning.
struct ByDevice<'a> {
    series: Vec<(&'a str, f64)>,
}

impl<'a> ByDevice<'a> {
    fn new() -> Self {
        Self { series: Vec::new() }
    }
    fn add(&mut self, device: &'a str, value: Option<f64>) {
        if let Some(v) = value {
            if !self.series.iter().any(|(d, _)| *d == device) {
                self.series.push((device, v));
            }
        }
    }
    fn counter(self, o: &mut Out<'_>, name: &str, help: &str) {
        for (device, v) in self.series {
            o.counter(name, help, &[("device", device)], v);
        }
    }
    fn gauge(self, o: &mut Out<'_>, name: &str, help: &str) {
        for (device, v) in self.series {
            o.gauge(name, help, &[("device", device)], v);
        }
    }
}

type FromBlkio = fn(&BlkioDevice) -> Option<f64>;
type FromFs = fn(&HostFilesystem) -> Option<f64>;

/// (name, help, counter?, from the blkio files, from a host filesystem's disk counters).
const IO_FAMILIES: &[(&str, &str, bool, FromBlkio, FromFs)] = &[
    (
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        true,
        |d| Some(d.read_bytes as f64),
        |_| None,
    ),
    (
        "container_fs_reads_total",
        "Cumulative count of reads completed",
        true,
        |d| Some(d.reads as f64),
        |f| Some(f.disk?.reads as f64),
    ),
    (
        "container_fs_sector_reads_total",
        "Cumulative count of sector reads completed",
        true,
        |_| None,
        |f| Some(f.disk?.sectors_read as f64),
    ),
    (
        "container_fs_reads_merged_total",
        "Cumulative count of reads merged",
        true,
        |d| split(d.merged, |s| s.read),
        |f| Some(f.disk?.reads_merged as f64),
    ),
    (
        "container_fs_read_seconds_total",
        "Cumulative count of seconds spent reading",
        true,
        |d| split(d.service_time_ns, |s| s.read).map(|ns| ns / NS),
        |f| Some(f.disk?.read_ms as f64 / MS),
    ),
    (
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        true,
        |d| Some(d.write_bytes as f64),
        |_| None,
    ),
    (
        "container_fs_writes_total",
        "Cumulative count of writes completed",
        true,
        |d| Some(d.writes as f64),
        |f| Some(f.disk?.writes as f64),
    ),
    (
        "container_fs_sector_writes_total",
        "Cumulative count of sector writes completed",
        true,
        |_| None,
        |f| Some(f.disk?.sectors_written as f64),
    ),
    (
        "container_fs_writes_merged_total",
        "Cumulative count of writes merged",
        true,
        |d| split(d.merged, |s| s.write),
        |f| Some(f.disk?.writes_merged as f64),
    ),
    (
        "container_fs_write_seconds_total",
        "Cumulative count of seconds spent writing",
        true,
        |d| split(d.service_time_ns, |s| s.write).map(|ns| ns / NS),
        |f| Some(f.disk?.write_ms as f64 / MS),
    ),
    (
        "container_fs_io_current",
        "Number of I/Os currently in progress",
        false,
        |d| d.queued.map(|q| q as f64),
        |f| Some(f.disk?.in_progress as f64),
    ),
    (
        "container_fs_io_time_seconds_total",
        "Cumulative count of seconds spent doing I/Os",
        true,
        |d| split(d.service_time_ns, |s| s.total).map(|ns| ns / NS),
        |f| Some(f.disk?.io_ms as f64 / MS),
    ),
    (
        "container_fs_io_time_weighted_seconds_total",
        "Cumulative weighted I/O time in seconds",
        true,
        |_| None,
        |f| Some(f.disk?.weighted_io_ms as f64 / MS),
    ),
    (
        "container_fs_io_cost_usage_seconds_total",
        "Cumulative IOCost usage in seconds",
        true,
        |d| d.cost.map(|c| c.usage_us as f64 / US),
        |_| None,
    ),
    (
        "container_fs_io_cost_wait_seconds_total",
        "Cumulative IOCost wait in seconds",
        true,
        |d| d.cost.map(|c| c.wait_us as f64 / US),
        |_| None,
    ),
    (
        "container_fs_io_cost_indebt_seconds_total",
        "Cumulative IOCost debt in seconds",
        true,
        |d| d.cost.map(|c| c.indebt_us as f64 / US),
        |_| None,
    ),
    (
        "container_fs_io_cost_indelay_seconds_total",
        "Cumulative IOCost delay in seconds",
        true,
        |d| d.cost.map(|c| c.indelay_us as f64 / US),
        |_| None,
    ),
];

fn split(s: Option<IoSplit>, part: fn(&IoSplit) -> u64) -> Option<f64> {
    s.as_ref().map(|s| part(s) as f64)
}

/// The block I/O families (cAdvisor's `diskIO` group) of one cgroup; `filesystems` is empty
/// except for the root cgroup.
pub(crate) fn disk_io(o: &mut Out<'_>, devices: &[BlkioDevice], filesystems: &[HostFilesystem]) {
    for (name, help, counter, from_blkio, from_fs) in IO_FAMILIES {
        let mut by = ByDevice::new();
        for f in filesystems {
            by.add(&f.device, from_fs(f));
        }
        for d in devices {
            by.add(&d.device, from_blkio(d));
        }
        if *counter {
            by.counter(o, name, help);
        } else {
            by.gauge(o, name, help);
        }
    }
    for d in devices {
        let (major, minor) = (d.major.to_string(), d.minor.to_string());
        for (operation, bytes) in &d.bytes_by_operation {
            o.counter(
                "container_blkio_device_usage_total",
                "Blkio Device bytes usage",
                &[
                    ("device", d.device.as_str()),
                    ("major", major.as_str()),
                    ("minor", minor.as_str()),
                    ("operation", operation),
                ],
                *bytes as f64,
            );
        }
    }
}

/// The root cgroup's filesystem figures (cAdvisor's `disk` group): every host filesystem's
/// size, use and inodes.
pub(crate) fn host_filesystems(o: &mut Out<'_>, filesystems: &[HostFilesystem]) {
    for f in filesystems {
        let dev = [("device", f.device.as_str())];
        o.gauge(
            "container_fs_limit_bytes",
            "Number of bytes that can be consumed by the container on this filesystem.",
            &dev,
            f.capacity_bytes as f64,
        );
        o.gauge(
            "container_fs_usage_bytes",
            "Number of bytes that are consumed by the container on this filesystem.",
            &dev,
            f.capacity_bytes.saturating_sub(f.free_bytes) as f64,
        );
        o.gauge(
            "container_fs_inodes_total",
            "Number of Inodes",
            &dev,
            f.inodes as f64,
        );
        o.gauge(
            "container_fs_inodes_free",
            "Number of available Inodes",
            &dev,
            f.inodes_free as f64,
        );
    }
}
