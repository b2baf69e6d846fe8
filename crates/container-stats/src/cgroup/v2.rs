//! cgroup v2 files: one unified directory per cgroup, flat-keyed and nested-keyed files.

use std::path::Path;

use crate::cgroup::{read_optional, read_required, IoCounter, IoFiles, ReadOptions, Spec};
use crate::parse::{self, keyed, parse_limit, parse_u64, ParseError};
use crate::stats::{CfsStats, CpuStats, IoCost, MemoryStats, PidsStats};
use crate::tasks;
use crate::Error;

/// v2 `cpu.stat`: usage, user and system time (µs, returned as ns) and, when the cpu controller
/// is enabled, the CFS counters. Conversions saturate: the file's numbers are not trusted.
pub fn parse_cpu_stat(text: &str) -> (CpuStats, Option<CfsStats>) {
    let mut cpu = CpuStats::default();
    let mut cfs = CfsStats::default();
    let mut has_cfs = false;
    for (key, value) in keyed(text) {
        match key {
            "usage_usec" => cpu.usage_ns = value.saturating_mul(1000),
            "user_usec" => cpu.user_ns = Some(value.saturating_mul(1000)),
            "system_usec" => cpu.system_ns = Some(value.saturating_mul(1000)),
            "nr_periods" => {
                cfs.periods = value;
                has_cfs = true;
            }
            "nr_throttled" => cfs.throttled_periods = value,
            "throttled_usec" => cfs.throttled_ns = value.saturating_mul(1000),
            "nr_bursts" => cfs.bursts = Some(value),
            "burst_usec" => cfs.burst_ns = Some(value.saturating_mul(1000)),
            _ => {}
        }
    }
    (cpu, has_cfs.then_some(cfs))
}

/// `cpu.max`: `$MAX $PERIOD`, `max` meaning no quota.
pub fn parse_cpu_max(text: &str) -> Result<(Option<u64>, Option<u64>), ParseError> {
    let mut parts = text.split_ascii_whitespace();
    let quota = match parts.next() {
        Some("max") => None,
        Some(v) => Some(v.parse().map_err(|_| ParseError::new("cpu.max", text))?),
        None => return Err(ParseError::new("cpu.max", text)),
    };
    let period = parts
        .next()
        .map(|p| p.parse())
        .transpose()
        .map_err(|_| ParseError::new("cpu.max", text))?;
    Ok((quota, period))
}

/// `cpu.weight` (1..10000) as v1 shares (2..262144): the inverse of runc's shares-to-weight
/// mapping `1 + ((shares - 2) * 9999) / 262142`, as cAdvisor converts it. A weight outside the
/// kernel's range converts without overflowing (saturating).
pub fn weight_to_shares(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    ((weight - 1).saturating_mul(262_142) / 9_999).saturating_add(2)
}

/// v2 `memory.stat`.
pub fn parse_memory_stat(text: &str, memory: &mut MemoryStats) {
    for (key, value) in keyed(text) {
        match key {
            "anon" => memory.rss_bytes = value,
            "file" => memory.cache_bytes = value,
            "file_mapped" => memory.mapped_file_bytes = value,
            "active_file" => memory.active_file_bytes = value,
            "inactive_file" => memory.inactive_file_bytes = value,
            "pgfault" => memory.pgfault.pgfault = value,
            "pgmajfault" => memory.pgfault.pgmajfault = value,
            "kernel" => memory.kernel_bytes = Some(value),
            "file_dirty" => memory.dirty_bytes = Some(value),
            "file_writeback" => memory.writeback_bytes = Some(value),
            "pgscan" => memory.pgscan = Some(value),
            "pgsteal" => memory.pgsteal = Some(value),
            "workingset_refault_anon" => memory.workingset_refault_anon = Some(value),
            "workingset_refault_file" => memory.workingset_refault_file = Some(value),
            _ => {}
        }
    }
    // v2 counts are always hierarchical.
    memory.pgfault_hierarchy = memory.pgfault;
}

/// `memory.events`' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    pub high: Option<u64>,
    pub max: Option<u64>,
    pub oom_kill: Option<u64>,
}

/// `memory.events`: `high`, `max`, `oom_kill`.
pub fn parse_memory_events(text: &str) -> MemoryEvents {
    let mut events = MemoryEvents::default();
    for (key, value) in keyed(text) {
        match key {
            "high" => events.high = Some(value),
            "max" => events.max = Some(value),
            "oom_kill" => events.oom_kill = Some(value),
            _ => {}
        }
    }
    events
}

