//! The `process_*` families Go's client library exports on Linux besides those of the
//! `prometheus` crate's process collector: the address-space limit and the network traffic of
//! the namespace the process runs in. Every service gets them on `/metrics` with the other
//! `process_*` families ([`crate::process::ProcessMetrics`]). They describe this process, so
//! they always read `/proc/self`.

use crate::MetricSet;

/// The soft `RLIMIT_AS` from a `/proc/<pid>/limits` text, in bytes; unlimited is `u64::MAX`,
/// as Go's client reports it (`1.8446744073709552e+19`).
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

/// `IpExt` `InOctets` and `OutOctets` from a `/proc/<pid>/net/netstat` text (a line of field
/// names followed by a line of values per protocol): the IP bytes of the process's network
/// namespace, which is what Go's client calls the process's traffic.
pub fn ip_octets(netstat: &str) -> Result<(f64, f64), String> {
    let mut lines = netstat.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some(names), Some(values)) =
            (names.strip_prefix("IpExt:"), values.strip_prefix("IpExt:"))
        else {
            continue;
        };
        let field = |wanted: &str| {
            names
                .split_ascii_whitespace()
                .zip(values.split_ascii_whitespace())
                .find(|(name, _)| *name == wanted)
                .ok_or_else(|| format!("no IpExt {wanted}"))
                .and_then(|(_, v)| v.parse::<f64>().map_err(|e| format!("IpExt {wanted}: {e}")))
        };
        return Ok((field("InOctets")?, field("OutOctets")?));
    }
    Err("no IpExt lines".into())
}

/// Adds what can be read; a file that cannot be read or parsed is left out and logged at debug
/// level, as Go's client does.
pub fn collect_into(set: &mut MetricSet) {
    match std::fs::read_to_string("/proc/self/limits")
        .map_err(|e| e.to_string())
        .and_then(|t| address_space_limit(&t))
    {
        Ok(limit) => set.gauge(
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
            set.counter(
                "process_network_receive_bytes_total",
                "Number of bytes received by the process over the network.",
                &[],
                received,
            );
            set.counter(
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max stack size            8388608              unlimited            bytes     \n\
Max open files            1024                 524288               files     \n\
Max address space         ADDRESS              unlimited            bytes     \n\
Max file locks            unlimited            unlimited            locks     \n";

    /// The shape of `/proc/net/netstat` (two protocols, names then values), with made-up values.
    const NETSTAT: &str = "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 0 3\n\
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets\n\
IpExt: 0 0 12 0 4 0 987654321 123456789\n";

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
        assert_eq!(ip_octets(NETSTAT).unwrap(), (987654321.0, 123456789.0));
        assert!(ip_octets("TcpExt: SyncookiesSent\nTcpExt: 0\n").is_err());
        assert!(ip_octets("IpExt: InOctets OutOctets\nIpExt: 1 x\n").is_err());
        assert!(ip_octets("IpExt: InOctets\nIpExt: 1\n").is_err());
        assert!(ip_octets("").is_err());
    }

    #[test]
    fn this_process_reports_all_three_with_its_own_values() {
        let mut set = MetricSet::new();
        collect_into(&mut set);
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        assert_eq!(
            set.value("process_virtual_memory_max_bytes", &[]),
            Some(address_space_limit(&limits).unwrap() as f64)
        );
        for name in [
            "process_network_receive_bytes_total",
            "process_network_transmit_bytes_total",
        ] {
            assert!(set.contains(name), "{name} missing");
        }
    }
}
