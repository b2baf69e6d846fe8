//! cAdvisor's metric families, built fresh on each scrape from the samples.
//!
//! Names, types and label names follow cAdvisor's `metrics/prometheus.go`. Differences, on
//! purpose: a container carries only its own `container_label_*` labels (cAdvisor pads every
//! container with the union of all label names, empty where absent; PromQL reads an absent label
//! as empty, so queries behave the same); samples carry no timestamps; `container_memory_failcnt`
//! is untyped rather than a counter without `_total`, which `promtool check metrics` rejects.

use std::time::{SystemTime, UNIX_EPOCH};

use container_stats::host::HostFilesystem;
use container_stats::{ContainerInfo, ContainerStats, MachineInfo};
use metrics_core::MetricSet;

use crate::disk::LayerSize;
use crate::groups::Groups;
use crate::io_families;
use crate::out::Out;

/// Which Docker labels become `container_label_*`.
#[derive(Debug, Clone, Default)]
pub struct LabelPolicy {
    pub store_all: bool,
    pub whitelist: Vec<String>,
}

impl LabelPolicy {
    fn keeps(&self, key: &str) -> bool {
        self.store_all || self.whitelist.iter().any(|w| w == key)
    }
}

/// `[^a-zA-Z0-9_]` becomes `_`, as cAdvisor sanitises label names.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The labels every series of one container carries: `id`, `image`, `name`, `container_label_*`.
pub fn base_labels(
    cgroup: &str,
    info: Option<&ContainerInfo>,
    policy: &LabelPolicy,
) -> Vec<(String, String)> {
    let mut labels = vec![("id".to_string(), cgroup.to_string())];
    if let Some(info) = info {
        if !info.image.is_empty() {
            labels.push(("image".into(), info.image.clone()));
        }
        if !info.name.is_empty() {
            labels.push(("name".into(), info.name.clone()));
        }
        for (key, value) in &info.labels {
            if !policy.keeps(key) {
                continue;
            }
            let name = format!("container_label_{}", sanitize_label_name(key));
            if !labels.iter().any(|(k, _)| *k == name) {
                labels.push((name, value.clone()));
            }
        }
    }
    labels
}

/// Adds samples of one container, all with its base labels.
const NS: f64 = 1e9;
const US: f64 = 1e6;

/// What a container's families need beside its sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The writable layer's last measured size.
    pub layer: Option<&'a LayerSize>,
    /// The host's filesystems: the root cgroup's only.
    pub filesystems: &'a [HostFilesystem],
    /// The smoothed load averages, when thread states were read.
    pub load: Option<LoadAverages>,
}

