//! `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from `/proc/stat`.

use metrics_core::MetricSet;

use std::collections::BTreeMap;

use super::stat::USER_HZ;
use super::{list_dir, read_attr, CollectorError, Host};

const SECONDS_HELP: &str = "Seconds the CPUs spent in each mode.";
const GUEST_HELP: &str = "Seconds the CPUs spent in guests (VMs) for each mode.";

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let stat = ctx.kernel_stat()?;
    for c in &stat.cpus {
        let modes = [
            ("idle", c.idle),
            ("iowait", c.iowait),
            ("irq", c.irq),
            ("nice", c.nice),
            ("softirq", c.softirq),
            ("steal", c.steal),
            ("system", c.system),
            ("user", c.user),
        ];
        for (mode, ticks) in modes {
            out.counter(
                "node_cpu_seconds_total",
                SECONDS_HELP,
                &[("cpu", &c.cpu), ("mode", mode)],
                ticks as f64 / USER_HZ,
            );
        }
        for (mode, ticks) in [("nice", c.guest_nice), ("user", c.guest)] {
            out.counter(
                "node_cpu_guest_seconds_total",
                GUEST_HELP,
                &[("cpu", &c.cpu), ("mode", mode)],
                ticks as f64 / USER_HZ,
            );
        }
    }
    thermal_throttles(ctx, out);
    Ok(())
}

/// `node_cpu_core_throttles_total{core,package}` and `node_cpu_package_throttles_total{package}`
/// from `thermal_throttle`, which only bare-metal x86 hosts have; counted once per physical core
/// and package, as node_exporter does.
fn thermal_throttles(ctx: &Host, out: &mut MetricSet) {
    let Ok(cpus) = list_dir(&ctx.sys("devices/system/cpu")) else {
        return;
    };
    let mut cores: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut packages: BTreeMap<String, f64> = BTreeMap::new();
    for (name, dir) in cpus {
        let is_cpu = name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let throttle = dir.join("thermal_throttle");
        if !is_cpu || !throttle.is_dir() {
            continue;
        }
        let (Some(package), Some(core)) = (
            read_attr(&dir.join("topology/physical_package_id")),
            read_attr(&dir.join("topology/core_id")),
        ) else {
            continue;
        };
        if let Some(n) =
            read_attr(&throttle.join("core_throttle_count")).and_then(|v| v.parse().ok())
        {
            cores.entry((package.clone(), core)).or_insert(n);
        }
        if let Some(n) =
            read_attr(&throttle.join("package_throttle_count")).and_then(|v| v.parse().ok())
        {
            packages.entry(package).or_insert(n);
        }
    }
    for ((package, core), n) in &cores {
        out.counter(
            "node_cpu_core_throttles_total",
            "Number of times this CPU core has been throttled.",
            &[("core", core), ("package", package)],
            *n,
        );
    }
    for (package, n) in &packages {
        out.counter(
            "node_cpu_package_throttles_total",
            "Number of times this CPU package has been throttled.",
            &[("package", package)],
            *n,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Context;
    use crate::config::Config;

    #[test]
    fn throttles_are_counted_once_per_core_and_package() {
        let sys = tempfile::tempdir().unwrap();
        // cpu0 and cpu1 are hyperthreads of core 0; cpu2 is core 1; all in package 0.
        for (cpu, core, count) in [("cpu0", "0", "5"), ("cpu1", "0", "5"), ("cpu2", "1", "7")] {
            let dir = sys.path().join("devices/system/cpu").join(cpu);
            std::fs::create_dir_all(dir.join("thermal_throttle")).unwrap();
            std::fs::create_dir_all(dir.join("topology")).unwrap();
            std::fs::write(dir.join("topology/core_id"), core).unwrap();
            std::fs::write(dir.join("topology/physical_package_id"), "0").unwrap();
            std::fs::write(dir.join("thermal_throttle/core_throttle_count"), count).unwrap();
            std::fs::write(dir.join("thermal_throttle/package_throttle_count"), "11").unwrap();
        }
        let mut config = Config::default();
        config.path.sysfs = sys.path().to_path_buf();
        let context = Context::new(&config).unwrap();
        let mut set = MetricSet::new();
        thermal_throttles(&Host::new(&context), &mut set);
        assert_eq!(set.sample_count("node_cpu_core_throttles_total"), 2);
        assert_eq!(
            set.value("node_cpu_core_throttles_total", &[("core", "1")]),
            Some(7.0)
        );
        assert_eq!(set.sample_count("node_cpu_package_throttles_total"), 1);
        assert_eq!(
            set.value("node_cpu_package_throttles_total", &[]),
            Some(11.0)
        );
    }
}
