//! The typed sample of one container (or of the host's root cgroup) at one moment.
//!
//! Counters are cumulative since the cgroup was created, in the kernel's own units converted to
//! nanoseconds and bytes; rates and percentages are computed from two samples (see
//! [`crate::docker_cli`]). A figure the kernel does not offer on this host is `None`, never 0.

use std::time::SystemTime;

use serde::Serialize;

/// Which cgroup hierarchy the figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

/// One container's figures at `timestamp`.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStats {
    /// The Docker container id (empty for the root cgroup).
    pub id: String,
    /// The cgroup path relative to the hierarchy root, e.g. `/docker/<id>` or
    /// `/system.slice/docker-<id>.scope`; `/` for the host. cAdvisor's `id` label.
    pub cgroup: String,
    pub cgroup_version: CgroupVersion,
    pub timestamp: SystemTime,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub blkio: BlkioStats,
    pub pids: PidsStats,
    /// Per interface, `lo` and host-side bridges left out. Empty when the network was not read.
    pub network: Vec<InterfaceStats>,
    pub pressure: PressureStats,
    /// The host's CPU time of all kinds since boot, in nanoseconds (`/proc/stat`): the docker CLI's
    /// `system_cpu_usage`, the denominator of its CPU %.
    pub system_cpu_usage_ns: u64,
    /// Online CPUs on the host: the docker CLI's `online_cpus`.
    pub online_cpus: u32,
}

/// CPU time and the CFS settings that bound it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuStats {
    /// Total CPU time consumed, nanoseconds.
    pub usage_ns: u64,
    /// User time, nanoseconds (v1 reports it in USER_HZ ticks, so it moves in 10 ms steps).
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    /// Per CPU, nanoseconds (v1 only; empty unless asked for).
    pub per_cpu_ns: Vec<u64>,
    /// CFS bandwidth statistics, when the cgroup has them.
    pub cfs: Option<CfsStats>,
    /// CFS quota in microseconds per period; `None` when unlimited.
    pub quota_us: Option<u64>,
    /// CFS period in microseconds.
    pub period_us: Option<u64>,
    /// Relative weight as v1 shares (v2's `cpu.weight` converted the way runc and cAdvisor do).
    pub shares: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CfsStats {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
    /// Periods in which the cgroup ran into its burst allowance, and the time it ran on it
    /// (`nr_bursts`, `burst_time`/`burst_usec`; kernels since 5.14).
    pub bursts: Option<u64>,
    pub burst_ns: Option<u64>,
}

/// Memory use, limits and events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryStats {
    /// `memory.usage_in_bytes` (v1) or `memory.current` (v2).
    pub usage_bytes: u64,
    /// Peak usage, where the kernel records it (`memory.max_usage_in_bytes`, `memory.peak`).
    pub max_usage_bytes: Option<u64>,
    /// Usage less inactive file pages, floored at 0: what the kernel cannot reclaim easily.
    pub working_set_bytes: u64,
    /// Anonymous memory (`total_rss` on v1, `anon` on v2).
    pub rss_bytes: u64,
    /// Page cache (`total_cache` on v1, `file` on v2).
    pub cache_bytes: u64,
    pub mapped_file_bytes: u64,
    /// Swap in use, where accounted.
    pub swap_bytes: Option<u64>,
    pub active_file_bytes: u64,
    pub inactive_file_bytes: u64,
    /// Times usage hit the limit (`memory.failcnt`, v2 `memory.events` `max`).
    pub failcnt: Option<u64>,
    /// Page faults of this cgroup alone and of its whole subtree (the same on v2).
    pub pgfault: FaultCounts,
    pub pgfault_hierarchy: FaultCounts,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: Option<u64>,
    /// Hard limit in bytes; `None` when unlimited.
    pub limit_bytes: Option<u64>,
    /// Kernel memory: v1 `memory.kmem.usage_in_bytes`, v2 `kernel` in `memory.stat`.
    pub kernel_bytes: Option<u64>,
    /// Dirty and under-writeback page cache (`total_dirty`/`total_writeback` on v1,
    /// `file_dirty`/`file_writeback` on v2).
    pub dirty_bytes: Option<u64>,
    pub writeback_bytes: Option<u64>,
    /// Reclaim and refault counters (v2 `memory.stat` only: v1 has no such keys).
    pub pgscan: Option<u64>,
    pub pgsteal: Option<u64>,
    pub workingset_refault_file: Option<u64>,
    pub workingset_refault_anon: Option<u64>,
    /// v2 `memory.events` `high` and `max` (v1 has no such file).
    pub events_high: Option<u64>,
    pub events_max: Option<u64>,
    /// Soft limit (v1) or `memory.low` (v2); `None` when unlimited.
    pub reservation_bytes: Option<u64>,
    /// Memory+swap limit (v1 `memsw`) or swap limit (v2); `None` when unlimited or not accounted.
    pub swap_limit_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    pub pgfault: u64,
    pub pgmajfault: u64,
}

