//! Compares our /metrics with node_exporter's on the same machine at the same moment.
//!
//! Against today's node_exporter (1.9.0, Debian 13's build that `scripts/install-upstream-current`
//! unpacks), both ways: a family it has and we lack fails unless its hardware cannot be here
//! ([`HARDWARE_FAMILIES`]), a family we have and it lacks fails unless README.md lists it; types,
//! label names, series and values (exact where they cannot move; a counter of node_exporter's
//! must lie between our readings just before and just after it) must agree. Against Debian 12's node_exporter 1.5.0 one way: everything it exports,
//! we export with its type and (at least) its label names, so old dashboards keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use common::{current_node_exporter, version_line, PINNED_VERSION};

use testkit::{free_port, parse_exposition, Family, Sample, ServiceProcess};

type Families = BTreeMap<String, Family>;

/// Families of the Go runtime and Go's HTTP handler, which a Rust binary cannot have (README.md
/// says what replaces them).
const GO_ONLY_PREFIXES: [&str; 2] = ["go_", "promhttp_"];

/// node_exporter collectors we do not have, for hardware or kernel features this machine (a
/// KVM guest) and the swarm nodes lack: their families cannot appear here, and the test still
/// fails on any other family we lack. Each entry is a family-name prefix and why.
const HARDWARE_FAMILIES: &[(&str, &str)] = &[
    // Empty since bcache, infiniband, fibrechannel and tapestats were added: every collector
    // node_exporter 1.9 enables by default on Linux is here. A collector a newer node_exporter
    // adds for hardware the test machine lacks goes here until it is written, with its reason.
];

/// Families whose every series must carry the same value on both sides: they cannot change
/// between two scrapes a moment apart.
const STATIC_FAMILIES: &[&str] = &[
    "node_boot_time_seconds",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_filesystem_mount_info",
    "node_network_info",
    "node_network_mtu_bytes",
    "node_network_iface_id",
    "node_network_address_assign_type",
    "node_network_protocol_type",
    "node_network_up",
    "node_disk_info",
    "node_uname_info",
    "node_os_info",
    "node_os_version",
    "node_dmi_info",
    "node_entropy_pool_size_bits",
    "node_filefd_maximum",
    "node_nf_conntrack_entries_limit",
    "node_cpu_scaling_governor",
    "node_cpu_frequency_max_hertz",
    "node_textfile_mtime_seconds",
    "batch_last_success_seconds",
];

/// Label values we report differently on purpose (README.md says why).
const DIFFERENT_LABEL_VALUES: &[(&str, &str)] = &[
    // node_exporter 1.9 reads a zeroed queue when procfs cannot parse all of a device's queue
    // attributes (it cannot on this 6.x kernel) and says 0; we read `queue/rotational` itself.
    ("node_disk_info", "rotational"),
];

/// Families whose series or values describe the exporter process itself (its build, its
/// resources) or the scrape.
fn about_the_exporter(name: &str) -> bool {
    name.starts_with("process_")
        || name.starts_with("node_scrape_collector_")
        || name == "node_exporter_build_info"
}

/// Collectors whose outcome differs on purpose on this machine (README.md says why).
fn outcome_may_differ(collector: &str) -> bool {
    // node_exporter 1.9 exports cpu/io/memory pressure but reports the collector failed when
    // the kernel has no IRQ pressure file; we report what we exported.
    collector == "pressure" && !std::path::Path::new("/proc/pressure/irq").exists()
}

fn is_go_only(name: &str) -> bool {
    GO_ONLY_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn hardware_reason(name: &str) -> Option<&'static str> {
    HARDWARE_FAMILIES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, why)| *why)
}

fn textfile_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("batch.prom"),
        "# HELP batch_last_success_seconds Last time the batch job succeeded.\n\
         # TYPE batch_last_success_seconds gauge\n\
         batch_last_success_seconds{job=\"backup\"} 1.7e+09\n\
         # TYPE batch_duration_seconds histogram\n\
         batch_duration_seconds_bucket{le=\"1\"} 2\n\
         batch_duration_seconds_bucket{le=\"+Inf\"} 3\n\
         batch_duration_seconds_sum 4.5\n\
         batch_duration_seconds_count 3\n",
    )
    .expect("write textfile");
    dir
}