/// All families of one container (or of the root cgroup when `info` is `None`).
pub fn container(
    set: &mut MetricSet,
    base: &[(String, String)],
    info: Option<&ContainerInfo>,
    s: &ContainerStats,
    extras: Extras<'_>,
    groups: &Groups,
) {
    let mut o = Out::new(set, base);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    o.gauge(
        "container_last_seen",
        "Last time a container was seen by the exporter",
        &[],
        now as f64,
    );
    if let Some(info) = info {
        if let Some(start) = info.started_at.or(info.created) {
            o.gauge(
                "container_start_time_seconds",
                "Start time of the container since unix epoch in seconds.",
                &[],
                start.trunc(),
            );
        }
        if let Some(created) = info.created {
            o.gauge(
                "container_creation_time_seconds",
                "Container creation time since unix epoch in seconds.",
                &[],
                created.trunc(),
            );
        }
        let health = match info.health.as_deref() {
            Some("healthy") => 1.0,
            None => -1.0,
            Some(_) => 0.0,
        };
        o.gauge(
            "container_health_state",
            "The result of the container's health check (1 healthy, 0 not, -1 none)",
            &[],
            health,
        );
    }
    spec(&mut o, s);
    if groups.cpu {
        cpu(&mut o, s, groups.percpu);
    }
    if groups.memory {
        memory(&mut o, s);
    }
    if groups.oom_event {
        if let Some(kills) = s.memory.oom_kills {
            o.counter(
                "container_oom_events_total",
                "Count of out of memory events observed for the container",
                &[],
                kills as f64,
            );
        }
    }
    if groups.network {
        network(&mut o, s);
    }
    if groups.disk_io {
        io_families::disk_io(&mut o, &s.blkio.devices, extras.filesystems);
    }
    if groups.disk {
        io_families::host_filesystems(&mut o, extras.filesystems);
        if let Some(layer) = extras.layer {
            let dev = [("device", layer.device.as_str())];
            o.gauge(
                "container_fs_usage_bytes",
                "Number of bytes that are consumed by the container on this filesystem.",
                &dev,
                layer.bytes as f64,
            );
            if let Some(limit) = layer.limit_bytes {
                o.gauge(
                    "container_fs_limit_bytes",
                    "Number of bytes that can be consumed by the container on this filesystem.",
                    &dev,
                    limit as f64,
                );
            }
        }
    }
    if groups.cpu_load {
        cpu_load(&mut o, s, extras.load);
    }
    if groups.process {
        let p = &s.pids;
        if let Some(n) = p.processes {
            o.gauge(
                "container_processes",
                "Number of processes running inside the container.",
                &[],
                n as f64,
            );
        }
        if let Some(n) = p.threads.or(p.current) {
            o.gauge(
                "container_threads",
                "Number of threads running inside the container",
                &[],
                n as f64,
            );
        }
        o.gauge(
            "container_threads_max",
            "Maximum number of threads allowed inside the container, infinity if value is zero",
            &[],
            p.limit.unwrap_or(0) as f64,
        );
        if let Some(n) = p.file_descriptors {
            o.gauge(
                "container_file_descriptors",
                "Number of open file descriptors for the container.",
                &[],
                n as f64,
            );
        }
    }
    if groups.pressure {
        pressure(&mut o, s);
    }
}

/// Smoothed thread counts as cAdvisor's load reader keeps them, in its unit (threads x 1000).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadAverages {
    /// Runnable threads.
    pub runnable_milli: f64,
    /// Threads in uninterruptible sleep (cAdvisor's `load.d`).
    pub uninterruptible_milli: f64,
}

fn cpu_load(o: &mut Out<'_>, s: &ContainerStats, load: Option<LoadAverages>) {
    let Some(states) = s.pids.task_states else {
        return;
    };
    for (state, n) in [
        ("sleeping", states.sleeping),
        ("running", states.running),
        ("stopped", states.stopped),
        ("uninterruptible", states.uninterruptible),
    ] {
        o.gauge(
            "container_tasks_state",
            "Number of tasks in given state",
            &[("state", state)],
            n as f64,
        );
    }
    if let Some(load) = load {
        o.gauge(
            "container_cpu_load_average_10s",
            "Value of container cpu load average over the last 10 seconds.",
            &[],
            load.runnable_milli.trunc(),
        );
        o.gauge(
            "container_cpu_load_d_average_10s",
            "Value of container cpu load.d average over the last 10 seconds.",
            &[],
            load.uninterruptible_milli.trunc(),
        );
    }
}

fn spec(o: &mut Out<'_>, s: &ContainerStats) {
    let c = &s.cpu;
    if let Some(period) = c.period_us {
        o.gauge(
            "container_spec_cpu_period",
            "CPU period of the container.",
            &[],
            period as f64,
        );
    }
    if let Some(quota) = c.quota_us {
        o.gauge(
            "container_spec_cpu_quota",
            "CPU quota of the container.",
            &[],
            quota as f64,
        );
    }
    if let Some(shares) = c.shares {
        o.gauge(
            "container_spec_cpu_shares",
            "CPU share of the container.",
            &[],
            shares as f64,
        );
    }
    let m = &s.memory;
    // Unlimited is exported as 0, as cAdvisor does.
    let limit = |v: Option<u64>| v.unwrap_or(0) as f64;
    o.gauge(
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        &[],
        limit(m.limit_bytes),
    );
    o.gauge(
        "container_spec_memory_swap_limit_bytes",
        "Memory swap limit for the container.",
        &[],
        limit(m.swap_limit_bytes),
    );
    o.gauge(
        "container_spec_memory_reservation_limit_bytes",
        "Memory reservation limit for the container.",
        &[],
        limit(m.reservation_bytes),
    );
}

