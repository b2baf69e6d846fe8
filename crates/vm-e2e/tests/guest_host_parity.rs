//! host-exporter's parity with node_exporter 1.9.0 on the cgroup v2 guest (issue #20): the same
//! node_exporter build host-exporter's own parity test uses here (Debian 13's, unpacked by
//! `scripts/install-upstream-current`) and our host-exporter (the binary `cargo` built here)
//! are copied into the guest and run there as what they are made to be, services of the guest
//! itself (`systemd-run` units: its root namespaces, its `/proc` and `/sys`), with the same
//! textfile. Both are scraped through ports `scripts/vm-host` forwards, and compared both ways
//! with the rules of `testkit::node_parity` (families each way, types, label names, series,
//! static values exactly, counters bracketed by our readings just before and after).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(vm_guest), allow(dead_code, unused_imports))]

use std::time::Duration;

use testkit::node_parity::{
    both_ways, compare_rounds, current_node_exporter, has_textfile_families, readme_extras_section,
    Families, Host, PINNED_VERSION, TEXTFILE, UPSTREAM_MOUNT_POINTS_EXCLUDE,
};
use vm_e2e::{scrape, Guest};

/// Guest ports (forwarded by `scripts/vm-host`) the two exporters listen on.
const OURS_PORT: u16 = 8082;
const UPSTREAM_PORT: u16 = 8083;
/// Where the binaries and the textfile go in the guest.
const GUEST_DIR: &str = "/var/lib/clustermon-parity";
const UNITS: [&str; 2] = ["cm-parity-host-exporter", "cm-parity-node-exporter"];

/// Stops both units when dropped, whatever happened.
struct Units(&'static Guest);

impl Units {
    fn stop(guest: &Guest) -> Result<String, String> {
        let units = UNITS.map(|u| format!("{u}.service")).join(" ");
        guest.try_shell(&format!(
            "systemctl stop {units} 2>/dev/null; systemctl reset-failed {units} 2>/dev/null; true"
        ))
    }
}

impl Drop for Units {
    fn drop(&mut self) {
        if let Err(e) = Units::stop(self.0) {
            eprintln!("vm-e2e: stopping the parity units in the guest: {e}");
        }
    }
}

/// Scrapes one exporter in the guest; the panic names the host.
fn scrape_guest(guest: &Guest, what: &str, addr: &str) -> Families {
    scrape(addr).unwrap_or_else(|e| panic!("{}: scraping {what} at {addr}: {e}", guest.describe()))
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn host_exporter_parity_with_node_exporter_1_9_in_the_guest() {
    let guest = Guest::get();
    guest.test_image();
    let (node_exporter, version) = current_node_exporter();
    let host_exporter = testkit::workspace::workspace_binary("host-exporter", "host-exporter")
        .unwrap_or_else(|e| panic!("{e}"));

    // The binaries and the textfile, copied in.
    let local = std::env::temp_dir().join(format!("cm-vm-parity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&local);
    std::fs::create_dir_all(local.join("textfile")).expect("create a local folder");
    std::fs::copy(&host_exporter, local.join("host-exporter")).expect("copy host-exporter");
    std::fs::copy(&node_exporter, local.join("node_exporter")).expect("copy node_exporter");
    std::fs::write(local.join("textfile/batch.prom"), TEXTFILE).expect("write the textfile");
    guest.copy_in(&local, GUEST_DIR);
    let _ = std::fs::remove_dir_all(&local);

    // node_exporter as upstream ships it: Debian's build turns its systemd collector on (off
    // upstream); on this machine it fails for want of systemd, in the guest it would export
    // node_systemd_* from systemd's D-Bus API, which host-exporter does not read.
    // Units an earlier run left go first; both stop when this test ends.
    Units::stop(guest).unwrap_or_else(|e| panic!("{}: {e}", guest.describe()));
    let _units = Units(guest);
    let textfile = format!("--collector.textfile.directory={GUEST_DIR}/textfile");
    guest.shell(&format!(
        "systemd-run --quiet --collect --unit={ours} {GUEST_DIR}/host-exporter \
           --web.listen-address=0.0.0.0:{OURS_PORT} {textfile} && \
         systemd-run --quiet --collect --unit={theirs} {GUEST_DIR}/node_exporter \
           --web.listen-address=0.0.0.0:{UPSTREAM_PORT} {textfile} \
           '--collector.filesystem.mount-points-exclude={UPSTREAM_MOUNT_POINTS_EXCLUDE}' \
           --no-collector.systemd",
        ours = UNITS[0],
        theirs = UNITS[1],
    ));
    let (ours, upstream) = (guest.forward(OURS_PORT), guest.forward(UPSTREAM_PORT));
    for (what, addr) in [("host-exporter", ours), ("node_exporter", upstream)] {
        guest.wait_for(
            &format!("{what} to answer in the guest (unit log: journalctl -u cm-parity-*)"),
            Duration::from_secs(180),
            || scrape(addr).ok(),
        );
    }
    let host = Host {
        irq_pressure: guest.shell("test -e /proc/pressure/irq && echo yes || echo no") == "yes",
    };
    let listed = readme_extras_section(
        &testkit::workspace::workspace_root().join("crates/host-exporter/README.md"),
    );
    let scrape_ours = || {
        let mine = scrape_guest(guest, "host-exporter", ours);
        assert!(
            has_textfile_families(&mine),
            "{}: host-exporter in the guest exports no textfile families",
            guest.describe()
        );
        mine
    };
    let problems = compare_rounds(
        || scrape_guest(guest, "node_exporter", upstream),
        scrape_ours,
        |theirs, before, mine| both_ways(theirs, before, mine, &listed, host),
    );
    assert!(
        problems.is_empty(),
        "{}: {} differences from node_exporter {PINNED_VERSION} ({version}):\n{}",
        guest.describe(),
        problems.len(),
        problems.join("\n")
    );
}
