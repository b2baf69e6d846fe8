//! Compares our families with Debian's node_exporter running on the same machine: every family
//! it exposes (less the Go runtime's) must exist here with the same type and label names, and
//! the values that cannot move between two scrapes must be equal.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use testkit::{free_port, parse_exposition, Family, ServiceProcess};

const RUNTIME_PREFIXES: [&str; 3] = ["go_", "promhttp_", "process_"];

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

fn scrape(process: &ServiceProcess) -> BTreeMap<String, Family> {
    let response = testkit::http::get_with(&process.url("/metrics"), &[], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("scrape {}: {e}", process.url("/metrics")));
    assert_eq!(response.status, 200, "{}", response.body);
    parse_exposition(&response.body).expect("valid exposition")
}

/// Problems with our families, compared with node_exporter's.
fn family_problems(
    upstream: &BTreeMap<String, Family>,
    ours: &BTreeMap<String, Family>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, theirs) in upstream {
        if RUNTIME_PREFIXES.iter().any(|p| name.starts_with(p)) || theirs.samples.is_empty() {
            continue;
        }
        let Some(mine) = ours.get(name) else {
            problems.push(format!(
                "missing family {name} ({}, labels {:?})",
                theirs.kind,
                theirs.label_names()
            ));
            continue;
        };
        if mine.kind != theirs.kind {
            problems.push(format!(
                "{name}: type {} here, {} in node_exporter",
                mine.kind, theirs.kind
            ));
        }
        if mine.label_names() != theirs.label_names() {
            problems.push(format!(
                "{name}: label names {:?} here, {:?} in node_exporter",
                mine.label_names(),
                theirs.label_names()
            ));
        }
    }
    problems
}

fn cpus(families: &BTreeMap<String, Family>) -> BTreeSet<String> {
    families
        .get("node_cpu_seconds_total")
        .map(|f| {
            f.samples
                .iter()
                .filter_map(|s| s.labels.get("cpu").cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn single(families: &BTreeMap<String, Family>, name: &str) -> Option<f64> {
    families
        .get(name)
        .and_then(|f| f.samples.first())
        .map(|s| s.value)
}

fn filesystem_sizes(families: &BTreeMap<String, Family>) -> BTreeMap<String, f64> {
    families
        .get("node_filesystem_size_bytes")
        .map(|f| {
            f.samples
                .iter()
                .filter_map(|s| Some((s.labels.get("mountpoint")?.clone(), s.value)))
                .collect()
        })
        .unwrap_or_default()
}

/// Values that cannot change between two scrapes a moment apart.
fn slow_value_problems(
    upstream: &BTreeMap<String, Family>,
    ours: &BTreeMap<String, Family>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in ["node_memory_MemTotal_bytes", "node_boot_time_seconds"] {
        let (theirs, mine) = (single(upstream, name), single(ours, name));
        if theirs.is_none() || theirs != mine {
            problems.push(format!(
                "{name}: {mine:?} here, {theirs:?} in node_exporter"
            ));
        }
    }
    let (their_cpus, my_cpus) = (cpus(upstream), cpus(ours));
    if their_cpus.is_empty() || their_cpus != my_cpus {
        problems.push(format!(
            "CPUs in node_cpu_seconds_total: {my_cpus:?} here, {their_cpus:?} in node_exporter"
        ));
    }
    let (their_fs, my_fs) = (filesystem_sizes(upstream), filesystem_sizes(ours));
    if their_fs.is_empty() || their_fs != my_fs {
        problems.push(format!("node_filesystem_size_bytes by mountpoint: {my_fs:?} here, {their_fs:?} in node_exporter"));
    }
    problems
}

#[test]
fn parity_with_node_exporter() {
    let node_exporter =
        testkit::require_command("prometheus-node-exporter", "prometheus-node-exporter");
    let textfiles = textfile_dir();
    let textfile_flag = format!(
        "--collector.textfile.directory={}",
        textfiles.path().display()
    );
    let upstream_port = free_port();
    let upstream = ServiceProcess::start(
        node_exporter,
        &[
            format!("--web.listen-address=127.0.0.1:{upstream_port}"),
            textfile_flag.clone(),
        ],
        upstream_port,
    );
    let our_port = free_port();
    let ours = ServiceProcess::start(
        env!("CARGO_BIN_EXE_host-exporter"),
        &[
            format!("--web.listen-address=127.0.0.1:{our_port}"),
            textfile_flag,
        ],
        our_port,
    );
    // Some families come and go with the host's state (an ARP entry expiring between the two
    // scrapes): a difference must persist over three rounds to count.
    let mut problems = Vec::new();
    for round in 0..3 {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let theirs = scrape(&upstream);
        let mine = scrape(&ours);
        problems = family_problems(&theirs, &mine);
        problems.extend(slow_value_problems(&theirs, &mine));
        assert!(
            mine.contains_key("batch_last_success_seconds")
                && mine.contains_key("node_textfile_mtime_seconds"),
            "textfile metrics missing; our log:\n{}",
            ours.logs()
        );
        if problems.is_empty() {
            break;
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences from node_exporter:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