fn cpu(o: &mut Out<'_>, s: &ContainerStats, percpu: bool) {
    let c = &s.cpu;
    if let Some(user) = c.user_ns {
        o.counter(
            "container_cpu_user_seconds_total",
            "Cumulative user cpu time consumed in seconds.",
            &[],
            user as f64 / NS,
        );
    }
    if let Some(system) = c.system_ns {
        o.counter(
            "container_cpu_system_seconds_total",
            "Cumulative system cpu time consumed in seconds.",
            &[],
            system as f64 / NS,
        );
    }
    const USAGE: &str = "container_cpu_usage_seconds_total";
    const USAGE_HELP: &str = "Cumulative cpu time consumed in seconds.";
    if percpu && !c.per_cpu_ns.is_empty() {
        for (i, ns) in c.per_cpu_ns.iter().enumerate().filter(|(_, ns)| **ns > 0) {
            let cpu = format!("cpu{i:02}");
            o.counter(USAGE, USAGE_HELP, &[("cpu", &cpu)], *ns as f64 / NS);
        }
    } else {
        o.counter(
            USAGE,
            USAGE_HELP,
            &[("cpu", "total")],
            c.usage_ns as f64 / NS,
        );
    }
    if let (Some(_), Some(cfs)) = (c.quota_us, c.cfs) {
        o.counter(
            "container_cpu_cfs_periods_total",
            "Number of elapsed enforcement period intervals.",
            &[],
            cfs.periods as f64,
        );
        o.counter(
            "container_cpu_cfs_throttled_periods_total",
            "Number of throttled period intervals.",
            &[],
            cfs.throttled_periods as f64,
        );
        o.counter(
            "container_cpu_cfs_throttled_seconds_total",
            "Total time duration the container has been throttled.",
            &[],
            cfs.throttled_ns as f64 / NS,
        );
        if let Some(bursts) = cfs.bursts {
            o.counter(
                "container_cpu_cfs_burst_periods_total",
                "Number of periods when burst occurs.",
                &[],
                bursts as f64,
            );
        }
        if let Some(burst) = cfs.burst_ns {
            o.counter(
                "container_cpu_cfs_burst_seconds_total",
                "Total time duration the container has been bursted.",
                &[],
                burst as f64 / NS,
            );
        }
    }
}

