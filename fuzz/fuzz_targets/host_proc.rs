//! host-exporter's parsers of `/proc`, `/sys` and `/etc` files: every input goes through every
//! parser of the family (seeds are the captured fixtures as they are, no selector byte), since
//! each bails out early on text that is not its file. Property: none panics.
#![no_main]

use host_exporter_src::collector::{
    arp, conntrack, diskstats, filefd, hwmon, loadavg, mdadm, meminfo, netstat, nfs, os, pressure,
    schedstat, selinux, sockstat, softnet, stat, time, udp_queues, vmstat, zfs,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // /etc/localtime is binary (TZif): its closing POSIX TZ string is read from the bytes.
    for offset in [0, 3600, -19_800] {
        let _ = time::zone_name(data, offset);
    }
    // Every other file is read with read_to_string, so only UTF-8 reaches the parsers.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = arp::count_by_device(text);
    let _ = conntrack::parse_stat(text);
    let _ = diskstats::parse(text);
    let _ = diskstats::parse_udev(text);
    let _ = filefd::parse(text);
    let _ = loadavg::parse(text);
    let _ = mdadm::parse(text);
    let _ = meminfo::parse(text);
    let _ = netstat::parse_paired(text);
    let _ = netstat::parse_snmp6(text);
    let _ = nfs::parse(text);
    for (_, value) in os::parse(text) {
        let _ = os::version_number(&value);
    }
    let _ = schedstat::parse(text);
    let _ = selinux::config_mode(text);
    let _ = sockstat::parse(text);
    let _ = softnet::parse(text);
    let _ = stat::parse(text);
    let _ = udp_queues::parse(text);
    let _ = vmstat::parse(text);
    let _ = zfs::parse_kstat(text);
    for kind in ["some", "full"] {
        let _ = pressure::parse_total(text, kind);
    }
    // hwmon file names come from a directory listing: one name a line here.
    for name in text.lines() {
        if let Some((kind, _, prop)) = hwmon::split_sensor(name) {
            assert!(!kind.is_empty() && name.starts_with(kind), "{name:?}");
            assert!(name.ends_with(prop), "{name:?}");
        }
    }
});
