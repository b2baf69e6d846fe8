//! `node_btrfs_*{uuid}` from `/sys/fs/btrfs/<fsid>/`: each mounted btrfs filesystem's label,
//! allocation by block-group type and RAID profile, global reserve, commit statistics and
//! member devices' sizes. The per-device error counters node_exporter also reads need a
//! `BTRFS_IOC_GET_DEV_STATS` ioctl on a mounted filesystem and are not exported.

use std::collections::BTreeMap;
use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// sysfs reports device sizes in 512-byte sectors.
const SECTOR_BYTES: u64 = 512;

/// The block-group types btrfs allocates separately.
const BLOCK_GROUP_TYPES: [&str; 3] = ["data", "metadata", "system"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filesystem {
    pub uuid: String,
    pub label: String,
    pub global_rsv_size: u64,
    pub commits: Option<CommitStats>,
    /// Per block-group type: reserved bytes and, per RAID profile, `(total, used)` bytes.
    pub allocation: BTreeMap<String, Allocation>,
    /// Member devices and their sizes in bytes.
    pub devices: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocation {
    pub reserved: u64,
    pub profiles: BTreeMap<String, (u64, u64)>,
}

/// `commit_stats` (Linux 5.18+), times in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub commits: u64,
    pub last_commit_ms: u64,
    pub max_commit_ms: u64,
    pub total_commit_ms: u64,
}

/// `name value` lines of `commit_stats`; unknown names are skipped.
pub fn parse_commit_stats(text: &str) -> Result<CommitStats, String> {
    let mut stats = CommitStats::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (name, value) = line
            .split_once(' ')
            .ok_or_else(|| format!("bad commit_stats line {line:?}"))?;
        let value: u64 = value
            .trim()
            .parse()
            .map_err(|e| format!("commit_stats {name}: {e}"))?;
        match name {
            "commits" => stats.commits = value,
            "last_commit_ms" => stats.last_commit_ms = value,
            "max_commit_ms" => stats.max_commit_ms = value,
            "total_commit_ms" => stats.total_commit_ms = value,
            _ => {}
        }
    }
    Ok(stats)
}

/// How many bytes of raw space one byte of data takes in a RAID profile, given the number of
/// member devices (parity profiles spend one or two devices' worth).
pub fn allocation_ratio(profile: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match profile {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid1c3" => 3.0,
        "raid1c4" => 4.0,
        "raid5" if devices > 1 => n / (n - 1.0),
        "raid6" if devices > 2 => n / (n - 2.0),
        _ => 0.0,
    }
}

fn number(path: &Path) -> u64 {
    read_attr(path).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn read_allocation(dir: &Path) -> Result<Allocation, CollectorError> {
    let mut allocation = Allocation {
        reserved: number(&dir.join("bytes_reserved")),
        profiles: BTreeMap::new(),
    };
    for (profile, path) in list_dir(dir)? {
        if path.is_dir() {
            let sizes = (
                number(&path.join("total_bytes")),
                number(&path.join("used_bytes")),
            );
            allocation.profiles.insert(profile, sizes);
        }
    }
    Ok(allocation)
}

/// Reads one `/sys/fs/btrfs/<fsid>` directory.
pub fn read_filesystem(fsid: &str, dir: &Path) -> Result<Filesystem, CollectorError> {
    let commits = match read_attr(&dir.join("commit_stats")) {
        Some(text) => Some(
            parse_commit_stats(&text)
                .map_err(|why| CollectorError::parse(&dir.join("commit_stats"), why))?,
        ),
        None => None,
    };
    let mut fs = Filesystem {
        // A filesystem whose fsid changed (btrfstune -m) is known by its metadata UUID.
        uuid: read_attr(&dir.join("metadata_uuid"))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| fsid.to_string()),
        label: read_attr(&dir.join("label")).unwrap_or_default(),
        global_rsv_size: number(&dir.join("allocation/global_rsv_size")),
        commits,
        ..Filesystem::default()
    };
    for kind in BLOCK_GROUP_TYPES {
        let path = dir.join("allocation").join(kind);
        if path.is_dir() {
            fs.allocation
                .insert(kind.to_string(), read_allocation(&path)?);
        }
    }
    for (device, path) in list_dir(&dir.join("devices"))? {
        let sectors = number(&path.join("size"));
        fs.devices
            .insert(device, sectors.saturating_mul(SECTOR_BYTES));
    }
    Ok(fs)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    // Without the module there is nothing to report, which node_exporter counts as success.
    let filesystems = match list_dir(&ctx.sys("fs/btrfs")) {
        Err(CollectorError::NoData(_)) => return Ok(()),
        other => other?,
    };
    // Filesystems are the UUID-named directories; `features` and the like are not.
    for (fsid, dir) in filesystems {
        if fsid.contains('-') && dir.is_dir() {
            emit(out, &read_filesystem(&fsid, &dir)?);
        }
    }
    Ok(())
}

