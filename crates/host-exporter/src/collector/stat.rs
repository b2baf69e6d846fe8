//! `/proc/stat`: CPU times (used by the cpu collector) and the kernel counters the stat
//! collector exports (interrupts, context switches, forks, boot time, running/blocked tasks).
//!
//! procfs-core's `KernelStats` has no `intr` total, which `node_intr_total` needs, so this one
//! pass over the file is hand-written.

use metrics_core::MetricSet;

use super::{read, CollectorError, Context, Host};

/// USER_HZ: `/proc/stat` counts CPU time in 1/100 s on every Linux architecture we run on.
pub const USER_HZ: f64 = 100.0;

/// One `cpuN` line, in ticks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuTimes {
    /// The `N` of `cpuN`.
    pub cpu: String,
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelStat {
    /// Per-CPU lines only (not the `cpu` total).
    pub cpus: Vec<CpuTimes>,
    pub intr: u64,
    pub ctxt: u64,
    pub btime: u64,
    pub processes: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
}

pub fn parse(text: &str) -> Result<KernelStat, String> {
    let mut stat = KernelStat::default();
    let mut seen_btime = false;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let first = |mut f: std::str::SplitAsciiWhitespace<'_>| -> Result<u64, String> {
            f.next()
                .ok_or_else(|| format!("{key}: no value"))?
                .parse::<u64>()
                .map_err(|e| format!("{key}: {e}"))
        };
        match key {
            "intr" => stat.intr = first(fields)?,
            "ctxt" => stat.ctxt = first(fields)?,
            "btime" => {
                stat.btime = first(fields)?;
                seen_btime = true;
            }
            "processes" => stat.processes = first(fields)?,
            "procs_running" => stat.procs_running = first(fields)?,
            "procs_blocked" => stat.procs_blocked = first(fields)?,
            k if k.len() > 3 && k.starts_with("cpu") => {
                let mut v = [0u64; 10];
                for (slot, field) in v.iter_mut().zip(fields) {
                    *slot = field.parse().map_err(|e| format!("{key}: {e}"))?;
                }
                stat.cpus.push(CpuTimes {
                    cpu: k[3..].to_string(),
                    user: v[0],
                    nice: v[1],
                    system: v[2],
                    idle: v[3],
                    iowait: v[4],
                    irq: v[5],
                    softirq: v[6],
                    steal: v[7],
                    guest: v[8],
                    guest_nice: v[9],
                });
            }
            _ => {}
        }
    }
    if !seen_btime {
        return Err("no btime line".into());
    }
    Ok(stat)
}

pub fn read_stat(ctx: &Context) -> Result<KernelStat, CollectorError> {
    let path = ctx.proc("stat");
    let text = read(&path)?;
    parse(&text).map_err(|why| CollectorError::parse(&path, why))
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let s = ctx.kernel_stat()?;
    out.counter(
        "node_intr_total",
        "Total number of interrupts serviced.",
        &[],
        s.intr as f64,
    );
    out.counter(
        "node_context_switches_total",
        "Total number of context switches.",
        &[],
        s.ctxt as f64,
    );
    out.counter(
        "node_forks_total",
        "Total number of forks.",
        &[],
        s.processes as f64,
    );
    out.gauge(
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        &[],
        s.btime as f64,
    );
    out.gauge(
        "node_procs_running",
        "Number of processes in runnable state.",
        &[],
        s.procs_running as f64,
    );
    out.gauge(
        "node_procs_blocked",
        "Number of processes blocked waiting for I/O to complete.",
        &[],
        s.procs_blocked as f64,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_cpus_and_counters_from_a_real_file() {
        let s = parse(&fixtures::read("proc/stat")).unwrap();
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[0].cpu, "0");
        assert_eq!(s.cpus[1].cpu, "1");
        assert!(s.cpus[0].user > 0 && s.cpus[0].idle > 0);
        assert!(s.intr > 0 && s.ctxt > 0 && s.processes > 0);
        assert!(s.btime > 1_700_000_000);
    }

    #[test]
    fn a_file_without_btime_is_an_error() {
        assert!(parse("cpu  1 2 3 4\ncpu0 1 2 3 4\n").is_err());
    }
}