/// `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..` per device, and
/// with iocost enabled `cost.usage=.. cost.wait=.. cost.indebt=.. cost.indelay=..` (µs). Fields
/// that do not parse are skipped; a device listed twice adds up (saturating).
pub fn parse_io_stat(text: &str) -> IoFiles {
    let mut io = IoFiles::default();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let Some((major, minor)) = parts.next().and_then(parse::parse_device) else {
            continue;
        };
        let mut cost: Option<IoCost> = None;
        for field in parts {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            let (list, op) = match key {
                "rbytes" => (&mut io.bytes, "Read"),
                "wbytes" => (&mut io.bytes, "Write"),
                "dbytes" => (&mut io.bytes, "Discard"),
                "rios" => (&mut io.ops, "Read"),
                "wios" => (&mut io.ops, "Write"),
                "dios" => (&mut io.ops, "Discard"),
                "cost.usage" | "cost.wait" | "cost.indebt" | "cost.indelay" => {
                    let c = cost.get_or_insert_with(IoCost::default);
                    let slot = match key {
                        "cost.usage" => &mut c.usage_us,
                        "cost.wait" => &mut c.wait_us,
                        "cost.indebt" => &mut c.indebt_us,
                        _ => &mut c.indelay_us,
                    };
                    *slot = slot.saturating_add(value);
                    continue;
                }
                _ => continue,
            };
            IoCounter::entry(list, major, minor).add(op, value);
        }
        if let Some(cost) = cost {
            io.cost.push((major, minor, cost));
        }
    }
    io
}

pub(crate) struct V2Reading {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub io: IoFiles,
    pub pids: PidsStats,
    /// The pids in `cgroup.procs`, when processes or file descriptors were asked for.
    pub procs: Vec<u32>,
}

/// The settings of a v2 cgroup (`cpu.max`, `cpu.weight`, `memory.max`, `memory.low`,
/// `memory.swap.max`, `pids.max`).
pub(crate) fn read_spec(dir: &Path, buf: &mut String) -> Spec {
    let (quota_us, period_us) = read_optional(&dir.join("cpu.max"), buf)
        .and_then(|t| parse_cpu_max(t).ok())
        .unwrap_or_default();
    Spec {
        quota_us,
        period_us,
        shares: read_optional(&dir.join("cpu.weight"), buf)
            .and_then(|t| parse_u64(t).ok())
            .map(weight_to_shares),
        memory_limit: optional_limit(&dir.join("memory.max"), buf),
        memory_reservation: optional_limit(&dir.join("memory.low"), buf),
        swap_limit: optional_limit(&dir.join("memory.swap.max"), buf),
        pids_limit: optional_limit(&dir.join("pids.max"), buf),
        blkio_prefix: None,
    }
}

/// Reads one v2 cgroup. The hierarchy root has no `memory.current` or limits: its memory figures
/// then come from `memory.stat` alone.
pub(crate) fn read(
    dir: &Path,
    options: &ReadOptions,
    spec: &Spec,
    buf: &mut String,
    task_states_from: Option<&Path>,
) -> Result<V2Reading, Error> {
    let (mut cpu, cfs) = parse_cpu_stat(read_required(&dir.join("cpu.stat"), buf)?);
    cpu.cfs = cfs;
    cpu.quota_us = spec.quota_us;
    cpu.period_us = spec.period_us;
    cpu.shares = spec.shares;

    let current = optional_u64(&dir.join("memory.current"), buf);
    let mut memory = MemoryStats {
        usage_bytes: current.unwrap_or(0),
        max_usage_bytes: optional_u64(&dir.join("memory.peak"), buf),
        swap_bytes: optional_u64(&dir.join("memory.swap.current"), buf),
        limit_bytes: spec.memory_limit,
        reservation_bytes: spec.memory_reservation,
        swap_limit_bytes: spec.swap_limit,
        ..MemoryStats::default()
    };
    if let Some(text) = read_optional(&dir.join("memory.stat"), buf) {
        parse_memory_stat(text, &mut memory);
    }
    if current.is_none() {
        // The root cgroup has no memory.current: anonymous plus file pages stand in for it.
        memory.usage_bytes = memory.rss_bytes.saturating_add(memory.cache_bytes);
    }
    memory.working_set_bytes = memory
        .usage_bytes
        .saturating_sub(memory.inactive_file_bytes);
    if let Some(text) = read_optional(&dir.join("memory.events"), buf) {
        let events = parse_memory_events(text);
        memory.failcnt = events.max;
        memory.oom_kills = events.oom_kill;
        memory.events_high = events.high;
        memory.events_max = events.max;
    }

    let io = read_optional(&dir.join("io.stat"), buf)
        .map(parse_io_stat)
        .unwrap_or_default();

    let mut pids = PidsStats {
        current: optional_u64(&dir.join("pids.current"), buf),
        limit: spec.pids_limit,
        ..PidsStats::default()
    };
    let mut procs = Vec::new();
    if options.processes || options.file_descriptors {
        procs = read_optional(&dir.join("cgroup.procs"), buf)
            .map(parse::parse_pids)
            .unwrap_or_default();
    }
    if options.processes {
        pids.processes = Some(procs.len() as u64);
        // pids.current counts the threads, as cAdvisor reads it; the list is the fallback when
        // the pids controller is not enabled for this cgroup.
        pids.threads = pids
            .current
            .or_else(|| read_optional(&dir.join("cgroup.threads"), buf).map(parse::count_lines));
    }
    if let Some(procfs) = task_states_from {
        pids.task_states = read_optional(&dir.join("cgroup.threads"), buf)
            .map(parse::parse_pids)
            .map(|tids| tasks::task_states(procfs, &tids, buf));
    }
    Ok(V2Reading {
        cpu,
        memory,
        io,
        pids,
        procs,
    })
}

