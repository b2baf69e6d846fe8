//! `node_arp_entries{device}` from `/proc/net/arp` (procfs-core's parser).

use std::collections::BTreeMap;

use metrics_core::MetricSet;
use procfs::FromRead;

use super::{read, CollectorError, Host};

/// Entries per device.
pub fn count_by_device(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let entries = procfs::net::ArpEntries::from_read(text.as_bytes()).map_err(|e| e.to_string())?;
    let mut counts = BTreeMap::new();
    for e in entries.0 {
        *counts.entry(e.device).or_insert(0) += 1;
    }
    Ok(counts)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("net/arp");
    let counts = count_by_device(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    for (device, n) in counts {
        if !ctx.arp_filter.excludes(&device) {
            out.gauge(
                "node_arp_entries",
                "ARP entries by device",
                &[("device", &device)],
                n as f64,
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
    fn counts_real_arp_entries() {
        let c = count_by_device(&fixtures::read("proc/net/arp")).unwrap();
        assert!(c.values().all(|n| *n > 0));
        let two = count_by_device(
            "IP address       HW type     Flags       HW address            Mask     Device\n\
             10.0.0.1         0x1         0x2         02:fc:00:00:00:01     *        eth0\n\
             10.0.0.2         0x1         0x2         02:fc:00:00:00:02     *        eth0\n",
        )
        .unwrap();
        assert_eq!(two.get("eth0"), Some(&2));
    }
}
