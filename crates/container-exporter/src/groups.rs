//! cAdvisor's metric groups (`--disable_metrics`, `--enable_metrics`).

/// Groups that are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Groups {
    pub cpu: bool,
    pub percpu: bool,
    /// Thread states and load averages (`cpuLoad`).
    pub cpu_load: bool,
    pub memory: bool,
    pub network: bool,
    pub disk: bool,
    pub disk_io: bool,
    pub process: bool,
    pub oom_event: bool,
    pub pressure: bool,
}

impl Default for Groups {
    fn default() -> Self {
        // cAdvisor's defaults: every group but process, and those without a source here.
        Self {
            cpu: true,
            percpu: true,
            cpu_load: true,
            memory: true,
            network: true,
            disk: true,
            disk_io: true,
            process: false,
            oom_event: true,
            pressure: true,
        }
    }
}

/// cAdvisor group names that have no figures here; accepted so its command lines keep working.
const KNOWN_ELSEWHERE: &[&str] = &[
    "advtcp",
    "app",
    "cpu_topology",
    "cpuset",
    "hugetlb",
    "memory_numa",
    "perf_event",
    "referenced_memory",
    "resctrl",
    "sched",
    "tcp",
    "udp",
];

impl Groups {
    /// The defaults, less `disable`, plus `enable` (comma-separated cAdvisor names).
    pub fn from_flags(disable: &str, enable: &str) -> Result<Self, String> {
        let mut groups = Groups::default();
        for (list, on) in [(disable, false), (enable, true)] {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let slot = match name {
                    "cpu" => &mut groups.cpu,
                    "percpu" => &mut groups.percpu,
                    "cpuLoad" => &mut groups.cpu_load,
                    "memory" => &mut groups.memory,
                    "network" => &mut groups.network,
                    "disk" => &mut groups.disk,
                    "diskIO" => &mut groups.disk_io,
                    "process" => &mut groups.process,
                    "oom_event" => &mut groups.oom_event,
                    "pressure" => &mut groups.pressure,
                    other if KNOWN_ELSEWHERE.contains(&other) => continue,
                    other => return Err(format!("unknown metric group {other:?}")),
                };
                *slot = on;
            }
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_cadvisors_and_unknown_names_are_errors() {
        let d = Groups::default();
        assert!(d.percpu && d.cpu_load && !d.process, "{d:?}");
        let g = Groups::from_flags("network,tcp,percpu", "process").unwrap();
        assert!(!g.percpu && !g.network && g.cpu && g.process);
        assert!(Groups::from_flags("cpux", "").unwrap_err().contains("cpux"));
    }
}
