//! The docker CLI's formulas, as pure functions on our samples, so that figures shown beside
//! `docker stats` agree with it.
//!
//! - CPU % = Δ container CPU time / Δ host CPU time × online CPUs × 100 (100 % is one full core).
//! - Memory used = usage − inactive file pages (v1 `total_inactive_file`, v2 `inactive_file`)
//!   when that is smaller than usage; memory % = used / limit × 100, the limit being the host's
//!   memory when the container has none (as the daemon reports it).
//! - Network = the sum over all interfaces; block I/O = the sum over all devices.

use crate::stats::{BlkioStats, ContainerStats, InterfaceStats, MemoryStats};

/// `docker stats`' CPU % between two samples of one container; 0 unless both the container's and
/// the host's CPU time moved forward.
pub fn cpu_percent(previous: &ContainerStats, current: &ContainerStats) -> f64 {
    cpu_percent_of(
        previous.cpu.usage_ns,
        current.cpu.usage_ns,
        previous.system_cpu_usage_ns,
        current.system_cpu_usage_ns,
        current.online_cpus,
    )
}

/// The same on raw counters (nanoseconds).
pub fn cpu_percent_of(
    prev_usage: u64,
    usage: u64,
    prev_system: u64,
    system: u64,
    online_cpus: u32,
) -> f64 {
    let cpu_delta = usage.saturating_sub(prev_usage) as f64;
    let system_delta = system.saturating_sub(prev_system) as f64;
    if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * f64::from(online_cpus) * 100.0
    } else {
        0.0
    }
}

/// `docker stats`' MEM USAGE: usage less inactive file pages.
pub fn memory_used_bytes(memory: &MemoryStats) -> u64 {
    if memory.inactive_file_bytes < memory.usage_bytes {
        memory.usage_bytes - memory.inactive_file_bytes
    } else {
        memory.usage_bytes
    }
}

/// The LIMIT `docker stats` shows: the container's limit, capped at the host's memory (which is
/// also what it shows for a container without a limit).
pub fn memory_limit_bytes(memory: &MemoryStats, host_memory_bytes: u64) -> u64 {
    match memory.limit_bytes {
        Some(limit) if host_memory_bytes == 0 || limit < host_memory_bytes => limit,
        _ => host_memory_bytes,
    }
}

/// `docker stats`' MEM %; 0 when the limit is unknown.
pub fn memory_percent(memory: &MemoryStats, host_memory_bytes: u64) -> f64 {
    let limit = memory_limit_bytes(memory, host_memory_bytes);
    if limit == 0 {
        return 0.0;
    }
    memory_used_bytes(memory) as f64 / limit as f64 * 100.0
}

/// NET I/O: received and transmitted bytes over every interface.
pub fn network_bytes(interfaces: &[InterfaceStats]) -> (u64, u64) {
    interfaces.iter().fold((0u64, 0u64), |(rx, tx), i| {
        (rx.saturating_add(i.rx_bytes), tx.saturating_add(i.tx_bytes))
    })
}

/// BLOCK I/O: bytes read and written over every device.
pub fn blkio_bytes(blkio: &BlkioStats) -> (u64, u64) {
    blkio.devices.iter().fold((0u64, 0u64), |(r, w), d| {
        (
            r.saturating_add(d.read_bytes),
            w.saturating_add(d.write_bytes),
        )
    })
}

/// A per-second rate of a counter between two samples taken `seconds` apart; 0 when the counter
/// went backwards (a restart) or no time passed.
pub fn rate_per_second(previous: u64, current: u64, seconds: f64) -> f64 {
    if seconds > 0.0 && current >= previous {
        (current - previous) as f64 / seconds
    } else {
        0.0
    }
}

/// Seconds between two samples' timestamps.
pub fn seconds_between(previous: &ContainerStats, current: &ContainerStats) -> f64 {
    current
        .timestamp
        .duration_since(previous.timestamp)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::BlkioDevice;

    #[test]
    fn one_busy_core_of_four_is_100_percent() {
        // 1 s of container CPU while the host's 4 CPUs together spent 4 s.
        assert!((cpu_percent_of(0, 1_000_000_000, 0, 4_000_000_000, 4) - 100.0).abs() < 1e-9);
        assert_eq!(cpu_percent_of(5, 5, 0, 100, 4), 0.0);
        assert_eq!(cpu_percent_of(0, 10, 100, 100, 4), 0.0);
    }

    #[test]
    fn memory_used_leaves_out_inactive_file_pages() {
        let m = MemoryStats {
            usage_bytes: 100,
            inactive_file_bytes: 30,
            limit_bytes: Some(200),
            ..MemoryStats::default()
        };
        assert_eq!(memory_used_bytes(&m), 70);
        assert!((memory_percent(&m, 1000) - 35.0).abs() < 1e-9);
        let odd = MemoryStats {
            usage_bytes: 10,
            inactive_file_bytes: 30,
            ..MemoryStats::default()
        };
        assert_eq!(memory_used_bytes(&odd), 10);
        // No limit: the host's memory.
        assert_eq!(memory_limit_bytes(&odd, 1000), 1000);
    }

    #[test]
    fn io_sums_over_every_interface_and_device() {
        let ifaces = [
            InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 1,
                tx_bytes: 2,
                ..InterfaceStats::default()
            },
            InterfaceStats {
                name: "eth1".into(),
                rx_bytes: 10,
                tx_bytes: 20,
                ..InterfaceStats::default()
            },
        ];
        assert_eq!(network_bytes(&ifaces), (11, 22));
        let blkio = BlkioStats {
            devices: vec![
                BlkioDevice {
                    read_bytes: 5,
                    write_bytes: 6,
                    ..BlkioDevice::default()
                },
                BlkioDevice {
                    read_bytes: 1,
                    write_bytes: 1,
                    ..BlkioDevice::default()
                },
            ],
        };
        assert_eq!(blkio_bytes(&blkio), (6, 7));
        assert_eq!(rate_per_second(100, 300, 2.0), 100.0);
        assert_eq!(rate_per_second(300, 100, 2.0), 0.0);
    }

    /// Interface and device counters near u64::MAX add up without overflowing.
    #[test]
    fn io_sums_saturate() {
        let iface = InterfaceStats {
            rx_bytes: u64::MAX,
            tx_bytes: 1,
            ..InterfaceStats::default()
        };
        assert_eq!(network_bytes(&[iface.clone(), iface]), (u64::MAX, 2));
    }
}
