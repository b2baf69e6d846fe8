//! cgroup v1 files: one hierarchy per controller (`cpu`, `cpuacct`, `memory`, `blkio`, `pids`).
//!
//! Parsers are pure functions from the file's text; [`read`] puts them together for one cgroup.

use std::path::Path;

use crate::cgroup::{read_optional, read_required, IoCounter, IoFiles, ReadOptions, Spec};
use crate::parse::{self, keyed, parse_limit, parse_u64, ParseError};
use crate::stats::{CfsStats, CpuStats, FaultCounts, MemoryStats, PidsStats};
use crate::tasks;
use crate::Error;

/// Nanoseconds per USER_HZ tick: `cpuacct.stat` counts in ticks of 1/100 s on every Linux
/// architecture that Docker runs on (USER_HZ is fixed at 100 for user space).
const NS_PER_TICK: u64 = 10_000_000;

/// The directories of one cgroup, one per v1 controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Dirs {
    pub cpu: std::path::PathBuf,
    pub cpuacct: std::path::PathBuf,
    pub memory: std::path::PathBuf,
    pub blkio: std::path::PathBuf,
    pub pids: std::path::PathBuf,
    /// The same cgroup in the hybrid unified tree, where the PSI files live.
    pub unified: Option<std::path::PathBuf>,
}

/// `cpuacct.stat`: user and system time, converted from ticks to nanoseconds (saturating).
pub fn parse_cpuacct_stat(text: &str) -> (Option<u64>, Option<u64>) {
    let mut user = None;
    let mut system = None;
    for (key, value) in keyed(text) {
        match key {
            "user" => user = Some(value.saturating_mul(NS_PER_TICK)),
            "system" => system = Some(value.saturating_mul(NS_PER_TICK)),
            _ => {}
        }
    }
    (user, system)
}

/// `cpuacct.usage_percpu`: nanoseconds per CPU, space separated.
pub fn parse_usage_percpu(text: &str) -> Result<Vec<u64>, ParseError> {
    text.split_ascii_whitespace()
        .map(|v| {
            v.parse()
                .map_err(|_| ParseError::new("cpuacct.usage_percpu", text))
        })
        .collect()
}

/// v1 `cpu.stat`: `nr_periods`, `nr_throttled`, `throttled_time` (ns), and since 5.14
/// `nr_bursts`, `burst_time` (ns).
pub fn parse_cpu_stat(text: &str) -> CfsStats {
    let mut cfs = CfsStats::default();
    for (key, value) in keyed(text) {
        match key {
            "nr_periods" => cfs.periods = value,
            "nr_throttled" => cfs.throttled_periods = value,
            "throttled_time" => cfs.throttled_ns = value,
            "nr_bursts" => cfs.bursts = Some(value),
            "burst_time" => cfs.burst_ns = Some(value),
            _ => {}
        }
    }
    cfs
}

/// `cpu.cfs_quota_us`: `-1` means no quota.
pub fn parse_quota(text: &str) -> Result<Option<u64>, ParseError> {
    let v: i64 = text
        .trim()
        .parse()
        .map_err(|_| ParseError::new("cpu.cfs_quota_us", text))?;
    Ok(u64::try_from(v).ok().filter(|v| *v > 0))
}

/// `memory.stat`, using the `total_*` (hierarchical) keys as cAdvisor and the docker CLI do.
pub fn parse_memory_stat(text: &str, memory: &mut MemoryStats) {
    for (key, value) in keyed(text) {
        match key {
            "total_cache" => memory.cache_bytes = value,
            "total_rss" => memory.rss_bytes = value,
            "total_mapped_file" => memory.mapped_file_bytes = value,
            "total_swap" => memory.swap_bytes = Some(value),
            "total_active_file" => memory.active_file_bytes = value,
            "total_inactive_file" => memory.inactive_file_bytes = value,
            "total_dirty" => memory.dirty_bytes = Some(value),
            "total_writeback" => memory.writeback_bytes = Some(value),
            "total_workingset_refault_anon" => memory.workingset_refault_anon = Some(value),
            "total_workingset_refault_file" => memory.workingset_refault_file = Some(value),
            "pgfault" => memory.pgfault.pgfault = value,
            "pgmajfault" => memory.pgfault.pgmajfault = value,
            "total_pgfault" => memory.pgfault_hierarchy.pgfault = value,
            "total_pgmajfault" => memory.pgfault_hierarchy.pgmajfault = value,
            _ => {}
        }
    }
}

/// `memory.oom_control`: the `oom_kill` count (kernels since 4.13).
pub fn parse_oom_control(text: &str) -> Option<u64> {
    keyed(text).find(|(k, _)| *k == "oom_kill").map(|(_, v)| v)
}

