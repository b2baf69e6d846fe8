//! container-stats' `/proc` and `/sys` files outside the cgroup tree: a container's
//! `net/dev`, `/proc/meminfo`, `/proc/stat`, `/proc/<pid>/cgroup`, block devices' `uevent`, a
//! thread's `stat`, and the host's `mountinfo`, `diskstats` and `os-release`.
//! Every input goes through every parser. Properties: nothing panics; loopback, veth and
//! docker bridge interfaces are left out; a container's cgroup path is absolute and inside
//! the reader's cgroup namespace.
#![no_main]

use container_stats::cgroup::parse_proc_cgroup;
use container_stats::{parse, proc, CgroupVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ifaces) = proc::parse_net_dev(text) {
        for iface in ifaces {
            assert!(
                iface.name != "lo" && !iface.name.starts_with("veth"),
                "{}",
                iface.name
            );
        }
    }
    let _ = proc::parse_mem_total(text);
    let _ = proc::parse_swap_total(text);
    let _ = container_stats::host::parse_block_mounts(text);
    let _ = container_stats::host::parse_diskstats(text);
    let _ = container_stats::host::parse_os_release(text);
    let _ = container_stats::tasks::parse_stat_state(text);
    let _ = parse::parse_proc_stat_cpu(text);
    if let Some(dev) = proc::parse_uevent_devname(text) {
        assert!(dev.starts_with("/dev/"), "{dev}");
    }
    for version in [CgroupVersion::V1, CgroupVersion::V2] {
        if let Some(path) = parse_proc_cgroup(text, version) {
            assert!(
                path.starts_with('/') && !path.starts_with("/.."),
                "{path:?}"
            );
        }
    }
    for line in text.lines() {
        let _ = parse::parse_device(line);
    }
});
