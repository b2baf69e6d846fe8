//! The host as cAdvisor describes it beside its containers: the machine's CPU topology, swap and
//! persistent memory (`machine_*`), and the host's block-device filesystems with their disk
//! counters (the root cgroup's `container_fs_*` series).
//!
//! Parsers are pure functions over the text of `/proc` and `/sys` files; the readers take the
//! configured roots, so the same code reads fixture trees.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

/// One filesystem on a block device, as the root cgroup's `container_fs_*{device}` report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostFilesystem {
    /// The mount source (`/dev/vda1`), cAdvisor's `device` label.
    pub device: String,
    pub major: u32,
    pub minor: u32,
    pub mount_point: String,
    /// Size, free blocks (root's reserve included) and inodes, from `statvfs`.
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    pub inodes: u64,
    pub inodes_free: u64,
    /// The device's `/proc/diskstats` line; `None` when it has none (e.g. a device-mapper
    /// child listed under another name).
    pub disk: Option<DiskCounters>,
}

/// One `/proc/diskstats` line; times in milliseconds, as the kernel counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiskCounters {
    pub reads: u64,
    pub reads_merged: u64,
    pub sectors_read: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub writes_merged: u64,
    pub sectors_written: u64,
    pub write_ms: u64,
    pub in_progress: u64,
    pub io_ms: u64,
    pub weighted_io_ms: u64,
}

/// A mount of a block device from a `mountinfo` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMount {
    pub source: String,
    pub major: u32,
    pub minor: u32,
    pub mount_point: String,
}

/// The first mount of each block device (`/dev/...` sources) in a `mountinfo` file, in file
/// order: bind mounts of the same device are one filesystem. Lines that do not parse are skipped.
pub fn parse_block_mounts(text: &str) -> Vec<BlockMount> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in text
        .lines()
        .filter_map(|l| procfs::process::MountInfo::from_line(l).ok())
    {
        let Some(source) = m.mount_source.filter(|s| s.starts_with("/dev/")) else {
            continue;
        };
        let Some((major, minor)) = crate::parse::parse_device(&m.majmin) else {
            continue;
        };
        if seen.insert(source.clone()) {
            out.push(BlockMount {
                source,
                major,
                minor,
                mount_point: m.mount_point.to_string_lossy().into_owned(),
            });
        }
    }
    out
}

/// `/proc/diskstats` by device number; lines that do not parse are skipped.
pub fn parse_diskstats(text: &str) -> Vec<((u32, u32), DiskCounters)> {
    text.lines()
        .filter_map(|line| procfs::DiskStat::from_line(line).ok())
        .filter_map(|d| {
            let major = u32::try_from(d.major).ok()?;
            let minor = u32::try_from(d.minor).ok()?;
            Some((
                (major, minor),
                DiskCounters {
                    reads: d.reads,
                    reads_merged: d.merged,
                    sectors_read: d.sectors_read,
                    read_ms: d.time_reading,
                    writes: d.writes,
                    writes_merged: d.writes_merged,
                    sectors_written: d.sectors_written,
                    write_ms: d.time_writing,
                    in_progress: d.in_progress,
                    io_ms: d.time_in_progress,
                    weighted_io_ms: d.weighted_time_in_progress,
                },
            ))
        })
        .collect()
}

/// Size and inodes of the filesystem holding `path`: (capacity, free, inodes, free inodes).
/// Block counts times the fragment size saturate rather than wrap.
pub fn filesystem_size(path: &Path) -> Option<(u64, u64, u64, u64)> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some((
        s.f_blocks.saturating_mul(s.f_frsize),
        s.f_bfree.saturating_mul(s.f_frsize),
        s.f_files,
        s.f_ffree,
    ))
}

/// The host's block-device filesystems: mounts from `<procfs>/1/mountinfo` (the host's init, so
/// the host's view from inside a container too), sizes by `statvfs` under `rootfs`, disk
/// counters from `<procfs>/diskstats`. Filesystems whose mount point cannot be reached are left
/// out.
pub fn host_filesystems(procfs: &Path, rootfs: &Path) -> Vec<HostFilesystem> {
    let mounts = std::fs::read_to_string(procfs.join("1/mountinfo"))
        .map(|t| parse_block_mounts(&t))
        .unwrap_or_default();
    let disks = std::fs::read_to_string(procfs.join("diskstats"))
        .map(|t| parse_diskstats(&t))
        .unwrap_or_default();
    mounts
        .into_iter()
        .filter_map(|m| {
            let at = rootfs.join(m.mount_point.trim_start_matches('/'));
            let (capacity_bytes, free_bytes, inodes, inodes_free) = filesystem_size(&at)?;
            let disk = disks
                .iter()
                .find(|(n, _)| *n == (m.major, m.minor))
                .map(|(_, d)| *d);
            Some(HostFilesystem {
                device: m.source,
                major: m.major,
                minor: m.minor,
                mount_point: m.mount_point,
                capacity_bytes,
                free_bytes,
                inodes,
                inodes_free,
                disk,
            })
        })
        .collect()
}