/// Block I/O by device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioStats {
    pub devices: Vec<BlkioDevice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioDevice {
    pub major: u32,
    pub minor: u32,
    /// `/dev/<name>` when the host's sysfs names it, else `major:minor`.
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub writes: u64,
    /// Bytes per operation as the kernel lists them (v1: `Read`, `Write`, `Sync`, `Async`,
    /// `Discard`, `Total`; v2: `Read`, `Write`, `Discard`).
    pub bytes_by_operation: Vec<(&'static str, u64)>,
    /// Time spent servicing I/O, nanoseconds (v1 CFQ/BFQ `io_service_time_recursive` only).
    pub service_time_ns: Option<IoSplit>,
    /// Requests merged (v1 CFQ/BFQ `io_merged_recursive` only).
    pub merged: Option<IoSplit>,
    /// Requests queued now (v1 CFQ/BFQ `io_queued_recursive` `Total` only).
    pub queued: Option<u64>,
    /// The iocost controller's figures (v2 `io.stat` `cost.*`, when iocost is enabled).
    pub cost: Option<IoCost>,
}

/// A v1 blkio figure split as the kernel splits it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IoSplit {
    pub read: u64,
    pub write: u64,
    pub total: u64,
}

/// iocost's per-device totals in `io.stat`, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IoCost {
    pub usage_us: u64,
    pub wait_us: u64,
    pub indebt_us: u64,
    pub indelay_us: u64,
}

/// Processes and threads in the cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    /// Tasks (threads) counted by the pids controller.
    pub current: Option<u64>,
    /// `pids.max`; `None` when unlimited.
    pub limit: Option<u64>,
    /// Processes listed in `cgroup.procs` (when process figures were asked for).
    pub processes: Option<u64>,
    /// Threads: `pids.current`, else the `tasks` / `cgroup.threads` list (when process figures
    /// were asked for).
    pub threads: Option<u64>,
    /// Open file descriptors of all processes (when asked for).
    pub file_descriptors: Option<u64>,
    /// The cgroup's threads by scheduler state (when asked for).
    pub task_states: Option<TaskStates>,
}

/// Threads of a cgroup by the state `/proc/<tid>/stat` shows, counted as the kernel's
/// cgroupstats counts them (cAdvisor's `container_tasks_state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskStates {
    /// `R`.
    pub running: u64,
    /// `S`.
    pub sleeping: u64,
    /// `D`.
    pub uninterruptible: u64,
    /// `T`.
    pub stopped: u64,
}

/// One network interface's counters from the container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InterfaceStats {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Pressure stall totals, in microseconds, from `cpu.pressure`, `memory.pressure`, `io.pressure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PressureStats {
    pub cpu: Option<Pressure>,
    pub memory: Option<Pressure>,
    pub io: Option<Pressure>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pressure {
    /// Time at least one task was stalled ("waiting").
    pub some_us: u64,
    /// Time all non-idle tasks were stalled at once ("stalled"); kernels before 5.13 have no
    /// `full` line for CPU.
    pub full_us: Option<u64>,
}

/// The host's totals needed beside each sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HostCpu {
    pub system_cpu_usage_ns: u64,
    pub online_cpus: u32,
}

/// The machine, as cAdvisor's `machine_*` families describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MachineInfo {
    pub cpu_cores: u32,
    /// Distinct (package, core) pairs and packages in sysfs' CPU topology; `None` when sysfs
    /// shows no topology.
    pub physical_cores: Option<u32>,
    pub sockets: Option<u32>,
    /// Distinct books and drawers (s390x topology; other architectures have none).
    pub books: Option<u32>,
    pub drawers: Option<u32>,
    pub memory_bytes: u64,
    /// `SwapTotal` of `/proc/meminfo`.
    pub swap_bytes: Option<u64>,
    /// Persistent memory in app-direct mode: the size of the `nd_pmem` regions in
    /// `/sys/bus/nd/devices`; `None` without such hardware.
    pub nvm_app_direct_bytes: Option<u64>,
    /// Memory modules by type from EDAC: (type, count, bytes); empty without EDAC.
    pub dimms: Vec<(String, u64, u64)>,
    /// `uname -r`, and `PRETTY_NAME` of the host's os-release.
    pub kernel_version: String,
    pub os_version: String,
    pub boot_id: String,
    pub machine_id: String,
    pub system_uuid: String,
}
