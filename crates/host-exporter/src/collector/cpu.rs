//! `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from `/proc/stat`.

use metrics_core::MetricSet;

use super::stat::USER_HZ;
use super::{CollectorError, Host};

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
    Ok(())
}
