//! `node_udp_queues{ip,queue}`: bytes queued in UDP sockets, summed from `/proc/net/udp{,6}`.
//!
//! Only the `tx_queue:rx_queue` column is needed, so this reads it directly instead of having
//! procfs-core parse every address of every socket.

use std::io;

use metrics_core::MetricSet;

use super::{CollectorError, Host};

/// `(tx, rx)` summed over every socket line.
pub fn parse(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1) {
        let Some(queues) = line.split_ascii_whitespace().nth(4) else {
            continue;
        };
        let (t, r) = queues
            .split_once(':')
            .ok_or_else(|| format!("bad queue column {queues:?}"))?;
        tx += u64::from_str_radix(t, 16).map_err(|e| format!("{t:?}: {e}"))?;
        rx += u64::from_str_radix(r, 16).map_err(|e| format!("{r:?}: {e}"))?;
    }
    Ok((tx, rx))
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (ip, file) in [("v4", "net/udp"), ("v6", "net/udp6")] {
        let path = ctx.proc(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // No IPv6 on this host: node_exporter skips it quietly.
            Err(e) if ip == "v6" && e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(CollectorError::Read { path, source }),
        };
        let (tx, rx) = parse(&text).map_err(|why| CollectorError::parse(&path, why))?;
        let help = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
        out.gauge(
            "node_udp_queues",
            help,
            &[("ip", ip), ("queue", "tx")],
            tx as f64,
        );
        out.gauge(
            "node_udp_queues",
            help,
            &[("ip", ip), ("queue", "rx")],
            rx as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn sums_queues() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    0: 00000000:0044 00000000:0000 07 00000010:00000200 00:00000000 00000000     0        0 1 2 0\n\
                    1: 00000000:0045 00000000:0000 07 00000001:00000000 00:00000000 00000000     0        0 1 2 0\n";
        assert_eq!(parse(text).unwrap(), (17, 512));
        parse(&fixtures::read("proc/net/udp")).unwrap();
        parse(&fixtures::read("proc/net/udp6")).unwrap();
    }
}