/// CPU topology from `<sysfs>/devices/system/cpu/cpu*/topology`: (physical cores, sockets,
/// books, drawers) as counts of distinct ids, the way cAdvisor counts them. `None` where no CPU
/// has the file.
pub fn cpu_topology(sysfs: &Path) -> (Option<u32>, Option<u32>, Option<u32>, Option<u32>) {
    let mut cores = BTreeSet::new();
    let mut sockets = BTreeSet::new();
    let mut books = BTreeSet::new();
    let mut drawers = BTreeSet::new();
    let dir = sysfs.join("devices/system/cpu");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (None, None, None, None);
    };
    let id =
        |path: &Path| -> Option<i64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_cpu = name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_cpu {
            continue;
        }
        let topology = entry.path().join("topology");
        let package = id(&topology.join("physical_package_id"));
        if let Some(package) = package {
            sockets.insert(package);
            if let Some(core) = id(&topology.join("core_id")) {
                cores.insert((package, core));
            }
        }
        if let Some(book) = id(&topology.join("book_id")) {
            books.insert(book);
        }
        if let Some(drawer) = id(&topology.join("drawer_id")) {
            drawers.insert(drawer);
        }
    }
    (
        count(&cores),
        count(&sockets),
        count(&books),
        count(&drawers),
    )
}

fn count<T>(set: &BTreeSet<T>) -> Option<u32> {
    (!set.is_empty()).then(|| u32::try_from(set.len()).unwrap_or(u32::MAX))
}