fn memory(o: &mut Out<'_>, s: &ContainerStats) {
    let m = &s.memory;
    o.gauge(
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        &[],
        m.cache_bytes as f64,
    );
    o.gauge(
        "container_memory_rss",
        "Size of RSS in bytes.",
        &[],
        m.rss_bytes as f64,
    );
    o.gauge(
        "container_memory_mapped_file",
        "Size of memory mapped files in bytes.",
        &[],
        m.mapped_file_bytes as f64,
    );
    o.gauge(
        "container_memory_swap",
        "Container swap usage in bytes.",
        &[],
        m.swap_bytes.unwrap_or(0) as f64,
    );
    o.counter(
        "container_memory_failcnt",
        "Number of memory usage hits limits",
        &[],
        m.failcnt.unwrap_or(0) as f64,
    );
    let optional: [(&str, &str, Option<u64>, bool); 9] = [
        ("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", m.kernel_bytes, false),
        ("container_memory_file_dirty_bytes", "Number of bytes of file cache that has been modified but not yet written back to disk.", m.dirty_bytes, false),
        ("container_memory_file_writeback_bytes", "Number of bytes of file cache that is currently being written back to disk.", m.writeback_bytes, false),
        ("container_memory_pgscan_total", "Cumulative number of pages scanned by the page reclaim algorithm.", m.pgscan, true),
        ("container_memory_pgsteal_total", "Cumulative number of pages reclaimed by the page reclaim algorithm.", m.pgsteal, true),
        ("container_memory_workingset_refault_file_total", "Cumulative number of refaults of previously evicted file pages.", m.workingset_refault_file, true),
        ("container_memory_workingset_refault_anon_total", "Cumulative number of refaults of previously evicted anonymous pages.", m.workingset_refault_anon, true),
        ("container_memory_events_high_total", "Cumulative count of memory.high throttle events for the container", m.events_high, true),
        ("container_memory_events_max_total", "Cumulative count of memory.max limit hit events for the container", m.events_max, true),
    ];
    for (name, help, value, counter) in optional {
        let Some(v) = value else { continue };
        if counter {
            o.counter(name, help, &[], v as f64);
        } else {
            o.gauge(name, help, &[], v as f64);
        }
    }
    o.gauge(
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        &[],
        m.usage_bytes as f64,
    );
    o.gauge(
        "container_memory_max_usage_bytes",
        "Maximum memory usage recorded in bytes",
        &[],
        m.max_usage_bytes.unwrap_or(m.usage_bytes) as f64,
    );
    o.gauge(
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        &[],
        m.working_set_bytes as f64,
    );
    o.gauge(
        "container_memory_total_active_file_bytes",
        "Current total active file in bytes.",
        &[],
        m.active_file_bytes as f64,
    );
    o.gauge(
        "container_memory_total_inactive_file_bytes",
        "Current total inactive file in bytes.",
        &[],
        m.inactive_file_bytes as f64,
    );
    const FAILURES: &str = "container_memory_failures_total";
    const FAILURES_HELP: &str = "Cumulative count of memory allocation failures.";
    for (scope, faults) in [("container", m.pgfault), ("hierarchy", m.pgfault_hierarchy)] {
        o.counter(
            FAILURES,
            FAILURES_HELP,
            &[("failure_type", "pgfault"), ("scope", scope)],
            faults.pgfault as f64,
        );
        o.counter(
            FAILURES,
            FAILURES_HELP,
            &[("failure_type", "pgmajfault"), ("scope", scope)],
            faults.pgmajfault as f64,
        );
    }
}

fn network(o: &mut Out<'_>, s: &ContainerStats) {
    for i in &s.network {
        let l = [("interface", i.name.as_str())];
        o.counter(
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received",
            &l,
            i.rx_bytes as f64,
        );
        o.counter(
            "container_network_receive_packets_total",
            "Cumulative count of packets received",
            &l,
            i.rx_packets as f64,
        );
        o.counter(
            "container_network_receive_packets_dropped_total",
            "Cumulative count of packets dropped while receiving",
            &l,
            i.rx_dropped as f64,
        );
        o.counter(
            "container_network_receive_errors_total",
            "Cumulative count of errors encountered while receiving",
            &l,
            i.rx_errors as f64,
        );
        o.counter(
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted",
            &l,
            i.tx_bytes as f64,
        );
        o.counter(
            "container_network_transmit_packets_total",
            "Cumulative count of packets transmitted",
            &l,
            i.tx_packets as f64,
        );
        o.counter(
            "container_network_transmit_packets_dropped_total",
            "Cumulative count of packets dropped while transmitting",
            &l,
            i.tx_dropped as f64,
        );
        o.counter(
            "container_network_transmit_errors_total",
            "Cumulative count of errors encountered while transmitting",
            &l,
            i.tx_errors as f64,
        );
    }
}

