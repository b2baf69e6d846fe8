//! cgroup v2 files: one unified directory per cgroup, flat-keyed and nested-keyed files.

use std::path::Path;

use crate::cgroup::{read_optional, read_required, IoCounter, ReadOptions, Spec};
use crate::parse::{self, keyed, parse_limit, parse_u64, ParseError};
use crate::stats::{CfsStats, CpuStats, MemoryStats, PidsStats};
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
            _ => {}
        }
    }
    // v2 counts are always hierarchical.
    memory.pgfault_hierarchy = memory.pgfault;
}

/// `memory.events`: (`max`, `oom_kill`).
pub fn parse_memory_events(text: &str) -> (Option<u64>, Option<u64>) {
    let mut max = None;
    let mut oom_kill = None;
    for (key, value) in keyed(text) {
        match key {
            "max" => max = Some(value),
            "oom_kill" => oom_kill = Some(value),
            _ => {}
        }
    }
    (max, oom_kill)
}

/// `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..` per device; returns
/// (bytes, ops).
pub fn parse_io_stat(text: &str) -> (Vec<IoCounter>, Vec<IoCounter>) {
    let mut bytes = Vec::new();
    let mut ops = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let Some((major, minor)) = parts.next().and_then(parse::parse_device) else {
            continue;
        };
        let mut b = IoCounter {
            major,
            minor,
            ..IoCounter::default()
        };
        let mut o = b.clone();
        for field in parts {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match key {
                "rbytes" => b.read = value,
                "wbytes" => b.write = value,
                "rios" => o.read = value,
                "wios" => o.write = value,
                _ => {}
            }
        }
        bytes.push(b);
        ops.push(o);
    }
    (bytes, ops)
}

pub(crate) struct V2Reading {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub io_bytes: Vec<IoCounter>,
    pub io_ops: Vec<IoCounter>,
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
        (memory.failcnt, memory.oom_kills) = parse_memory_events(text);
    }

    let (io_bytes, io_ops) = read_optional(&dir.join("io.stat"), buf)
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
    Ok(V2Reading {
        cpu,
        memory,
        io_bytes,
        io_ops,
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
                throttled_ns: 1_500_000_000
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
        assert_eq!(
            parse_memory_events(&fixture(&format!("{A}/memory.events"))),
            (Some(3), Some(1))
        );
        let (bytes, ops) = parse_io_stat(&fixture(&format!("{A}/io.stat")));
        assert_eq!(
            bytes[0],
            IoCounter {
                major: 8,
                minor: 16,
                read: 1_459_200,
                write: 314_773_504
            }
        );
        assert_eq!(
            ops[0],
            IoCounter {
                major: 8,
                minor: 16,
                read: 192,
                write: 353
            }
        );
        assert_eq!(bytes.len(), 2);
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
        let r = read(&dir, &options, &spec, &mut buf).unwrap();
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
