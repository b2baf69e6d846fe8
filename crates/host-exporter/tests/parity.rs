//! Compares our /metrics with node_exporter's on the same machine at the same moment.
//!
//! Against today's node_exporter (1.9.0, Debian 13's build that `scripts/install-upstream-current`
//! unpacks), both ways: a family it has and we lack fails unless its hardware cannot be here
//! (`testkit::node_parity`, shared with vm-e2e's run in the cgroup v2 guest), a family we
//! have and it lacks fails unless README.md lists it; types,
//! label names, series and values (exact where they cannot move; a counter of node_exporter's
//! must lie between our readings just before and just after it) must agree. Against Debian 12's node_exporter 1.5.0 one way: everything it exports,
//! we export with its type and (at least) its label names, so old dashboards keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{current_node_exporter, version_line, PINNED_VERSION};

use testkit::node_parity::{
    about_the_exporter, both_ways, collector_outcome_problems, compare_rounds, family_problems,
    has_textfile_families, readme_extras_section, series, unlisted_extras, Families, Host,
    TEXTFILE, UPSTREAM_MOUNT_POINTS_EXCLUDE,
};
use testkit::{free_port, parse_exposition, ServiceProcess};

fn textfile_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("batch.prom"), TEXTFILE).expect("write textfile");
    dir
}

fn start(
    binary: impl Into<PathBuf>,
    textfiles: &tempfile::TempDir,
    upstream: bool,
) -> ServiceProcess {
    let port = free_port();
    let mut args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!(
            "--collector.textfile.directory={}",
            textfiles.path().display()
        ),
    ];
    if upstream {
        args.push(format!(
            "--collector.filesystem.mount-points-exclude={UPSTREAM_MOUNT_POINTS_EXCLUDE}"
        ));
    }
    ServiceProcess::start(binary, &args, port)
}

fn scrape(process: &ServiceProcess) -> Families {
    let response = testkit::http::get_with(&process.url("/metrics"), &[], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("scrape {}: {e}", process.url("/metrics")));
    assert_eq!(response.status, 200, "{}", response.body);
    parse_exposition(&response.body).expect("valid exposition")
}

/// [`compare_rounds`] of two exporters running here.
fn compare_here(
    upstream: &ServiceProcess,
    ours: &ServiceProcess,
    check: impl Fn(&Families, &Families, &Families) -> Vec<String>,
) -> Vec<String> {
    let scrape_ours = || {
        let mine = scrape(ours);
        assert!(
            has_textfile_families(&mine),
            "textfile metrics missing; our log:\n{}",
            ours.logs()
        );
        mine
    };
    compare_rounds(|| scrape(upstream), scrape_ours, check)
}

fn readme() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