fn pressure(o: &mut Out<'_>, s: &ContainerStats) {
    for (resource, p) in [
        ("cpu", s.pressure.cpu),
        ("memory", s.pressure.memory),
        ("io", s.pressure.io),
    ] {
        let Some(p) = p else { continue };
        o.counter(
            &format!("container_pressure_{resource}_waiting_seconds_total"),
            &format!("Total time duration tasks in the container have waited due to {resource} congestion."),
            &[],
            p.some_us as f64 / US,
        );
        if let Some(full) = p.full_us {
            o.counter(
                &format!("container_pressure_{resource}_stalled_seconds_total"),
                &format!("Total time duration no tasks in the container could make progress due to {resource} congestion."),
                &[],
                full as f64 / US,
            );
        }
    }
}

/// cAdvisor's `machine_*` families, with its machine labels. A figure the host does not offer
/// (books and drawers off s390x, persistent memory, swap without `/proc/meminfo`) is absent.
pub fn machine(set: &mut MetricSet, m: &MachineInfo) {
    let labels = [
        ("boot_id", m.boot_id.as_str()),
        ("machine_id", m.machine_id.as_str()),
        ("system_uuid", m.system_uuid.as_str()),
    ];
    let counts: [(&str, &str, Option<u32>); 5] = [
        (
            "machine_cpu_cores",
            "Number of logical CPU cores.",
            Some(m.cpu_cores),
        ),
        (
            "machine_cpu_physical_cores",
            "Number of physical CPU cores.",
            m.physical_cores,
        ),
        ("machine_cpu_sockets", "Number of CPU sockets.", m.sockets),
        ("machine_cpu_books", "Number of CPU books.", m.books),
        ("machine_cpu_drawers", "Number of CPU drawers.", m.drawers),
    ];
    for (name, help, value) in counts {
        if let Some(v) = value {
            set.gauge(name, help, &labels, f64::from(v));
        }
    }
    set.gauge(
        "machine_memory_bytes",
        "Amount of memory installed on the machine.",
        &labels,
        m.memory_bytes as f64,
    );
    if let Some(swap) = m.swap_bytes {
        set.gauge(
            "machine_swap_bytes",
            "Amount of swap memory available on the machine.",
            &labels,
            swap as f64,
        );
    }
    for (kind, count, bytes) in &m.dimms {
        let mut with_type = labels.to_vec();
        with_type.push(("type", kind.as_str()));
        set.gauge(
            "machine_dimm_count",
            "Number of RAM DIMM (all types memory modules) value labeled by dimm type.",
            &with_type,
            *count as f64,
        );
        set.gauge(
            "machine_dimm_capacity_bytes",
            "Total RAM DIMM capacity (all types memory modules) value labeled by dimm type.",
            &with_type,
            *bytes as f64,
        );
    }
    if let Some(pmem) = m.nvm_app_direct_bytes {
        let mut with_mode = labels.to_vec();
        with_mode.push(("mode", "app_direct_mode"));
        set.gauge(
            "machine_nvm_capacity",
            "NVM capacity value labeled by NVM mode (memory mode or app direct mode).",
            &with_mode,
            pmem as f64,
        );
    }
    set.gauge(
        "machine_scrape_error",
        "1 if there was an error while getting machine metrics, 0 otherwise.",
        &[],
        if m.memory_bytes == 0 { 1.0 } else { 0.0 },
    );
}

