//! `node_cpu_frequency_*_hertz`, `node_cpu_scaling_frequency_*_hertz` and
//! `node_cpu_scaling_governor` from `/sys/devices/system/cpu/cpu*/cpufreq` (nothing on hosts
//! without cpufreq, such as most VMs).

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// Each governor the CPU offers, and whether it is the one in use; nothing when the driver
/// reports no governor (`intel_pstate` in active mode still does). A current governor missing
/// from the list is still reported.
pub fn governors<'a>(current: &'a str, available: &'a str) -> Vec<(&'a str, bool)> {
    let current = current.trim();
    if current.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(&str, bool)> = available
        .split_ascii_whitespace()
        .map(|g| (g, g == current))
        .collect();
    if !out.iter().any(|(_, active)| *active) {
        out.push((current, true));
    }
    out
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let cpus = list_dir(&ctx.sys("devices/system/cpu"))?;
    for (name, dir) in cpus {
        let Some(cpu) = name.strip_prefix("cpu") else {
            continue;
        };
        if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let freq = dir.join("cpufreq");
        if !freq.is_dir() {
            continue;
        }
        let l = [("cpu", cpu)];
        // kHz in sysfs.
        let khz = |attr: &str| {
            read_attr(&freq.join(attr))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v * 1000.0)
        };
        let metrics = [
            (
                "node_cpu_frequency_hertz",
                "Current CPU thread frequency in hertz.",
                "cpuinfo_cur_freq",
            ),
            (
                "node_cpu_frequency_max_hertz",
                "Maximum CPU thread frequency in hertz.",
                "cpuinfo_max_freq",
            ),
            (
                "node_cpu_frequency_min_hertz",
                "Minimum CPU thread frequency in hertz.",
                "cpuinfo_min_freq",
            ),
            (
                "node_cpu_scaling_frequency_hertz",
                "Current scaled CPU thread frequency in hertz.",
                "scaling_cur_freq",
            ),
            (
                "node_cpu_scaling_frequency_max_hertz",
                "Maximum scaled CPU thread frequency in hertz.",
                "scaling_max_freq",
            ),
            (
                "node_cpu_scaling_frequency_min_hertz",
                "Minimum scaled CPU thread frequency in hertz.",
                "scaling_min_freq",
            ),
        ];
        for (metric, help, attr) in metrics {
            if let Some(v) = khz(attr) {
                out.gauge(metric, help, &l, v);
            }
        }
        let current = read_attr(&freq.join("scaling_governor")).unwrap_or_default();
        let available = read_attr(&freq.join("scaling_available_governors")).unwrap_or_default();
        for (governor, active) in governors(&current, &available) {
            out.gauge(
                "node_cpu_scaling_governor",
                "Current enabled CPU frequency governor.",
                &[("cpu", cpu), ("governor", governor)],
                if active { 1.0 } else { 0.0 },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn governors_mark_the_one_in_use() {
        assert_eq!(
            governors("powersave\n", "performance powersave\n"),
            vec![("performance", false), ("powersave", true)]
        );
        assert_eq!(governors("schedutil", ""), vec![("schedutil", true)]);
        assert!(governors("", "performance powersave").is_empty());
    }

    /// A sysfs tree laid out as the kernel lays it out: two CPUs with cpufreq, one without.
    fn sysfs_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let cpu = dir.path().join("devices/system/cpu");
        for (n, governor) in [(0, "performance"), (1, "powersave")] {
            let freq = cpu.join(format!("cpu{n}/cpufreq"));
            std::fs::create_dir_all(&freq).unwrap();
            for (attr, value) in [
                ("scaling_governor", governor),
                ("scaling_available_governors", "performance powersave"),
                ("scaling_cur_freq", "2400000"),
                ("cpuinfo_max_freq", "3600000"),
            ] {
                std::fs::write(freq.join(attr), format!("{value}\n")).unwrap();
            }
        }
        std::fs::create_dir_all(cpu.join("cpu2")).unwrap();
        std::fs::create_dir_all(cpu.join("cpufreq")).unwrap();
        dir
    }

    #[test]
    fn reads_frequencies_and_governors_from_a_sysfs_tree() {
        let tree = sysfs_tree();
        let set = fixtures::collect_once(collect, &fixtures::sysfs_context(tree.path())).unwrap();
        let g = "node_cpu_scaling_governor";
        assert_eq!(
            set.value(g, &[("cpu", "0"), ("governor", "performance")]),
            Some(1.0)
        );
        assert_eq!(
            set.value(g, &[("cpu", "0"), ("governor", "powersave")]),
            Some(0.0)
        );
        assert_eq!(
            set.value(g, &[("cpu", "1"), ("governor", "powersave")]),
            Some(1.0)
        );
        assert_eq!(set.sample_count(g), 4);
        assert_eq!(
            set.value("node_cpu_scaling_frequency_hertz", &[("cpu", "1")]),
            Some(2.4e9)
        );
        assert_eq!(
            set.value("node_cpu_frequency_max_hertz", &[("cpu", "0")]),
            Some(3.6e9)
        );
    }
}
