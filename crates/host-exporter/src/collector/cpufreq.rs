//! `node_cpu_frequency_*_hertz` and `node_cpu_scaling_frequency_*_hertz` from
//! `/sys/devices/system/cpu/cpu*/cpufreq` (nothing on hosts without cpufreq, such as most VMs).

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

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
    }
    Ok(())
}