/// A blkio file of `MAJ:MIN Op value` lines (`io_service_bytes_recursive`,
/// `io_serviced_recursive`, and CFQ/BFQ's `io_service_time_recursive`, `io_merged_recursive`,
/// `io_queued_recursive`): per device, every operation cAdvisor knows, saturating where a device
/// is listed twice. The file's closing `Total` line (no device) and unknown operations are left
/// out.
pub fn parse_blkio(text: &str) -> Vec<IoCounter> {
    let mut out: Vec<IoCounter> = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(dev), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Some((major, minor)), Some(op), Ok(value)) = (
            parse::parse_device(dev),
            blkio_operation(op),
            value.parse::<u64>(),
        ) else {
            continue;
        };
        IoCounter::entry(&mut out, major, minor).add(op, value);
    }
    out
}

/// The kernel's blkio operation names, as `'static` strings.
fn blkio_operation(op: &str) -> Option<&'static str> {
    ["Read", "Write", "Sync", "Async", "Discard", "Total"]
        .into_iter()
        .find(|known| *known == op)
}

/// The figures of one v1 cgroup.
pub(crate) struct V1Reading {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub io: IoFiles,
    pub pids: PidsStats,
    /// The pids in `cgroup.procs`, when processes or file descriptors were asked for.
    pub procs: Vec<u32>,
}

/// The blkio files, in cAdvisor's order: the BFQ scheduler's counters, then CFQ's, then the
/// throttle layer's, which sees every bio whatever the scheduler.
const BLKIO_PREFIXES: [&str; 3] = ["blkio.bfq.", "blkio.", "blkio.throttle."];

/// The settings of a v1 cgroup, and which blkio files carry its counters: the first of
/// [`BLKIO_PREFIXES`] with device lines (none yet while the container has done no I/O).
pub(crate) fn read_spec(dirs: &V1Dirs, buf: &mut String) -> Spec {
    Spec {
        quota_us: read_optional(&dirs.cpu.join("cpu.cfs_quota_us"), buf)
            .and_then(|t| parse_quota(t).ok())
            .flatten(),
        period_us: optional_u64(&dirs.cpu.join("cpu.cfs_period_us"), buf),
        shares: optional_u64(&dirs.cpu.join("cpu.shares"), buf),
        memory_limit: optional_limit(&dirs.memory.join("memory.limit_in_bytes"), buf),
        memory_reservation: optional_limit(&dirs.memory.join("memory.soft_limit_in_bytes"), buf),
        swap_limit: optional_limit(&dirs.memory.join("memory.memsw.limit_in_bytes"), buf),
        pids_limit: optional_limit(&dirs.pids.join("pids.max"), buf),
        blkio_prefix: BLKIO_PREFIXES.into_iter().find(|prefix| {
            read_optional(
                &dirs
                    .blkio
                    .join(format!("{prefix}io_service_bytes_recursive")),
                buf,
            )
            .is_some_and(|t| !parse_blkio(t).is_empty())
        }),
    }
}