/// node_exporter 1.9's default, given to both node_exporters explicitly: Debian's packages
/// patch it (they hide `/run`, `/mnt` and `/media`), ours follows upstream.
const UPSTREAM_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

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

/// Type and label-name differences of the families both sides have, and the families only
/// `upstream` has that no [`HARDWARE_FAMILIES`] entry excuses. With `superset_labels`, extra
/// label names of ours pass (labels newer releases added).
fn family_problems(
    upstream: &Families,
    ours: &Families,
    version: &str,
    superset_labels: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, theirs) in upstream {
        if is_go_only(name) || theirs.samples.is_empty() {
            continue;
        }
        let Some(mine) = ours.get(name) else {
            if hardware_reason(name).is_none() {
                problems.push(format!(
                    "missing family {name} ({}, labels {:?}) that node_exporter {version} has",
                    theirs.kind,
                    theirs.label_names()
                ));
            }
            continue;
        };
        if mine.kind != theirs.kind {
            problems.push(format!(
                "{name}: type {} here, {} in node_exporter {version}",
                mine.kind, theirs.kind
            ));
        }
        let (my_labels, their_labels) = (mine.label_names(), theirs.label_names());
        let labels_ok = if superset_labels {
            my_labels.is_superset(&their_labels)
        } else {
            my_labels == their_labels
        };
        if !labels_ok {
            problems.push(format!(
                "{name}: label names {my_labels:?} here, {their_labels:?} in node_exporter {version}"
            ));
        }
    }
    problems
}

/// The README section that lists and justifies our families node_exporter lacks.
fn readme_extras_section() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let start = readme
        .find("## Families node_exporter 1.9 does not have")
        .expect("README.md has a '## Families node_exporter 1.9 does not have' section");
    let rest = &readme[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i);
    rest[..end].to_string()
}

/// Our families that node_exporter lacks and README.md does not list by name.
fn unlisted_extras(upstream: &Families, ours: &Families, listed: &str) -> Vec<String> {
    ours.iter()
        .filter(|(name, family)| !family.samples.is_empty() && !upstream.contains_key(*name))
        .filter(|(name, _)| !listed.contains(&format!("`{name}`")))
        .map(|(name, family)| {
            format!(
                "family {name} ({}) is not in node_exporter {PINNED_VERSION}: list and justify it \
                 in README.md's 'Families node_exporter 1.9 does not have'",
                family.kind
            )
        })
        .collect()
}

/// A sample's labels as comparable text, less the labels whose values differ on purpose.
fn series_key(family: &str, sample: &Sample) -> String {
    let mut parts: Vec<String> = sample
        .labels
        .iter()
        .filter(|(k, _)| !DIFFERENT_LABEL_VALUES.contains(&(family, k.as_str())))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    parts.sort();
    format!("{}{{{}}}", sample.name, parts.join(","))
}

fn series(name: &str, family: &Family) -> BTreeMap<String, f64> {
    family
        .samples
        .iter()
        .map(|s| (series_key(name, s), s.value))
        .collect()
}

/// Whether `theirs` lies between our readings before and after it, give or take float
/// rounding: a counter read at one moment by both exporters must fall between two readings
/// taken around that moment, however fast it moves.
fn bracketed(before: Option<f64>, theirs: f64, after: f64) -> bool {
    let slack = |v: f64| v.abs().max(1.0) * 1e-9;
    before.is_none_or(|b| b - slack(b) <= theirs) && theirs <= after + slack(after)
}

