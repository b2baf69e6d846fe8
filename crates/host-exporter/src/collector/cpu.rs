//! `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! `/proc/stat`; throttle counts and `node_cpu_online{cpu}` from `/sys/devices/system/cpu`.

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
    online(ctx, out);
    Ok(())
}

/// The `cpuN` directories under `devices/system/cpu`, by number.
fn cpu_dirs(ctx: &Host) -> Vec<(u32, std::path::PathBuf)> {
    let Ok(entries) = list_dir(&ctx.sys("devices/system/cpu")) else {
        return Vec::new();
    };
    let mut cpus: Vec<(u32, std::path::PathBuf)> = entries
        .into_iter()
        .filter_map(|(name, dir)| Some((name.strip_prefix("cpu")?.parse().ok()?, dir)))
        .collect();
    cpus.sort();
    cpus
}

/// `node_cpu_online{cpu}`: 1 for each CPU that is online, 0 for one taken offline. Only on
/// hosts where CPU 0 itself can go offline (its `online` file exists), as node_exporter does:
/// elsewhere the boot CPU has no `online` file and the others are all online.
fn online(ctx: &Host, out: &mut MetricSet) {
    let cpus = cpu_dirs(ctx);
    let Some((_, cpu0)) = cpus.iter().find(|(n, _)| *n == 0) else {
        return;
    };
    if !cpu0.join("online").exists() {
        return;
    }
    for (n, dir) in &cpus {
        let is_online = read_attr(&dir.join("online")).as_deref() == Some("1");
        out.gauge(
            "node_cpu_online",
            "CPUs that are online and being scheduled.",
            &[("cpu", &n.to_string())],
            if is_online { 1.0 } else { 0.0 },
        );
    }
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
    use crate::collector::fixtures;

    fn online_from(files: &[(&str, Option<&str>)]) -> MetricSet {
        let sys = tempfile::tempdir().unwrap();
        for (cpu, online) in files {
            let dir = sys.path().join("devices/system/cpu").join(cpu);
            std::fs::create_dir_all(&dir).unwrap();
            if let Some(value) = online {
                std::fs::write(dir.join("online"), format!("{value}\n")).unwrap();
            }
        }
        std::fs::create_dir_all(sys.path().join("devices/system/cpu/cpufreq")).unwrap();
        let context = fixtures::sysfs_context(sys.path());
        let mut set = MetricSet::new();
        online(&Host::new(&context), &mut set);
        set
    }

    #[test]
    fn online_status_when_cpu0_can_go_offline() {
        let set = online_from(&[
            ("cpu0", Some("1")),
            ("cpu1", Some("0")),
            ("cpu10", Some("1")),
        ]);
        assert_eq!(set.sample_count("node_cpu_online"), 3);
        assert_eq!(set.value("node_cpu_online", &[("cpu", "0")]), Some(1.0));
        assert_eq!(set.value("node_cpu_online", &[("cpu", "1")]), Some(0.0));
        assert_eq!(set.value("node_cpu_online", &[("cpu", "10")]), Some(1.0));
    }

    #[test]
    fn no_online_status_when_the_boot_cpu_cannot_go_offline() {
        // The usual x86 layout: cpu0 has no `online`, the others do.
        let set = online_from(&[("cpu0", None), ("cpu1", Some("1"))]);
        assert!(!set.contains("node_cpu_online"));
    }

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
        let context = fixtures::sysfs_context(sys.path());
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