pub(crate) fn read(
    dirs: &V1Dirs,
    options: &ReadOptions,
    spec: &Spec,
    buf: &mut String,
    task_states_from: Option<&Path>,
) -> Result<V1Reading, Error> {
    // cpuacct.usage is the file every running container has: when it is gone, so is the container.
    let usage_ns = parse_u64(read_required(&dirs.cpuacct.join("cpuacct.usage"), buf)?)
        .map_err(|e| Error::parse(&dirs.cpuacct.join("cpuacct.usage"), e))?;
    let mut cpu = CpuStats {
        usage_ns,
        quota_us: spec.quota_us,
        period_us: spec.period_us,
        shares: spec.shares,
        ..CpuStats::default()
    };
    if let Some(text) = read_optional(&dirs.cpuacct.join("cpuacct.stat"), buf) {
        (cpu.user_ns, cpu.system_ns) = parse_cpuacct_stat(text);
    }
    if options.per_cpu {
        if let Some(text) = read_optional(&dirs.cpuacct.join("cpuacct.usage_percpu"), buf) {
            cpu.per_cpu_ns = parse_usage_percpu(text).unwrap_or_default();
        }
    }
    cpu.cfs = read_optional(&dirs.cpu.join("cpu.stat"), buf).map(parse_cpu_stat);

    let mut memory = MemoryStats {
        usage_bytes: optional_u64(&dirs.memory.join("memory.usage_in_bytes"), buf).unwrap_or(0),
        max_usage_bytes: optional_u64(&dirs.memory.join("memory.max_usage_in_bytes"), buf),
        failcnt: optional_u64(&dirs.memory.join("memory.failcnt"), buf),
        limit_bytes: spec.memory_limit,
        reservation_bytes: spec.memory_reservation,
        swap_limit_bytes: spec.swap_limit,
        ..MemoryStats::default()
    };
    if let Some(text) = read_optional(&dirs.memory.join("memory.stat"), buf) {
        parse_memory_stat(text, &mut memory);
    }
    memory.working_set_bytes = memory
        .usage_bytes
        .saturating_sub(memory.inactive_file_bytes);
    memory.oom_kills =
        read_optional(&dirs.memory.join("memory.oom_control"), buf).and_then(parse_oom_control);
    if memory.pgfault_hierarchy == FaultCounts::default() {
        memory.pgfault_hierarchy = memory.pgfault;
    }

    memory.kernel_bytes = optional_u64(&dirs.memory.join("memory.kmem.usage_in_bytes"), buf);
    let io = spec
        .blkio_prefix
        .map(|prefix| read_blkio(&dirs.blkio, prefix, buf))
        .unwrap_or_default();

    let mut pids = PidsStats {
        current: optional_u64(&dirs.pids.join("pids.current"), buf),
        limit: spec.pids_limit,
        ..PidsStats::default()
    };
    let mut procs = Vec::new();
    if options.processes || options.file_descriptors {
        procs = read_optional(&dirs.pids.join("cgroup.procs"), buf)
            .map(parse::parse_pids)
            .unwrap_or_default();
    }
    if options.processes {
        pids.processes = Some(procs.len() as u64);
        // pids.current counts the threads, as cAdvisor reads it; the list is the fallback when
        // the pids controller is not enabled for this cgroup.
        pids.threads = pids
            .current
            .or_else(|| read_optional(&dirs.pids.join("tasks"), buf).map(parse::count_lines));
    }
    if let Some(procfs) = task_states_from {
        // The cpu hierarchy's list (cAdvisor's choice) where the pids controller is not mounted.
        let tids = read_optional(&dirs.pids.join("tasks"), buf)
            .map(parse::parse_pids)
            .or_else(|| read_optional(&dirs.cpu.join("tasks"), buf).map(parse::parse_pids));
        pids.task_states = tids.map(|tids| tasks::task_states(procfs, &tids, buf));
    }
    Ok(V1Reading {
        cpu,
        memory,
        io,
        pids,
        procs,
    })
}

