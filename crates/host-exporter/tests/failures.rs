//! Bad input and broken hosts: a collector whose files are missing fails alone, and the
//! `collect[]` / `exclude[]` parameters select collectors or are refused with a 400.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::{free_port, parse_exposition, ServiceProcess};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture");
        }
    }
}

fn start(args: &[String]) -> ServiceProcess {
    let port = free_port();
    let mut all = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    all.extend_from_slice(args);
    ServiceProcess::start(env!("CARGO_BIN_EXE_host-exporter"), &all, port)
}

fn success(text: &str, collector: &str) -> Option<f64> {
    let families = parse_exposition(text).expect("valid exposition");
    families
        .get("node_scrape_collector_success")?
        .value(&[("collector", collector)])
}

#[test]
fn missing_proc_files_fail_only_their_collector() {
    let proc = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures().join("proc"), proc.path());
    std::fs::remove_file(proc.path().join("meminfo")).expect("make a hole");
    let exporter = start(&[format!("--path.procfs={}", proc.path().display())]);
    let response = testkit::get(&exporter.url("/metrics"));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        success(&response.body, "meminfo"),
        Some(0.0),
        "{}",
        response.body
    );
    for healthy in [
        "cpu",
        "stat",
        "loadavg",
        "diskstats",
        "vmstat",
        "netstat",
        "sockstat",
        "filefd",
    ] {
        assert_eq!(
            success(&response.body, healthy),
            Some(1.0),
            "{healthy} should still work"
        );
    }
    assert!(
        !response.body.contains("node_memory_"),
        "no partial meminfo samples"
    );
    assert!(response
        .body
        .contains("node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"}"));
    // One clear line naming the collector and the file, and only one over several scrapes.
    testkit::get(&exporter.url("/metrics"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let logs = loop {
        let logs = exporter.logs();
        if logs.contains("collector failed") || Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let failures: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("collector failed"))
        .collect();
    assert_eq!(failures.len(), 1, "expected one log line, got:\n{logs}");
    assert!(failures[0].contains("meminfo"), "{}", failures[0]);
    assert!(
        failures[0].contains(&proc.path().join("meminfo").display().to_string()),
        "{}",
        failures[0]
    );
}

#[test]
fn unknown_collect_param_is_400() {
    let exporter = start(&[]);
    let response = testkit::get(&exporter.url("/metrics?collect[]=cpu&collect[]=nosuchcollector"));
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(
        response.body.contains("nosuchcollector"),
        "{}",
        response.body
    );
}

#[test]
fn disabled_collect_param_is_400() {
    let exporter = start(&["--no-collector.meminfo".to_string()]);
    let response = testkit::get(&exporter.url("/metrics?collect%5B%5D=meminfo"));
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(
        response.body.contains("disabled collector: meminfo"),
        "{}",
        response.body
    );
}

#[test]
fn collect_param_runs_only_the_named_collectors() {
    let exporter = start(&[]);
    let response = testkit::get(&exporter.url("/metrics?collect%5B%5D=cpu&collect%5B%5D=meminfo"));
    assert_eq!(response.status, 200, "{}", response.body);
    let families = parse_exposition(&response.body).expect("valid exposition");
    let ran: Vec<String> = families["node_scrape_collector_success"]
        .samples
        .iter()
        .filter_map(|s| s.labels.get("collector").cloned())
        .collect();
    assert_eq!(ran, vec!["cpu", "meminfo"]);
    assert!(families.contains_key("node_cpu_seconds_total"));
    assert!(families.contains_key("node_memory_MemTotal_bytes"));
    assert!(!families.contains_key("node_load1"));
    assert!(!families.contains_key("node_network_up"));
    // Without the parameter every enabled collector runs.
    let all = testkit::get(&exporter.url("/metrics"));
    assert!(all.body.contains("node_load1 "), "{}", all.body);
}

#[test]
fn disabled_collectors_do_not_run() {
    let exporter = start(&[
        "--no-collector.netclass".to_string(),
        "--no-collector.loadavg".to_string(),
    ]);
    let body = testkit::get(&exporter.url("/metrics")).body;
    assert_eq!(success(&body, "netclass"), None);
    assert!(!body.contains("node_load1"));
    assert!(!body.contains("node_network_iface_id"));
    assert!(
        body.contains("node_network_receive_bytes_total"),
        "netdev still runs"
    );
}

#[test]
fn disable_defaults_runs_only_the_collectors_enabled_explicitly() {
    let exporter = start(&[
        "--collector.disable-defaults".to_string(),
        "--collector.loadavg".to_string(),
        "--collector.meminfo".to_string(),
    ]);
    let body = testkit::get(&exporter.url("/metrics")).body;
    assert_eq!(collectors_that_ran(&body), ["loadavg", "meminfo"]);
    assert!(body.contains("node_load1 "), "{body}");
    assert!(body.contains("node_memory_MemTotal_bytes "), "{body}");
    assert!(!body.contains("node_cpu_seconds_total"), "{body}");
    // Nothing enabled: only the exporter's own families.
    let none = start(&["--collector.disable-defaults".to_string()]);
    let body = testkit::get(&none.url("/metrics")).body;
    assert!(!body.contains("node_scrape_collector_success{"), "{body}");
    assert!(body.contains("node_exporter_build_info"), "{body}");
}

#[test]
fn conflicting_or_broken_filters_exit_with_code_2() {
    let bin = env!("CARGO_BIN_EXE_host-exporter");
    for args in [
        vec![
            "--collector.netdev.device-include=^eth",
            "--collector.netdev.device-exclude=^lo$",
        ],
        vec!["--collector.filesystem.mount-points-exclude=("],
        vec!["--collector.nosuchthing"],
        vec!["--collector.ipvs.backend-labels=local_address,bogus"],
    ] {
        let out = std::process::Command::new(bin)
            .args(&args)
            .output()
            .expect("run host-exporter");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} must say what is wrong");
    }
}

fn collectors_that_ran(body: &str) -> Vec<String> {
    let families = parse_exposition(body).expect("valid exposition");
    families["node_scrape_collector_success"]
        .samples
        .iter()
        .filter_map(|s| s.labels.get("collector").cloned())
        .collect()
}

#[test]
fn exclude_param_runs_every_enabled_collector_but_the_named_ones() {
    let exporter = start(&[]);
    let all = collectors_that_ran(&testkit::get(&exporter.url("/metrics")).body);
    let response = testkit::get(
        &exporter
            .url("/metrics?exclude%5B%5D=cpu&exclude%5B%5D=loadavg&exclude%5B%5D=nosuchcollector"),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let ran = collectors_that_ran(&response.body);
    let expected: Vec<String> = all
        .iter()
        .filter(|c| *c != "cpu" && *c != "loadavg")
        .cloned()
        .collect();
    assert_eq!(ran, expected);
    assert!(!response.body.contains("node_load1 "));
    assert!(response.body.contains("node_memory_MemTotal_bytes "));
}

#[test]
fn collect_and_exclude_together_are_400() {
    let exporter = start(&[]);
    let response = testkit::get(&exporter.url("/metrics?collect%5B%5D=cpu&exclude%5B%5D=meminfo"));
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.body.contains("exclude"), "{}", response.body);
}

/// Concurrent scrapes share one collection only when they ask for the same collectors: each
/// answer must carry exactly what its own `collect[]` asked for.
#[test]
fn concurrent_scrapes_with_different_collectors_get_their_own() {
    let exporter = start(&[]);
    let url = |collector: &str| exporter.url(&format!("/metrics?collect%5B%5D={collector}"));
    let (cpu_url, meminfo_url) = (url("cpu"), url("meminfo"));
    for _ in 0..5 {
        let answers: Vec<(&str, testkit::Response)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (name, url) = if i % 2 == 0 {
                        ("cpu", &cpu_url)
                    } else {
                        ("meminfo", &meminfo_url)
                    };
                    s.spawn(move || (name, testkit::get(url)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (name, response) in answers {
            assert_eq!(response.status, 200, "{}", response.body);
            assert_eq!(collectors_that_ran(&response.body), vec![name.to_string()]);
        }
    }
}