/// `cadvisor_version_info`: kernel, OS, Docker and our own version as labels of a constant 1.
pub fn version_info(set: &mut MetricSet, m: &MachineInfo, docker_version: &str, version: &str) {
    set.gauge(
        "cadvisor_version_info",
        "A metric with a constant '1' value labeled by kernel version, OS version, docker version, cadvisor version & cadvisor revision.",
        &[
            ("kernelVersion", m.kernel_version.as_str()),
            ("osVersion", m.os_version.as_str()),
            ("dockerVersion", docker_version),
            ("cadvisorVersion", version),
            ("cadvisorRevision", "unknown"),
        ],
        1.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised_and_only_own_labels_are_kept() {
        assert_eq!(
            sanitize_label_name("com.docker.compose.service"),
            "com_docker_compose_service"
        );
        let info = ContainerInfo {
            id: "x".into(),
            name: "web".into(),
            image: "nginx:1".into(),
            image_id: String::new(),
            labels: [
                ("a.b".to_string(), "1".to_string()),
                ("a-b".to_string(), "2".to_string()),
                ("keep".to_string(), "3".to_string()),
            ]
            .into(),
            pid: None,
            created: None,
            started_at: None,
            cgroup_parent: String::new(),
            upper_dir: None,
            health: None,
            paused: false,
            restart_count: 0,
        };
        let all = base_labels(
            "/docker/x",
            Some(&info),
            &LabelPolicy {
                store_all: true,
                whitelist: vec![],
            },
        );
        let names: Vec<_> = all.iter().map(|(k, _)| k.as_str()).collect();
        // `a-b` and `a.b` sanitise to the same name: the first wins, as in cAdvisor.
        assert_eq!(
            names,
            [
                "id",
                "image",
                "name",
                "container_label_a_b",
                "container_label_keep"
            ]
        );
        let some = base_labels(
            "/docker/x",
            Some(&info),
            &LabelPolicy {
                store_all: false,
                whitelist: vec!["keep".into()],
            },
        );
        assert_eq!(
            some.last().unwrap(),
            &("container_label_keep".to_string(), "3".to_string())
        );
        assert_eq!(
            base_labels("/", None, &LabelPolicy::default()),
            vec![("id".to_string(), "/".to_string())]
        );
    }

    /// The hardware-only machine families (s390x books and drawers, pmem, EDAC DIMMs), from a
    /// machine description as the fixture trees of container-stats' host tests give it; and
    /// their absence, not 0, where the machine has none.
    #[test]
    fn machine_families_with_and_without_the_hardware() {
        let m = MachineInfo {
            cpu_cores: 8,
            physical_cores: Some(4),
            sockets: Some(2),
            books: Some(1),
            drawers: Some(1),
            memory_bytes: 1 << 34,
            swap_bytes: Some(0),
            nvm_app_direct_bytes: Some(135_291_469_824),
            dimms: vec![("Registered-DDR4".into(), 2, 32 << 30)],
            kernel_version: "6.1.0".into(),
            os_version: "Debian GNU/Linux 12 (bookworm)".into(),
            boot_id: "b".into(),
            machine_id: "m".into(),
            system_uuid: "u".into(),
        };
        let mut set = MetricSet::new();
        machine(&mut set, &m);
        let base = [("boot_id", "b"), ("machine_id", "m"), ("system_uuid", "u")];
        let with = |extra: (&'static str, &'static str)| {
            let mut l = base.to_vec();
            l.push(extra);
            l
        };
        assert_eq!(set.value("machine_cpu_books", &base), Some(1.0));
        assert_eq!(set.value("machine_cpu_drawers", &base), Some(1.0));
        assert_eq!(set.value("machine_cpu_physical_cores", &base), Some(4.0));
        assert_eq!(
            set.value("machine_nvm_capacity", &with(("mode", "app_direct_mode"))),
            Some(135_291_469_824.0)
        );
        assert_eq!(
            set.value("machine_dimm_count", &with(("type", "Registered-DDR4"))),
            Some(2.0)
        );
        assert_eq!(
            set.value(
                "machine_dimm_capacity_bytes",
                &with(("type", "Registered-DDR4"))
            ),
            Some(34_359_738_368.0)
        );
        assert!(!set.contains("machine_nvm_avg_power_budget_watts"));

        let bare = MachineInfo {
            cpu_cores: 2,
            memory_bytes: 1 << 30,
            ..MachineInfo::default()
        };
        let mut set = MetricSet::new();
        machine(&mut set, &bare);
        for absent in [
            "machine_cpu_books",
            "machine_cpu_drawers",
            "machine_nvm_capacity",
            "machine_dimm_count",
            "machine_swap_bytes",
        ] {
            assert!(!set.contains(absent), "{absent}");
        }
        assert_eq!(set.value("machine_scrape_error", &[]), Some(0.0));
    }
}