fn emit(out: &mut MetricSet, fs: &Filesystem) {
    let uuid = fs.uuid.as_str();
    let l = [("uuid", uuid)];
    out.gauge(
        "node_btrfs_info",
        "Filesystem information",
        &[("label", fs.label.as_str()), ("uuid", uuid)],
        1.0,
    );
    out.gauge(
        "node_btrfs_global_rsv_size_bytes",
        "Size of global reserve.",
        &l,
        fs.global_rsv_size as f64,
    );
    if let Some(c) = fs.commits {
        out.counter(
            "node_btrfs_commits_total",
            "The total number of commits that have occurred.",
            &l,
            c.commits as f64,
        );
        out.gauge(
            "node_btrfs_last_commit_seconds",
            "Duration of the most recent commit, in seconds.",
            &l,
            c.last_commit_ms as f64 / 1000.0,
        );
        out.gauge(
            "node_btrfs_max_commit_seconds",
            "Duration of the slowest commit, in seconds.",
            &l,
            c.max_commit_ms as f64 / 1000.0,
        );
        out.counter(
            "node_btrfs_commit_seconds_total",
            "Sum of the duration of all commits, in seconds.",
            &l,
            c.total_commit_ms as f64 / 1000.0,
        );
    }
    for (kind, allocation) in &fs.allocation {
        out.gauge(
            "node_btrfs_reserved_bytes",
            "Amount of space reserved for a data type",
            &[("block_group_type", kind.as_str()), ("uuid", uuid)],
            allocation.reserved as f64,
        );
        for (profile, (total, used)) in &allocation.profiles {
            let pl = [
                ("block_group_type", kind.as_str()),
                ("mode", profile.as_str()),
                ("uuid", uuid),
            ];
            out.gauge(
                "node_btrfs_used_bytes",
                "Amount of used space by a layout/data type",
                &pl,
                *used as f64,
            );
            out.gauge(
                "node_btrfs_size_bytes",
                "Amount of space allocated for a layout/data type",
                &pl,
                *total as f64,
            );
            out.gauge(
                "node_btrfs_allocation_ratio",
                "Data allocation ratio for a layout/data type",
                &pl,
                allocation_ratio(profile, fs.devices.len()),
            );
        }
    }
    for (device, size) in &fs.devices {
        out.gauge(
            "node_btrfs_device_size_bytes",
            "Size of a device that is part of the filesystem.",
            &[("device", device.as_str()), ("uuid", uuid)],
            *size as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    const FSID: &str = "0abb23a9-579b-43e6-ad30-227ef47fcb9d";

    fn write(path: &Path, value: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{value}\n")).unwrap();
    }

    /// `/sys/fs/btrfs` as the kernel lays it out for a two-device filesystem with RAID1
    /// metadata and single data, beside the module's `features` directory.
    fn sysfs_tree() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let btrfs = root.path().join("fs/btrfs");
        write(&btrfs.join("features/raid1c34"), "0");
        let fs = btrfs.join(FSID);
        write(&fs.join("label"), "backups");
        write(&fs.join("allocation/global_rsv_size"), "16777216");
        write(
            &fs.join("commit_stats"),
            "commits 420\nlast_commit_ms 12\nmax_commit_ms 250\ntotal_commit_ms 8400",
        );
        for (kind, profile, reserved, total, used) in [
            ("data", "single", "0", "1073741824", "536870912"),
            ("metadata", "raid1", "65536", "268435456", "1048576"),
            ("system", "raid1", "0", "8388608", "16384"),
        ] {
            let dir = fs.join("allocation").join(kind);
            write(&dir.join("bytes_reserved"), reserved);
            write(&dir.join("total_bytes"), total);
            write(&dir.join(profile).join("total_bytes"), total);
            write(&dir.join(profile).join("used_bytes"), used);
        }
        // In sysfs these are symlinks to the block devices; their `size` is in sectors.
        write(&fs.join("devices/sdb/size"), "20971520");
        write(&fs.join("devices/sdc/size"), "41943040");
        root
    }

    fn collect_from(sysfs: &Path) -> Result<MetricSet, CollectorError> {
        fixtures::collect_once(collect, &fixtures::sysfs_context(sysfs))
    }

    #[test]
    fn reads_a_two_device_filesystem() {
        let tree = sysfs_tree();
        let set = collect_from(tree.path()).unwrap();
        let fs = [("uuid", FSID)];
        assert_eq!(
            set.value("node_btrfs_info", &[("label", "backups"), ("uuid", FSID)]),
            Some(1.0)
        );
        assert_eq!(
            set.sample_count("node_btrfs_info"),
            1,
            "features is no filesystem"
        );
        assert_eq!(
            set.value("node_btrfs_global_rsv_size_bytes", &fs),
            Some(16777216.0)
        );
        assert_eq!(set.value("node_btrfs_commits_total", &fs), Some(420.0));
        assert_eq!(set.value("node_btrfs_max_commit_seconds", &fs), Some(0.25));
        assert_eq!(set.value("node_btrfs_commit_seconds_total", &fs), Some(8.4));
        let metadata = [("block_group_type", "metadata"), ("mode", "raid1")];
        assert_eq!(
            set.value("node_btrfs_used_bytes", &metadata),
            Some(1048576.0)
        );
        assert_eq!(
            set.value("node_btrfs_size_bytes", &metadata),
            Some(268435456.0)
        );
        assert_eq!(
            set.value("node_btrfs_allocation_ratio", &metadata),
            Some(2.0)
        );
        assert_eq!(
            set.value(
                "node_btrfs_reserved_bytes",
                &[("block_group_type", "metadata")]
            ),
            Some(65536.0)
        );
        assert_eq!(
            set.value("node_btrfs_device_size_bytes", &[("device", "sdc")]),
            Some(41943040.0 * 512.0)
        );
    }

    #[test]
    fn metadata_uuid_names_the_filesystem_when_present() {
        let tree = sysfs_tree();
        let fs = tree.path().join("fs/btrfs").join(FSID);
        write(
            &fs.join("metadata_uuid"),
            "11111111-2222-3333-4444-555555555555",
        );
        let set = collect_from(tree.path()).unwrap();
        assert_eq!(
            set.value(
                "node_btrfs_info",
                &[("uuid", "11111111-2222-3333-4444-555555555555")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn parity_profiles_spend_whole_devices() {
        assert_eq!(allocation_ratio("raid5", 3), 1.5);
        assert_eq!(allocation_ratio("raid6", 4), 2.0);
        assert_eq!(allocation_ratio("raid6", 2), 0.0);
        assert_eq!(allocation_ratio("raid1c3", 3), 3.0);
    }

    #[test]
    fn commit_stats_parse_and_reject_garbage() {
        let c = parse_commit_stats("commits 3\nlast_commit_ms 4\nnew_field 9\n").unwrap();
        assert_eq!((c.commits, c.last_commit_ms), (3, 4));
        assert!(parse_commit_stats("commits many\n").is_err());
    }

    #[test]
    fn a_module_without_filesystems_or_no_module_exports_nothing() {
        let root = tempfile::tempdir().unwrap();
        assert!(!collect_from(root.path())
            .unwrap()
            .contains("node_btrfs_info"));
        write(&root.path().join("fs/btrfs/features/raid1c34"), "0");
        assert!(!collect_from(root.path())
            .unwrap()
            .contains("node_btrfs_info"));
    }
}
