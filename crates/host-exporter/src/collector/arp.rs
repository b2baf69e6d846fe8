//! `node_arp_entries{device}` from `/proc/net/arp`.
//!
//! Read by hand, only the device column being needed: procfs-core 0.18's ARP parser slices the
//! `HW type` and `Flags` fields at byte 2 and panics on a shorter one (found by fuzzing,
//! `fuzz/fuzz_targets/host_proc.rs`).

use std::collections::BTreeMap;

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// Entries per device: the sixth column of every line after the header.
pub fn count_by_device(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut counts = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let device = line
            .split_ascii_whitespace()
            .nth(5)
            .ok_or_else(|| format!("line {}: no device column in {line:?}", n + 1))?;
        let count: &mut u64 = counts.entry(device.to_string()).or_insert(0);
        *count = count.saturating_add(1);
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

    /// Input the host_proc fuzz target found: procfs-core's ARP parser panicked on a `HW type`
    /// field shorter than its `0x` prefix.
    #[test]
    fn short_fields_are_no_panic() {
        let header =
            "IP address       HW type     Flags       HW address            Mask     Device\n";
        let found =
            "192.0.2.1        0x1   z     0x 2        02:fc:00:00:00:05     *        eth0\n";
        assert!(count_by_device(&format!("{header}{found}")).is_ok());
        assert!(count_by_device(&format!("{header}1 z\n")).is_err());
        let c = count_by_device(&format!("{header}10.0.0.1 z y 02:fc:00:00:00:01 * eth1\n"));
        assert_eq!(c.unwrap().get("eth1"), Some(&1));
    }
}
