//! cAdvisor's default families, types and label names at v0.47.2 (the deployment's version) and
//! v0.60.5 (its latest release), written from reading its `metrics/prometheus.go`,
//! `metrics/prometheus_machine.go` (`lib/metrics/` at v0.60) and `cmd/cadvisor.go`'s default
//! `--disable_metrics` set, and checked against its `metrics/testdata/prometheus_metrics` fixture.
//!
//! "Default" is what a cAdvisor started without metric flags exports: every group but `sched`,
//! `memory_numa`, `tcp`, `advtcp`, `udp`, `process`, `hugetlb`, `referenced_memory`,
//! `cpu_topology`, `resctrl` and `cpuset` (the same set at both versions); `perf_event` and
//! `app` are on but export nothing without a perf-events or collector configuration, so their
//! families are not listed. Label names are beyond a container's own `id`, `name`, `image` and
//! `container_label_*`; machine families carry `boot_id`, `machine_id`, `system_uuid` besides.
#![allow(dead_code)]

/// The first of the two releases that has a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    V0_47,
    V0_60,
}

/// (name, type, label names beyond the container's or machine's own, first release).
pub type Upstream = (&'static str, &'static str, &'static [&'static str], Since);

/// Per-container families (the `containerMetrics` table and `collectContainersInfo`).
pub const CONTAINER: &[Upstream] = &[
    ("container_last_seen", "gauge", &[], Since::V0_47),
    ("container_health_state", "gauge", &[], Since::V0_60),
    (
        "container_cpu_user_seconds_total",
        "counter",
        &[],
        Since::V0_47,
    ),
    (
        "container_cpu_system_seconds_total",
        "counter",
        &[],
        Since::V0_47,
    ),
    (
        "container_cpu_usage_seconds_total",
        "counter",
        &["cpu"],
        Since::V0_47,
    ),
    (
        "container_cpu_cfs_periods_total",
        "counter",
        &[],
        Since::V0_47,
    ),
    (
        "container_cpu_cfs_throttled_periods_total",
        "counter",
        &[],
        Since::V0_47,
    ),
    (
        "container_cpu_cfs_throttled_seconds_total",
        "counter",
        &[],
        Since::V0_47,
    ),
    (
        "container_cpu_cfs_burst_periods_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_cpu_cfs_burst_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    ("container_cpu_load_average_10s", "gauge", &[], Since::V0_47),
    (
        "container_cpu_load_d_average_10s",
        "gauge",
        &[],
        Since::V0_60,
    ),
    ("container_tasks_state", "gauge", &["state"], Since::V0_47),
    ("container_memory_cache", "gauge", &[], Since::V0_47),
    ("container_memory_rss", "gauge", &[], Since::V0_47),
    ("container_memory_kernel_usage", "gauge", &[], Since::V0_60),
    ("container_memory_mapped_file", "gauge", &[], Since::V0_47),
    ("container_memory_swap", "gauge", &[], Since::V0_47),
    ("container_memory_failcnt", "counter", &[], Since::V0_47),
    ("container_memory_usage_bytes", "gauge", &[], Since::V0_47),
    (
        "container_memory_max_usage_bytes",
        "gauge",
        &[],
        Since::V0_47,
    ),
    (
        "container_memory_working_set_bytes",
        "gauge",
        &[],
        Since::V0_47,
    ),
    (
        "container_memory_total_active_file_bytes",
        "gauge",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_total_inactive_file_bytes",
        "gauge",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_failures_total",
        "counter",
        &["failure_type", "scope"],
        Since::V0_47,
    ),
    (
        "container_memory_events_high_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_events_max_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_file_dirty_bytes",
        "gauge",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_file_writeback_bytes",
        "gauge",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_pgscan_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_pgsteal_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_workingset_refault_file_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_memory_workingset_refault_anon_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_fs_inodes_free",
        "gauge",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_inodes_total",
        "gauge",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_limit_bytes",
        "gauge",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_usage_bytes",
        "gauge",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_reads_bytes_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_reads_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_sector_reads_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_reads_merged_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_read_seconds_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_writes_bytes_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_writes_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_sector_writes_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_writes_merged_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_write_seconds_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_io_current",
        "gauge",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_io_time_seconds_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_io_time_weighted_seconds_total",
        "counter",
        &["device"],
        Since::V0_47,
    ),
    (
        "container_fs_io_cost_usage_seconds_total",
        "counter",
        &["device"],
        Since::V0_60,
    ),
    (
        "container_fs_io_cost_wait_seconds_total",
        "counter",
        &["device"],
        Since::V0_60,
    ),
    (
        "container_fs_io_cost_indebt_seconds_total",
        "counter",
        &["device"],
        Since::V0_60,
    ),
    (
        "container_fs_io_cost_indelay_seconds_total",
        "counter",
        &["device"],
        Since::V0_60,
    ),
    (
        "container_blkio_device_usage_total",
        "counter",
        &["device", "major", "minor", "operation"],
        Since::V0_47,
    ),
    (
        "container_network_receive_bytes_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_receive_packets_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_receive_packets_dropped_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_receive_errors_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_transmit_bytes_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_transmit_packets_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_transmit_packets_dropped_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    (
        "container_network_transmit_errors_total",
        "counter",
        &["interface"],
        Since::V0_47,
    ),
    ("container_oom_events_total", "counter", &[], Since::V0_47),
    (
        "container_pressure_cpu_stalled_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_pressure_cpu_waiting_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_pressure_memory_stalled_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_pressure_memory_waiting_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_pressure_io_stalled_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    (
        "container_pressure_io_waiting_seconds_total",
        "counter",
        &[],
        Since::V0_60,
    ),
    ("container_start_time_seconds", "gauge", &[], Since::V0_47),
    (
        "container_creation_time_seconds",
        "gauge",
        &[],
        Since::V0_60,
    ),
    ("container_spec_cpu_period", "gauge", &[], Since::V0_47),
    ("container_spec_cpu_quota", "gauge", &[], Since::V0_47),
    ("container_spec_cpu_shares", "gauge", &[], Since::V0_47),
    (
        "container_spec_memory_limit_bytes",
        "gauge",
        &[],
        Since::V0_47,
    ),
    (
        "container_spec_memory_swap_limit_bytes",
        "gauge",
        &[],
        Since::V0_47,
    ),
    (
        "container_spec_memory_reservation_limit_bytes",
        "gauge",
        &[],
        Since::V0_47,
    ),
];

/// Machine families (`PrometheusMachineCollector`, default groups: no `cpu_topology`).
pub const MACHINE: &[Upstream] = &[
    ("machine_cpu_physical_cores", "gauge", &[], Since::V0_47),
    ("machine_cpu_cores", "gauge", &[], Since::V0_47),
    ("machine_cpu_sockets", "gauge", &[], Since::V0_47),
    ("machine_cpu_books", "gauge", &[], Since::V0_60),
    ("machine_cpu_drawers", "gauge", &[], Since::V0_60),
    ("machine_memory_bytes", "gauge", &[], Since::V0_47),
    ("machine_swap_bytes", "gauge", &[], Since::V0_60),
    ("machine_dimm_count", "gauge", &["type"], Since::V0_47),
    (
        "machine_dimm_capacity_bytes",
        "gauge",
        &["type"],
        Since::V0_47,
    ),
    ("machine_nvm_capacity", "gauge", &["mode"], Since::V0_47),
    (
        "machine_nvm_avg_power_budget_watts",
        "gauge",
        &[],
        Since::V0_47,
    ),
];

/// Families with labels of their own only.
pub const GLOBAL: &[Upstream] = &[
    ("container_scrape_error", "gauge", &[], Since::V0_47),
    ("machine_scrape_error", "gauge", &[], Since::V0_47),
    (
        "cadvisor_version_info",
        "gauge",
        &[
            "kernelVersion",
            "osVersion",
            "dockerVersion",
            "cadvisorVersion",
            "cadvisorRevision",
        ],
        Since::V0_47,
    ),
];

/// Why a default family cannot appear on this machine (cgroup v1, Docker with fuse-overlayfs,
/// a virtual x86 machine without persistent memory or EDAC), and the test that covers it instead.
pub struct NotHere {
    pub family: &'static str,
    pub why: &'static str,
    /// The test (file::name) that checks it on a fixture, or "" when there is no source at all.
    /// The machine families' sysfs parsers have their own fixture-tree tests in container-stats
    /// (`host::tests::two_socket_topology_and_pmem_regions_from_a_fixture_tree`,
    /// `host::tests::dimms_from_an_edac_fixture_tree`).
    pub covered_by: &'static str,
}

pub const NOT_ON_THIS_MACHINE: &[NotHere] = &[
    // cgroup v2 only: memory.stat / memory.events keys v1 lacks; cAdvisor exports 0 on v1.
    NotHere { family: "container_memory_pgscan_total", why: "v2 memory.stat pgscan", covered_by: "v2_fixture::pure_v2_host_gives_cadvisor_series_for_both_cgroup_drivers" },
    NotHere { family: "container_memory_pgsteal_total", why: "v2 memory.stat pgsteal", covered_by: "v2_fixture::pure_v2_host_gives_cadvisor_series_for_both_cgroup_drivers" },
    NotHere { family: "container_memory_events_high_total", why: "v2 memory.events high", covered_by: "v2_fixture::pure_v2_host_gives_cadvisor_series_for_both_cgroup_drivers" },
    NotHere { family: "container_memory_events_max_total", why: "v2 memory.events max", covered_by: "v2_fixture::pure_v2_host_gives_cadvisor_series_for_both_cgroup_drivers" },
    // v2 io.stat with the iocost controller enabled (io.cost.qos on the device).
    NotHere { family: "container_fs_io_cost_usage_seconds_total", why: "v2 iocost", covered_by: "container-stats cgroup::v2::tests::io_stat_with_iocost_and_hostile_fields" },
    NotHere { family: "container_fs_io_cost_wait_seconds_total", why: "v2 iocost", covered_by: "container-stats cgroup::v2::tests::io_stat_with_iocost_and_hostile_fields" },
    NotHere { family: "container_fs_io_cost_indebt_seconds_total", why: "v2 iocost", covered_by: "container-stats cgroup::v2::tests::io_stat_with_iocost_and_hostile_fields" },
    NotHere { family: "container_fs_io_cost_indelay_seconds_total", why: "v2 iocost", covered_by: "container-stats cgroup::v2::tests::io_stat_with_iocost_and_hostile_fields" },
    // Hardware: s390x CPU topology, persistent memory, EDAC memory controllers.
    NotHere { family: "machine_cpu_books", why: "s390x book_id in sysfs topology", covered_by: "families::tests::machine_families_with_and_without_the_hardware" },
    NotHere { family: "machine_cpu_drawers", why: "s390x drawer_id in sysfs topology", covered_by: "families::tests::machine_families_with_and_without_the_hardware" },
    NotHere { family: "machine_nvm_capacity", why: "nd_pmem regions in /sys/bus/nd", covered_by: "families::tests::machine_families_with_and_without_the_hardware" },
    NotHere { family: "machine_nvm_avg_power_budget_watts", why: "only Intel's ipmctl library has it (cAdvisor exports 0 unless built with it); no file to read", covered_by: "" },
    NotHere { family: "machine_dimm_count", why: "EDAC memory controllers in sysfs (cAdvisor omits it without them too)", covered_by: "families::tests::machine_families_with_and_without_the_hardware" },
    NotHere { family: "machine_dimm_capacity_bytes", why: "EDAC memory controllers in sysfs (cAdvisor omits it without them too)", covered_by: "families::tests::machine_families_with_and_without_the_hardware" },
];
