//! `promtool check metrics` on our output. node_exporter's own names (`node_memory_MemTotal_bytes`,
//! `node_netstat_Tcp_InSegs`, `node_entropy_available_bits`) break two of promtool's naming lints,
//! and we must keep them for compatibility; so the test allows exactly the complaints that
//! node_exporter gets for the same names, today's (1.9.0) or Debian 12's (1.5.0, whose
//! `/proc/meminfo` families we keep), and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::collections::BTreeSet;

mod common;

use testkit::{free_port, promtool_check_metrics, ServiceProcess};

fn complaints(text: &str) -> BTreeSet<String> {
    promtool_check_metrics(text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn scrape(port: u16) -> String {
    let response = testkit::get(&format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(response.status, 200, "{}", response.body);
    response.body
}

#[test]
fn promtool_check_metrics_is_clean() {
    let (current, _version) = common::current_node_exporter();
    let debian_12 =
        testkit::require_command("prometheus-node-exporter", "prometheus-node-exporter");
    let our_port = free_port();
    let _ours = ServiceProcess::start(
        env!("CARGO_BIN_EXE_host-exporter"),
        &[format!("--web.listen-address=127.0.0.1:{our_port}")],
        our_port,
    );
    let ours = complaints(&scrape(our_port));
    let mut inherited = BTreeSet::new();
    for node_exporter in [current, debian_12] {
        let port = free_port();
        let _upstream = ServiceProcess::start(
            node_exporter,
            &[format!("--web.listen-address=127.0.0.1:{port}")],
            port,
        );
        inherited.extend(complaints(&scrape(port)));
    }
    let own: Vec<&String> = ours.difference(&inherited).collect();
    assert!(
        own.is_empty(),
        "promtool complaints that node_exporter does not get:\n{own:#?}"
    );
    for complaint in &ours {
        assert!(
            complaint.contains("camelCase") || complaint.contains("base unit"),
            "unexpected kind of promtool complaint: {complaint}"
        );
    }
}