#[test]
fn parity_with_node_exporter_1_9_both_ways() {
    let (binary, version) = current_node_exporter();
    println!("comparing with {version} ({})", binary.display());
    let textfiles = textfile_dir();
    let upstream = start(&binary, &textfiles, true);
    let ours = start(env!("CARGO_BIN_EXE_host-exporter"), &textfiles, false);
    let listed = readme_extras_section(&readme());
    let problems = compare_here(&upstream, &ours, |theirs, before, mine| {
        both_ways(theirs, before, mine, &listed, Host::local())
    });
    assert!(
        problems.is_empty(),
        "{} differences from {version}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `tests/fixtures/hardware`: procfs and sysfs files of a host with the hardware this machine
/// lacks, written in the kernel's layout (NVMe controllers, a two-device btrfs, ZFS pools, CPUs
/// with cpufreq and hotplug, IRQ pressure, a watchdog, hwmon chips, thermal zones, a battery,
/// EDAC, a bond, RAPL, DMI, md arrays, IPVS services).
fn hardware_tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hardware")
}

/// The collectors [`hardware_tree`] feeds.
const HARDWARE_COLLECTORS: [&str; 23] = [
    "bcache",
    "bonding",
    "btrfs",
    "cpu",
    "cpufreq",
    "dmi",
    "edac",
    "fibrechannel",
    "hwmon",
    "infiniband",
    "ipvs",
    "mdadm",
    "nfs",
    "nfsd",
    "nvme",
    "powersupplyclass",
    "pressure",
    "rapl",
    "tapestats",
    "thermal_zone",
    "watchdog",
    "xfs",
    "zfs",
];

/// Values that differ on the hardware tree on purpose (README.md says why).
const HARDWARE_TREE_DIFFERENT_VALUES: &[&str] = &[
    // node_exporter 1.9 (Debian's build) reports 0 although allocation/global_rsv_size is there.
    "node_btrfs_global_rsv_size_bytes",
    // node_exporter reads btree_read_average_duration_us as nanoseconds (1000 times too small).
    "node_bcache_btree_read_average_duration_seconds",
];

/// The collectors for hardware this machine lacks, run by both exporters on [`hardware_tree`]:
/// same families, types, label names, series and values (the tree does not move).
#[test]
fn parity_with_node_exporter_1_9_on_a_hardware_tree() {
    let (binary, version) = current_node_exporter();
    println!("comparing with {version} on a hardware tree");
    let tree = hardware_tree();
    let paths = |port: u16| {
        vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--path.procfs={}", tree.join("proc").display()),
            format!("--path.sysfs={}", tree.join("sys").display()),
        ]
    };
    let upstream_port = free_port();
    let upstream = ServiceProcess::start(&binary, &paths(upstream_port), upstream_port);
    let our_port = free_port();
    let ours = ServiceProcess::start(
        env!("CARGO_BIN_EXE_host-exporter"),
        &paths(our_port),
        our_port,
    );
    let query = HARDWARE_COLLECTORS
        .map(|c| format!("collect%5B%5D={c}"))
        .join("&");
    let scrape_tree = |process: &ServiceProcess| {
        let url = process.url(&format!("/metrics?{query}"));
        let response = testkit::http::get_with(&url, &[], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("scrape {url}: {e}"));
        assert_eq!(response.status, 200, "{}", response.body);
        parse_exposition(&response.body).expect("valid exposition")
    };
    let (theirs, mine) = (scrape_tree(&upstream), scrape_tree(&ours));
    for family in [
        "node_nvme_info",
        "node_btrfs_info",
        "node_zfs_zpool_state",
        "node_cpu_online",
        "node_cpu_scaling_governor",
        "node_pressure_irq_stalled_seconds_total",
        "node_watchdog_info",
        "node_hwmon_temp_celsius",
        "node_hwmon_pwm",
        "node_power_supply_info",
        "node_edac_correctable_errors_total",
        "node_bonding_active",
        "node_rapl_package_joules_total",
        "node_dmi_info",
        "node_md_disks",
        "node_ipvs_backend_weight",
        "node_thermal_zone_temp",
        "node_cooling_device_max_state",
        "node_xfs_vnode_active_total",
        "node_nfs_requests_total",
        "node_fibrechannel_info",
        "node_bcache_dirty_data_bytes",
        "node_bcache_written_bytes_total",
        "node_infiniband_info",
        "node_infiniband_legacy_data_received_bytes_total",
        "node_tape_read_time_seconds_total",
        "node_fibrechannel_rx_words_total",
        "node_zfs_zpool_nread",
        "node_zfs_zpool_dataset_nwritten",
        "node_zfs_zil_zil_commit_count",
        "node_zfs_abd_struct_size",
        "node_nfsd_requests_total",
    ] {
        assert!(
            theirs.contains_key(family),
            "node_exporter has no {family}: the tree is wrong"
        );
    }
    let succeeded = &theirs["node_scrape_collector_success"];
    for collector in HARDWARE_COLLECTORS {
        assert_eq!(
            succeeded.value(&[("collector", collector)]),
            Some(1.0),
            "node_exporter's {collector} collector fails on the tree: the tree is wrong"
        );
    }
    let mut problems = family_problems(&theirs, &mine, PINNED_VERSION, false);
    problems.extend(unlisted_extras(
        &theirs,
        &mine,
        &readme_extras_section(&readme()),
    ));
    for (name, their_family) in &theirs {
        let Some(my_family) = mine.get(name) else {
            continue;
        };
        if about_the_exporter(name) || HARDWARE_TREE_DIFFERENT_VALUES.contains(&name.as_str()) {
            continue;
        }
        let (their_series, my_series) = (series(name, their_family), series(name, my_family));
        if their_series != my_series {
            problems.push(format!(
                "{name}: {my_series:?} here, {their_series:?} in node_exporter"
            ));
        }
    }
    problems.extend(collector_outcome_problems(&theirs, &mine, Host::local()));
    assert!(
        problems.is_empty(),
        "{} differences from {version} on the hardware tree:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn parity_with_debian_12_node_exporter_1_5() {
    let binary = testkit::require_command("prometheus-node-exporter", "prometheus-node-exporter");
    let version = version_line(&binary);
    println!("comparing with {version} ({})", binary.display());
    let textfiles = textfile_dir();
    let upstream = start(&binary, &textfiles, true);
    let ours = start(env!("CARGO_BIN_EXE_host-exporter"), &textfiles, false);
    let problems = compare_here(&upstream, &ours, |theirs, _, mine| {
        let mut problems = family_problems(theirs, mine, "1.5", true);
        for name in ["node_memory_MemTotal_bytes", "node_boot_time_seconds"] {
            let value = |f: &Families| f.get(name).and_then(|f| f.samples.first()).map(|s| s.value);
            if value(theirs).is_none() || value(theirs) != value(mine) {
                problems.push(format!(
                    "{name}: {:?} here, {:?} in node_exporter 1.5",
                    value(mine),
                    value(theirs)
                ));
            }
        }
        problems
    });
    assert!(
        problems.is_empty(),
        "{} differences from {version}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