fn optional_u64(path: &Path, buf: &mut String) -> Option<u64> {
    read_optional(path, buf).and_then(|t| parse_u64(t).ok())
}

fn optional_limit(path: &Path, buf: &mut String) -> Option<u64> {
    read_optional(path, buf)
        .and_then(|t| parse_limit(t).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    const A: &str =
        "v2/sys/fs/cgroup/docker/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIX}/{name}")).unwrap()
    }

    #[test]
    fn real_unified_cpu_stat_without_cpu_controller() {
        // This host's hybrid unified tree: usage only, no CFS counters.
        let (cpu, cfs) = parse_cpu_stat(&fixture("v1/unified.cpu.stat"));
        assert_eq!(cpu.usage_ns, 3_678_473_000);
        assert_eq!(cpu.user_ns, Some(3_651_194_000));
        assert_eq!(cpu.system_ns, Some(27_279_000));
        assert_eq!(cfs, None);
    }

    #[test]
    fn documented_cpu_stat_with_cfs() {
        let (cpu, cfs) = parse_cpu_stat(&fixture(&format!("{A}/cpu.stat")));
        assert_eq!(cpu.usage_ns, 5_123_456_000);
        assert_eq!(
            cfs,
            Some(CfsStats {
                periods: 120,
                throttled_periods: 30,
                throttled_ns: 1_500_000_000,
                bursts: Some(0),
                burst_ns: Some(0),
            })
        );
    }

    #[test]
    fn cpu_max_and_weight() {
        assert_eq!(parse_cpu_max("max 100000\n"), Ok((None, Some(100_000))));
        assert_eq!(
            parse_cpu_max("50000 100000\n"),
            Ok((Some(50_000), Some(100_000)))
        );
        assert!(parse_cpu_max("").is_err());
        // runc's round trip: 1024 shares -> weight 39 -> back to about 1024.
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        assert!(weight_to_shares(39).abs_diff(1024) < 30);
    }

    #[test]
    fn memory_stat_events_and_io() {
        let mut m = MemoryStats::default();
        parse_memory_stat(&fixture(&format!("{A}/memory.stat")), &mut m);
        assert_eq!(m.rss_bytes, 20_971_520);
        assert_eq!(m.cache_bytes, 8_388_608);
        assert_eq!(m.inactive_file_bytes, 4_194_304);
        assert_eq!(m.mapped_file_bytes, 1_048_576);
        assert_eq!(m.pgfault_hierarchy, m.pgfault);
        let events = parse_memory_events(&fixture(&format!("{A}/memory.events")));
        assert_eq!((events.max, events.oom_kill), (Some(3), Some(1)));
        let io = parse_io_stat(&fixture(&format!("{A}/io.stat")));
        let sdb = &io.bytes[0];
        assert_eq!(
            (sdb.major, sdb.minor, sdb.read, sdb.write),
            (8, 16, 1_459_200, 314_773_504)
        );
        assert_eq!(
            sdb.by_operation,
            vec![("Read", 1_459_200), ("Write", 314_773_504), ("Discard", 0)]
        );
        assert_eq!((io.ops[0].read, io.ops[0].write), (192, 353));
        assert_eq!(io.bytes.len(), 2);
        assert!(io.cost.is_empty(), "no iocost in this file");
    }

    #[test]
    fn io_stat_with_iocost_and_hostile_fields() {
        // The kernel's io.stat with iocost enabled (Documentation/admin-guide/cgroup-v2.rst:
        // `cost.usage`, `cost.wait`, `cost.indebt`, `cost.indelay` in µs), then garbage.
        let text = "8:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6 cost.vrate=100.00 \
                    cost.usage=1500000 cost.wait=2000 cost.indebt=30 cost.indelay=4\n\
                    8:0 rbytes=18446744073709551615 rbytes=1 wbytes=-1 =3 rios wios=x\n\
                    nonsense\n259:0\n";
        let io = parse_io_stat(text);
        assert_eq!(
            io.cost,
            vec![(
                8,
                16,
                IoCost {
                    usage_us: 1_500_000,
                    wait_us: 2000,
                    indebt_us: 30,
                    indelay_us: 4
                }
            )]
        );
        let sda = io.bytes.iter().find(|c| c.minor == 0).unwrap();
        assert_eq!(sda.read, u64::MAX, "saturates instead of wrapping");
        assert_eq!(sda.write, 0);
        assert_eq!(
            io.ops
                .iter()
                .find(|c| c.minor == 16)
                .unwrap()
                .by_operation
                .len(),
            3
        );
    }

    #[test]
    fn newer_memory_stat_and_events_keys() {
        let mut m = MemoryStats::default();
        parse_memory_stat(
            "anon 1\nkernel 2\nfile_dirty 3\nfile_writeback 4\npgscan 5\npgsteal 6\n\
             workingset_refault_anon 7\nworkingset_refault_file 8\n",
            &mut m,
        );
        assert_eq!(
            (
                m.kernel_bytes,
                m.dirty_bytes,
                m.writeback_bytes,
                m.pgscan,
                m.pgsteal
            ),
            (Some(2), Some(3), Some(4), Some(5), Some(6))
        );
        assert_eq!(
            (m.workingset_refault_anon, m.workingset_refault_file),
            (Some(7), Some(8))
        );
        let e = parse_memory_events("low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\n");
        assert_eq!((e.high, e.max, e.oom_kill), (Some(12), Some(3), Some(1)));
        let (_, cfs) = parse_cpu_stat("usage_usec 1\nnr_periods 2\nnr_bursts 3\nburst_usec 4\n");
        let cfs = cfs.unwrap();
        assert_eq!((cfs.bursts, cfs.burst_ns), (Some(3), Some(4000)));
    }

    #[test]
    fn read_puts_a_v2_cgroup_together() {
        let dir = std::path::PathBuf::from(format!("{FIX}/{A}"));
        let options = ReadOptions {
            processes: true,
            ..ReadOptions::default()
        };
        let mut buf = String::new();
        let spec = read_spec(&dir, &mut buf);
        let r = read(&dir, &options, &spec, &mut buf, None).unwrap();
        assert_eq!(r.cpu.quota_us, Some(50_000));
        assert_eq!(r.cpu.period_us, Some(100_000));
        assert_eq!(r.memory.usage_bytes, 31_457_280);
        assert_eq!(r.memory.working_set_bytes, 31_457_280 - 4_194_304);
        assert_eq!(r.memory.limit_bytes, Some(67_108_864));
        assert_eq!(r.memory.reservation_bytes, Some(0));
        assert_eq!(r.memory.swap_limit_bytes, Some(67_108_864));
        assert_eq!(r.memory.failcnt, Some(3));
        assert_eq!(r.memory.oom_kills, Some(1));
        assert_eq!(r.pids.current, Some(3));
        assert_eq!(r.pids.limit, Some(100));
        assert_eq!(r.pids.processes, Some(2));
        assert_eq!(r.pids.threads, Some(3));
    }

    /// Inputs the cgroup_v2 fuzz target found: the µs-to-ns and weight conversions overflowed.
    #[test]
    fn huge_counters_and_weights_saturate() {
        let (cpu, cfs) = parse_cpu_stat(
            "usage_usec 18446744073709551615\nuser_usec 18446744073709552\n\
             system_usec 1\nnr_periods 1\nthrottled_usec 18446744073709551\n",
        );
        assert_eq!(cpu.usage_ns, u64::MAX);
        assert_eq!(cpu.user_ns, Some(u64::MAX));
        assert_eq!(cpu.system_ns, Some(1000));
        assert_eq!(
            cfs.map(|c| c.throttled_ns),
            Some(18_446_744_073_709_551_000)
        );
        assert_eq!(weight_to_shares(u64::MAX), u64::MAX / 9_999 + 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
    }
}
