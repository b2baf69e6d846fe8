//! Figures from `/proc` and `/sys` outside the cgroup tree: a container's network counters, the
//! host's CPU time and the machine's size.

use procfs::FromBufRead;

use crate::parse::ParseError;
use crate::stats::InterfaceStats;

/// `/proc/<pid>/net/dev`, parsed with procfs, leaving out what cAdvisor leaves out: loopback and
/// the host-side ends of bridges and veth pairs (visible when a container shares the host's
/// network namespace).
pub fn parse_net_dev(text: &str) -> Result<Vec<InterfaceStats>, ParseError> {
    let devices = procfs::net::InterfaceDeviceStatus::from_buf_read(text.as_bytes())
        .map_err(|e| ParseError(format!("cannot parse net/dev: {e}")))?;
    let mut out: Vec<InterfaceStats> = devices
        .0
        .into_values()
        .filter(|d| !skip_interface(&d.name))
        .map(|d| InterfaceStats {
            name: d.name,
            rx_bytes: d.recv_bytes,
            rx_packets: d.recv_packets,
            rx_errors: d.recv_errs,
            rx_dropped: d.recv_drop,
            tx_bytes: d.sent_bytes,
            tx_packets: d.sent_packets,
            tx_errors: d.sent_errs,
            tx_dropped: d.sent_drop,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn skip_interface(name: &str) -> bool {
    name == "lo" || name.starts_with("veth") || name.starts_with("docker")
}

/// `MemTotal` from `/proc/meminfo`, in bytes. Read by hand, one line: procfs-core 0.18's
/// `Meminfo` panics on a key that ends in a multibyte character and on a size whose conversion
/// to bytes overflows (both found by fuzzing, `fuzz/fuzz_targets/container_proc.rs`).
pub fn parse_mem_total(text: &str) -> Result<u64, ParseError> {
    meminfo_bytes(text, "MemTotal:")
}

/// `SwapTotal` from `/proc/meminfo`, in bytes (read the same way as `MemTotal`).
pub fn parse_swap_total(text: &str) -> Option<u64> {
    meminfo_bytes(text, "SwapTotal:").ok()
}

/// The `key` line of meminfo in bytes: a number, optionally followed by `kB` (checked).
fn meminfo_bytes(text: &str, key: &str) -> Result<u64, ParseError> {
    let invalid = || ParseError::new(key, text);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .ok_or_else(invalid)?;
    let mut fields = line.split_ascii_whitespace();
    let value: u64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(invalid)?;
    match fields.next() {
        None => Ok(value),
        Some("kB") => value.checked_mul(1024).ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// `DEVNAME=` from a `/sys/dev/block/MAJ:MIN/uevent` file, as `/dev/<name>`.
pub fn parse_uevent_devname(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(|name| format!("/dev/{}", name.trim()))
}

/// Device numbers of a `st_dev`, as glibc's `major()`/`minor()` split them.
pub fn dev_major_minor(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_net_dev_without_loopback() {
        let text = include_str!("../tests/fixtures/proc/net_dev");
        let ifaces = parse_net_dev(text).unwrap();
        assert_eq!(ifaces.len(), 1);
        assert_eq!(ifaces[0].name, "eth0");
        assert_eq!(ifaces[0].rx_bytes, 806);
        assert_eq!(ifaces[0].rx_packets, 9);
        assert_eq!(ifaces[0].tx_bytes, 0);
    }

    #[test]
    fn every_interface_of_a_multi_network_container() {
        let text = include_str!("../tests/fixtures/v2/proc/4343/net/dev");
        let ifaces = parse_net_dev(text).unwrap();
        let names: Vec<_> = ifaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(ifaces[0].rx_errors, 1);
        assert_eq!(ifaces[0].rx_dropped, 2);
        assert_eq!(ifaces[0].tx_errors, 3);
        assert_eq!(ifaces[0].tx_dropped, 4);
    }

    #[test]
    fn machine_memory_and_devices() {
        let mem = parse_mem_total(include_str!("../tests/fixtures/proc/meminfo")).unwrap();
        assert!(mem > 1 << 30, "{mem}");
        assert_eq!(
            parse_uevent_devname("MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n").as_deref(),
            Some("/dev/vda")
        );
        assert_eq!(dev_major_minor(0xfe00), (254, 0));
        assert_eq!(dev_major_minor(0x803), (8, 3));
    }

    /// Inputs the container_proc fuzz target found: procfs-core's Meminfo panicked on a key
    /// ending in a multibyte character and on a kB size overflowing u64 bytes.
    #[test]
    fn hostile_meminfo_is_an_error_not_a_panic() {
        assert!(parse_mem_total("\n\n\n\n\n\n\u{3ff}            8336\n").is_err());
        assert!(parse_mem_total("MemFree:cpu\u{54d}\n").is_err());
        assert!(parse_mem_total("MemTotal: 18446744073709551615 kB\n").is_err());
        assert!(parse_mem_total("MemTotal: 12 MB\n").is_err());
        assert_eq!(
            parse_mem_total("SwapCached:\u{6e4}\nMemTotal: 2 kB\n"),
            Ok(2048)
        );
        assert_eq!(parse_mem_total("MemTotal: 2\n"), Ok(2));
        assert_eq!(
            parse_swap_total("MemTotal: 2 kB\nSwapTotal: 3 kB\n"),
            Some(3072)
        );
        assert_eq!(
            parse_swap_total("SwapTotal: 18446744073709551615 kB\n"),
            None
        );
        let host = include_str!("../tests/fixtures/proc/meminfo");
        assert!(parse_swap_total(host).is_some());
    }
}