/// The blkio files under `prefix`: bytes and requests always; the CFQ/BFQ sets also carry
/// service time, merged and queued requests (the throttle layer counts only the first two).
fn read_blkio(dir: &Path, prefix: &str, buf: &mut String) -> IoFiles {
    let mut file = |name: &str| {
        read_optional(&dir.join(format!("{prefix}{name}")), buf)
            .map(parse_blkio)
            .unwrap_or_default()
    };
    let mut io = IoFiles {
        bytes: file("io_service_bytes_recursive"),
        ops: file("io_serviced_recursive"),
        ..IoFiles::default()
    };
    if prefix != "blkio.throttle." {
        io.service_time = file("io_service_time_recursive");
        io.merged = file("io_merged_recursive");
        io.queued = file("io_queued_recursive");
    }
    io
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

    // Captured from a container started here with `--cpus 0.5 -m 64m` running a busy loop.
    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIX}/{name}")).unwrap()
    }

    #[test]
    fn cpuacct_stat_ticks_become_nanoseconds() {
        assert_eq!(
            parse_cpuacct_stat(&fixture("cpuacct.stat")),
            (Some(361 * NS_PER_TICK), Some(2 * NS_PER_TICK))
        );
    }

    #[test]
    fn per_cpu_usage_has_one_value_per_cpu() {
        let per_cpu = parse_usage_percpu(&fixture("cpuacct.usage_percpu")).unwrap();
        assert_eq!(per_cpu, vec![1_321_787_031, 2_314_529_383]);
        let total = parse_u64(&fixture("cpuacct.usage")).unwrap();
        // The total is read a moment apart from the per-CPU file, but both count the same time.
        assert!(per_cpu.iter().sum::<u64>().abs_diff(total) < total / 10);
    }

    #[test]
    fn cfs_throttling_of_a_half_cpu_busy_loop() {
        let cfs = parse_cpu_stat(&fixture("cpu.stat"));
        assert_eq!(
            cfs,
            CfsStats {
                periods: 73,
                throttled_periods: 71,
                throttled_ns: 2_480_488_314,
                bursts: Some(0),
                burst_ns: Some(0),
            }
        );
        assert_eq!(parse_quota(&fixture("cpu.cfs_quota_us")), Ok(Some(50_000)));
        assert_eq!(parse_quota("-1\n"), Ok(None));
        assert_eq!(parse_u64(&fixture("cpu.cfs_period_us")), Ok(100_000));
    }

    #[test]
    fn memory_stat_uses_hierarchical_totals() {
        let mut m = MemoryStats::default();
        parse_memory_stat(&fixture("memory.stat"), &mut m);
        assert_eq!(m.cache_bytes, 1_744_896);
        assert_eq!(m.rss_bytes, 61_440);
        assert_eq!(m.mapped_file_bytes, 1_355_776);
        assert_eq!(m.swap_bytes, Some(0));
        assert_eq!(m.inactive_file_bytes, 1_740_800);
        assert_eq!((m.dirty_bytes, m.writeback_bytes), (Some(0), Some(0)));
        assert_eq!(m.workingset_refault_file, Some(0));
        assert_eq!(
            m.pgfault,
            FaultCounts {
                pgfault: 1211,
                pgmajfault: 27
            }
        );
        assert_eq!(
            parse_limit(&fixture("memory.limit_in_bytes")),
            Ok(Some(67_108_864))
        );
        assert_eq!(
            parse_limit(&fixture("memory.soft_limit_in_bytes")),
            Ok(None)
        );
        assert_eq!(parse_oom_control(&fixture("memory.oom_control")), Some(0));
    }

    #[test]
    fn blkio_of_direct_io_in_a_throttled_container_on_this_host() {
        // An idle container's files hold only `Total 0`.
        assert!(parse_blkio(&fixture("blkio.throttle.io_service_bytes_recursive")).is_empty());
        // Captured here: 8 MiB written then read back with O_DIRECT under `--device-write-bps`
        // (this kernel's throttle layer counts only on queues with a throttle rule).
        let io = std::fs::read_to_string(format!(
            "{FIX}-io/blkio.throttle.io_service_bytes_recursive"
        ))
        .unwrap();
        let bytes = parse_blkio(&io);
        assert_eq!(bytes.len(), 1);
        let vda = &bytes[0];
        assert_eq!(
            (vda.major, vda.minor, vda.read, vda.write),
            (254, 0, 8 << 20, 8 << 20)
        );
        assert_eq!(
            vda.by_operation,
            vec![
                ("Read", 8 << 20),
                ("Write", 8 << 20),
                ("Sync", 24 << 20),
                ("Async", 0),
                ("Discard", 8 << 20),
                ("Total", 24 << 20)
            ]
        );
        assert_eq!(vda.total(), 24 << 20);
        let ops = std::fs::read_to_string(format!("{FIX}-io/blkio.throttle.io_serviced_recursive"))
            .unwrap();
        let ops = parse_blkio(&ops);
        assert_eq!((ops[0].read, ops[0].write, ops[0].total()), (16, 16, 34));
    }

    #[test]
    fn blkio_lines_are_checked_and_saturate() {
        // The kernel's blkio-controller format for CFQ/BFQ files, two devices, a repeated
        // device, unknown operations, garbage and a value past u64.
        let text = "8:0 Read 4096\n8:0 Write 1048576\n8:0 Frobnicate 7\n253:1 Read 512\n\
                    8:0 Read 18446744073709551615\n8:0 Write 99999999999999999999\nbogus\n\
                    x:y Read 1\n8:0\n8:0 Read\nTotal 1053184\n";
        let io = parse_blkio(text);
        assert_eq!(io.len(), 2);
        assert_eq!((io[0].major, io[0].minor), (8, 0));
        assert_eq!(io[0].read, u64::MAX, "saturated, not wrapped");
        assert_eq!(io[0].write, 1_048_576, "the unparsable value is skipped");
        assert_eq!(
            io[0].total(),
            u64::MAX,
            "no Total line: read + write, saturating"
        );
        assert_eq!(io[1].by_operation, vec![("Read", 512)]);
    }

    #[test]
    fn cfq_files_add_service_time_merged_and_queued() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let write = |name: &str, text: &str| std::fs::write(p.join(name), text).unwrap();
        write(
            "blkio.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
        );
        write(
            "blkio.io_serviced_recursive",
            "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n",
        );
        write(
            "blkio.io_service_time_recursive",
            "8:0 Read 1500000\n8:0 Write 2500000\n8:0 Total 4000000\nTotal 4000000\n",
        );
        write(
            "blkio.io_merged_recursive",
            "8:0 Read 4\n8:0 Write 5\n8:0 Total 9\nTotal 9\n",
        );
        write(
            "blkio.io_queued_recursive",
            "8:0 Read 0\n8:0 Write 1\n8:0 Total 1\nTotal 1\n",
        );
        let io = read_blkio(p, "blkio.", &mut String::new());
        assert_eq!(io.bytes[0].write, 8192);
        assert_eq!(io.ops[0].total(), 3);
        assert_eq!(io.service_time[0].total(), 4_000_000);
        assert_eq!((io.merged[0].read, io.merged[0].write), (4, 5));
        assert_eq!(io.queued[0].total(), 1);
        // The throttle layer has no such files: they are not even looked for.
        let throttle = read_blkio(p, "blkio.throttle.", &mut String::new());
        assert!(throttle.service_time.is_empty() && throttle.bytes.is_empty());
    }

    #[test]
    fn cpu_stat_burst_counters_of_newer_kernels() {
        let cfs = parse_cpu_stat(
            "nr_periods 10\nnr_throttled 2\nthrottled_time 5\nnr_bursts 3\nburst_time 7000\n",
        );
        assert_eq!((cfs.bursts, cfs.burst_ns), (Some(3), Some(7000)));
    }

    #[test]
    fn read_puts_a_captured_cgroup_together() {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(FIX).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        std::fs::write(dir.path().join("cgroup.procs"), "13597\n").unwrap();
        let p = dir.path().to_path_buf();
        let dirs = V1Dirs {
            cpu: p.clone(),
            cpuacct: p.clone(),
            memory: p.clone(),
            blkio: p.clone(),
            pids: p.clone(),
            unified: None,
        };
        let options = ReadOptions {
            per_cpu: true,
            processes: true,
            ..ReadOptions::default()
        };
        let mut buf = String::new();
        let spec = read_spec(&dirs, &mut buf);
        assert_eq!(spec.blkio_prefix, None, "no I/O counted yet");
        let r = read(&dirs, &options, &spec, &mut buf, None).unwrap();
        assert_eq!(r.cpu.usage_ns, 3_632_374_323);
        assert_eq!(r.cpu.quota_us, Some(50_000));
        assert_eq!(r.cpu.shares, Some(1024));
        assert_eq!(r.cpu.per_cpu_ns.len(), 2);
        assert_eq!(r.memory.usage_bytes, 2_560_000);
        assert_eq!(r.memory.working_set_bytes, 2_560_000 - 1_740_800);
        assert_eq!(r.memory.max_usage_bytes, Some(4_337_664));
        assert_eq!(r.memory.swap_limit_bytes, Some(134_217_728));
        assert_eq!(r.pids.current, Some(1));
        assert_eq!(r.pids.limit, None);
        assert_eq!(r.pids.processes, Some(1));
        assert_eq!(r.pids.threads, Some(1));
        assert_eq!(r.pids.task_states, None, "not asked for");
        // The one thread of `tasks`, in a procfs tree holding its captured stat (running).
        let procfs = tempfile::tempdir().unwrap();
        std::fs::create_dir(procfs.path().join("13597")).unwrap();
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc/task_stat"),
            procfs.path().join("13597/stat"),
        )
        .unwrap();
        let r = read(&dirs, &options, &spec, &mut buf, Some(procfs.path())).unwrap();
        assert_eq!(
            r.pids.task_states,
            Some(crate::stats::TaskStates {
                running: 1,
                ..Default::default()
            })
        );
    }

    #[test]
    fn a_vanished_cgroup_is_gone_not_zero() {
        let missing = std::path::PathBuf::from("/nonexistent/cgroup");
        let dirs = V1Dirs {
            cpu: missing.clone(),
            cpuacct: missing.clone(),
            memory: missing.clone(),
            blkio: missing.clone(),
            pids: missing,
            unified: None,
        };
        assert!(matches!(
            read(
                &dirs,
                &ReadOptions::default(),
                &Spec::default(),
                &mut String::new(),
                None
            ),
            Err(Error::Gone { .. })
        ));
    }

    /// Ticks beyond u64 nanoseconds and blkio lines adding past u64 saturate instead of
    /// overflowing (the cgroup_v1 fuzz target checks every parser with overflow checks on).
    #[test]
    fn huge_ticks_and_blkio_sums_saturate() {
        let (user, system) = parse_cpuacct_stat("user 18446744073709551615\nsystem 2\n");
        assert_eq!((user, system), (Some(u64::MAX), Some(2 * NS_PER_TICK)));
        let io = parse_blkio("8:0 Read 18446744073709551615\n8:0 Read 5\n8:0 Write 1\n");
        assert_eq!((io[0].read, io[0].write), (u64::MAX, 1));
    }
}
