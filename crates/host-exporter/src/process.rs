//! The `process_*` families Go's client library adds to node_exporter's and metrics-core's
//! process collector lacks: the address-space limit and the network traffic of the namespace
//! the exporter runs in. They describe this process, so they read `/proc/self` whatever
//! `--path.procfs` says.

use metrics_core::MetricSet;

/// The soft `RLIMIT_AS` from a `/proc/<pid>/limits` text, in bytes; unlimited is `u64::MAX`,
/// as Go's client reports it (`1.8446744073709552e+19`). Parsed here rather than with
/// procfs-core's `Limits`, which panics on a short line.
pub fn address_space_limit(limits: &str) -> Result<u64, String> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max address space"))
        .ok_or("no 'Max address space' line")?;
    match line.split_ascii_whitespace().next() {
        Some("unlimited") => Ok(u64::MAX),
        Some(soft) => soft
            .parse()
            .map_err(|e| format!("address space {soft:?}: {e}")),
        None => Err("empty 'Max address space' line".into()),
    }
}

/// `IpExt` `InOctets` and `OutOctets` from a `/proc/<pid>/net/netstat` text: the IP bytes of
/// the process's network namespace, which is what Go's client calls the process's traffic.
pub fn ip_octets(netstat: &str) -> Result<(f64, f64), String> {
    let fields = crate::collector::netstat::parse_paired(netstat)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(proto, field, _)| *proto == "IpExt" && *field == name)
            .map(|(_, _, v)| *v)
            .ok_or_else(|| format!("no IpExt {name}"))
    };
    Ok((field("InOctets")?, field("OutOctets")?))
}

/// Adds what can be read; a file that cannot is left out and logged at debug level, the same
/// as Go's client does.
pub fn collect(out: &mut MetricSet) {
    match std::fs::read_to_string("/proc/self/limits")
        .map_err(|e| e.to_string())
        .and_then(|t| address_space_limit(&t))
    {
        Ok(limit) => out.gauge(
            "process_virtual_memory_max_bytes",
            "Maximum amount of virtual memory available in bytes.",
            &[],
            limit as f64,
        ),
        Err(e) => tracing::debug!(error = %e, "cannot read /proc/self/limits"),
    }
    match std::fs::read_to_string("/proc/self/net/netstat")
        .map_err(|e| e.to_string())
        .and_then(|t| ip_octets(&t))
    {
        Ok((received, sent)) => {
            out.counter(
                "process_network_receive_bytes_total",
                "Number of bytes received by the process over the network.",
                &[],
                received,
            );
            out.counter(
                "process_network_transmit_bytes_total",
                "Number of bytes sent by the process over the network.",
                &[],
                sent,
            );
        }
        Err(e) => tracing::debug!(error = %e, "cannot read /proc/self/net/netstat"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max file size             unlimited            unlimited            bytes     \n\
Max data size             unlimited            unlimited            bytes     \n\
Max stack size            8388608              unlimited            bytes     \n\
Max core file size        0                    unlimited            bytes     \n\
Max resident set          unlimited            unlimited            bytes     \n\
Max processes             96377                96377                processes \n\
Max open files            1024                 524288               files     \n\
Max locked memory         8388608              8388608              bytes     \n\
Max address space         ADDRESS              unlimited            bytes     \n\
Max file locks            unlimited            unlimited            locks     \n\
Max pending signals       96377                96377                signals   \n\
Max msgqueue size         819200               819200               bytes     \n\
Max nice priority         0                    0                    \n\
Max realtime priority     0                    0                    \n\
Max realtime timeout      unlimited            unlimited            us        \n";

    #[test]
    fn address_space_limit_is_the_soft_limit_and_unlimited_is_u64_max() {
        let unlimited = LIMITS.replace("ADDRESS", "unlimited");
        assert_eq!(address_space_limit(&unlimited).unwrap(), u64::MAX);
        assert_eq!(u64::MAX as f64, 1.8446744073709552e19);
        let limited = LIMITS.replace("ADDRESS", "4294967296");
        assert_eq!(address_space_limit(&limited).unwrap(), 4_294_967_296);
        assert!(address_space_limit("garbage").is_err());
        assert!(address_space_limit("Max address space\n").is_err());
        assert!(address_space_limit("Max address space  lots  unlimited  bytes\n").is_err());
    }

    #[test]
    fn ip_octets_come_from_ipext() {
        let (received, sent) = ip_octets(&fixtures::read("proc/net/netstat")).unwrap();
        assert!(received > 0.0 && sent > 0.0, "{received} {sent}");
        assert!(ip_octets("TcpExt: SyncookiesSent\nTcpExt: 0\n").is_err());
    }

    #[test]
    fn this_process_reports_all_three() {
        let mut set = MetricSet::new();
        collect(&mut set);
        for name in [
            "process_virtual_memory_max_bytes",
            "process_network_receive_bytes_total",
            "process_network_transmit_bytes_total",
        ] {
            assert!(set.contains(name), "{name} missing");
        }
    }
}