/// Bytes of persistent memory in app-direct mode: the `size` of every `nd_pmem` region under
/// `<sysfs>/bus/nd/devices` (saturating). `None` without such regions.
pub fn nvm_app_direct_bytes(sysfs: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(sysfs.join("bus/nd/devices")).ok()?;
    let mut total: Option<u64> = None;
    for entry in entries.flatten() {
        let path = entry.path();
        let devtype = std::fs::read_to_string(path.join("devtype")).unwrap_or_default();
        if devtype.trim() != "nd_pmem" {
            continue;
        }
        let Some(size) = std::fs::read_to_string(path.join("size"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        else {
            continue;
        };
        total = Some(total.unwrap_or(0).saturating_add(size));
    }
    total
}

/// Memory modules by type from the EDAC driver's `<sysfs>/devices/system/edac/mc/mc*/dimm*`
/// (`dimm_mem_type`, `size` in MiB): (type, count, bytes), sorted by type; empty without EDAC.
pub fn dimms(sysfs: &Path) -> Vec<(String, u64, u64)> {
    let mut by_type: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let Ok(controllers) = std::fs::read_dir(sysfs.join("devices/system/edac/mc")) else {
        return Vec::new();
    };
    for mc in controllers.flatten() {
        let Ok(modules) = std::fs::read_dir(mc.path()) else {
            continue;
        };
        for dimm in modules.flatten() {
            if !dimm.file_name().to_string_lossy().starts_with("dimm") {
                continue;
            }
            let read = |f: &str| std::fs::read_to_string(dimm.path().join(f)).ok();
            let (Some(kind), Some(mib)) = (
                read("dimm_mem_type"),
                read("size").and_then(|s| s.trim().parse::<u64>().ok()),
            ) else {
                continue;
            };
            let entry = by_type.entry(kind.trim().to_string()).or_default();
            entry.0 = entry.0.saturating_add(1);
            entry.1 = entry.1.saturating_add(mib.saturating_mul(1024 * 1024));
        }
    }
    by_type.into_iter().map(|(k, (n, b))| (k, n, b)).collect()
}

/// `PRETTY_NAME` of an os-release file.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    #[test]
    fn block_mounts_of_this_host_once_per_device() {
        // This machine's /proc/1/mountinfo: /dev/vda mounted at /, /var/lib/docker and
        // /run/netns, and many virtual filesystems.
        let text = std::fs::read_to_string(format!("{FIX}/proc/mountinfo")).unwrap();
        let mounts = parse_block_mounts(&text);
        assert_eq!(
            mounts,
            vec![BlockMount {
                source: "/dev/vda".into(),
                major: 254,
                minor: 0,
                mount_point: "/".into()
            }]
        );
        assert!(parse_block_mounts("garbage\n").is_empty());
        // One broken line does not hide the others.
        let mixed = format!("1 2 x\n\u{3ff}\n{text}");
        assert_eq!(parse_block_mounts(&mixed).len(), 1);
    }

    #[test]
    fn diskstats_of_this_host() {
        let text = std::fs::read_to_string(format!("{FIX}/proc/diskstats")).unwrap();
        let disks = parse_diskstats(&text);
        let vda = disks.iter().find(|(n, _)| *n == (254, 0)).unwrap().1;
        // The fixture's vda line, field by field.
        let line = text.lines().find(|l| l.contains(" vda ")).unwrap();
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(3)
            .take(11)
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(
            vda,
            DiskCounters {
                reads: f[0],
                reads_merged: f[1],
                sectors_read: f[2],
                read_ms: f[3],
                writes: f[4],
                writes_merged: f[5],
                sectors_written: f[6],
                write_ms: f[7],
                in_progress: f[8],
                io_ms: f[9],
                weighted_io_ms: f[10],
            }
        );
        // A short or non-numeric line is skipped, the rest kept.
        let mixed = format!("8 0 sda 1 2\n{line}\n x y z\n");
        assert_eq!(parse_diskstats(&mixed).len(), 1);
    }

    #[test]
    fn two_socket_topology_and_pmem_regions_from_a_fixture_tree() {
        // Built in sysfs' layout: 2 sockets x 2 cores x 2 threads, s390x-style book/drawer ids on
        // the first socket only; one pmem region and one block region.
        let dir = tempfile::tempdir().unwrap();
        let cpu = dir.path().join("devices/system/cpu");
        for n in 0..8u32 {
            let t = cpu.join(format!("cpu{n}/topology"));
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("physical_package_id"), format!("{}\n", n / 4)).unwrap();
            std::fs::write(t.join("core_id"), format!("{}\n", (n / 2) % 2)).unwrap();
            if n < 4 {
                std::fs::write(t.join("book_id"), "3\n").unwrap();
                std::fs::write(t.join("drawer_id"), "1\n").unwrap();
            }
        }
        std::fs::create_dir_all(cpu.join("cpufreq")).unwrap();
        assert_eq!(
            cpu_topology(dir.path()),
            (Some(4), Some(2), Some(1), Some(1))
        );
        assert_eq!(
            cpu_topology(Path::new("/nonexistent")),
            (None, None, None, None)
        );

        assert_eq!(nvm_app_direct_bytes(dir.path()), None);
        let nd = dir.path().join("bus/nd/devices");
        for (name, devtype, size) in [
            ("region0", "nd_pmem", "135291469824"),
            ("region1", "nd_pmem", "not a number"),
            ("region2", "nd_blk", "4096"),
        ] {
            std::fs::create_dir_all(nd.join(name)).unwrap();
            std::fs::write(nd.join(name).join("devtype"), format!("{devtype}\n")).unwrap();
            std::fs::write(nd.join(name).join("size"), format!("{size}\n")).unwrap();
        }
        assert_eq!(nvm_app_direct_bytes(dir.path()), Some(135_291_469_824));
    }

    #[test]
    fn dimms_from_an_edac_fixture_tree() {
        // The EDAC driver's layout (Documentation/driver-api/edac.rst): two controllers, three
        // modules of two types, sizes in MiB, and a module without a size.
        let dir = tempfile::tempdir().unwrap();
        let mc = dir.path().join("devices/system/edac/mc");
        for (path, kind, size) in [
            ("mc0/dimm0", "Registered-DDR4", Some("16384")),
            ("mc0/dimm1", "Registered-DDR4", Some("16384")),
            ("mc1/dimm0", "Unbuffered-DDR4", Some("8192")),
            ("mc1/dimm1", "Unbuffered-DDR4", None),
        ] {
            std::fs::create_dir_all(mc.join(path)).unwrap();
            std::fs::write(mc.join(path).join("dimm_mem_type"), format!("{kind}\n")).unwrap();
            if let Some(size) = size {
                std::fs::write(mc.join(path).join("size"), format!("{size}\n")).unwrap();
            }
        }
        std::fs::create_dir_all(mc.join("mc0/csrow0")).unwrap();
        assert_eq!(
            dimms(dir.path()),
            vec![
                ("Registered-DDR4".to_string(), 2, 32 << 30),
                ("Unbuffered-DDR4".to_string(), 1, 8 << 30)
            ]
        );
        assert!(dimms(Path::new("/nonexistent")).is_empty());
    }

    #[test]
    fn this_machine_has_a_topology_and_a_root_filesystem() {
        let (cores, sockets, _, _) = cpu_topology(Path::new("/sys"));
        assert!(cores.unwrap_or(0) >= 1 && sockets.unwrap_or(0) >= 1);
        let fs = host_filesystems(Path::new("/proc"), Path::new("/"));
        let root = fs.iter().find(|f| f.mount_point == "/").unwrap();
        assert!(root.capacity_bytes > root.free_bytes && root.inodes > root.inodes_free);
        assert!(root.disk.is_some(), "{root:?}");
        assert_eq!(
            parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
                .as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }
}