/// Series and value differences of the families both sides have; `before` and `ours` are our
/// scrapes just before and just after node_exporter's.
fn value_problems(upstream: &Families, before: &Families, ours: &Families) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, theirs) in upstream {
        let Some(mine) = ours.get(name) else { continue };
        let my_earlier = before
            .get(name)
            .map(|f| series(name, f))
            .unwrap_or_default();
        if is_go_only(name) || about_the_exporter(name) || mine.kind != theirs.kind {
            continue;
        }
        let (their_series, my_series) = (series(name, theirs), series(name, mine));
        let their_keys: BTreeSet<&String> = their_series.keys().collect();
        let my_keys: BTreeSet<&String> = my_series.keys().collect();
        if their_keys != my_keys {
            let only_theirs: Vec<_> = their_keys.difference(&my_keys).collect();
            let only_mine: Vec<_> = my_keys.difference(&their_keys).collect();
            problems.push(format!(
                "{name}: series only in node_exporter {only_theirs:?}, only here {only_mine:?}"
            ));
            continue;
        }
        for (key, their_value) in &their_series {
            let my_value = my_series[key];
            let ok = if STATIC_FAMILIES.contains(&name.as_str()) {
                my_value == *their_value
            } else if theirs.kind == "counter" {
                bracketed(my_earlier.get(key).copied(), *their_value, my_value)
            } else {
                true
            };
            if !ok {
                let earlier = my_earlier
                    .get(key)
                    .map_or(String::new(), |v| format!("{v} then "));
                problems.push(format!(
                    "{key}: {earlier}{my_value} here, {their_value} in node_exporter"
                ));
            }
        }
    }
    problems.extend(collector_outcome_problems(upstream, ours));
    problems
}

/// Collectors Debian's node_exporter runs that upstream's does not enable by default.
const DEBIAN_ONLY_COLLECTORS: &[&str] = &[
    // Debian's package turns the systemd collector on; node_exporter leaves it off.
    "systemd",
];

/// Every collector node_exporter runs, we run, and one both run must succeed or fail on both.
fn collector_outcome_problems(upstream: &Families, ours: &Families) -> Vec<String> {
    let outcomes = |families: &Families| -> BTreeMap<String, f64> {
        families
            .get("node_scrape_collector_success")
            .map(|f| {
                f.samples
                    .iter()
                    .filter_map(|s| Some((s.labels.get("collector")?.clone(), s.value)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (theirs, mine) = (outcomes(upstream), outcomes(ours));
    let missing = theirs
        .keys()
        .filter(|c| !mine.contains_key(*c) && !DEBIAN_ONLY_COLLECTORS.contains(&c.as_str()))
        .map(|c| format!("collector {c} runs in node_exporter, not here"));
    let differing: Vec<String> = theirs
        .iter()
        .filter(|(collector, _)| !outcome_may_differ(collector))
        .filter_map(|(collector, their_value)| {
            let my_value = mine.get(collector)?;
            (my_value != their_value).then(|| {
                format!("collector {collector}: success {my_value} here, {their_value} in node_exporter")
            })
        })
        .collect();
    missing.chain(differing).collect()
}

/// Runs `check(theirs, ours before, ours after)` over up to three rounds of scrapes (ours,
/// node_exporter's, ours again): some series come and go with the host's state (an ARP entry
/// expiring, a container's veth), so a difference must persist to count.
fn compare_rounds(
    upstream: &ServiceProcess,
    ours: &ServiceProcess,
    check: impl Fn(&Families, &Families, &Families) -> Vec<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for round in 0..3 {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let before = scrape(ours);
        let theirs = scrape(upstream);
        let mine = scrape(ours);
        assert!(
            mine.contains_key("batch_last_success_seconds")
                && mine.contains_key("node_textfile_mtime_seconds"),
            "textfile metrics missing; our log:\n{}",
            ours.logs()
        );
        problems = check(&theirs, &before, &mine);
        if problems.is_empty() {
            break;
        }
    }
    problems
}

#[test]
fn parity_with_node_exporter_1_9_both_ways() {
    let (binary, version) = current_node_exporter();
    println!("comparing with {version} ({})", binary.display());
    let textfiles = textfile_dir();
    let upstream = start(&binary, &textfiles, true);
    let ours = start(env!("CARGO_BIN_EXE_host-exporter"), &textfiles, false);
    let listed = readme_extras_section();
    let problems = compare_rounds(&upstream, &ours, |theirs, before, mine| {
        let mut problems = family_problems(theirs, mine, PINNED_VERSION, false);
        problems.extend(unlisted_extras(theirs, mine, &listed));
        problems.extend(value_problems(theirs, before, mine));
        problems
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
    problems.extend(unlisted_extras(&theirs, &mine, &readme_extras_section()));
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
    problems.extend(collector_outcome_problems(&theirs, &mine));
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
    let problems = compare_rounds(&upstream, &ours, |theirs, _, mine| {
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
