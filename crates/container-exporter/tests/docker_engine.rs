//! Against the real Docker engine (cgroup v1 here): our series checked against the cgroup files
//! and `docker stats` for containers with known limits and load. Needs Docker; each test fails
//! with a clear message when the daemon is not reachable.

mod common;

use std::time::{Duration, Instant};

use common::{docker_stats, exporter, scrape, scrape_until, value, Container};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn docker_cpu_rate_and_limits_match_cgroupfs_and_docker_stats() {
    common::require_docker();
    let burner = Container::run(&["--cpus", "0.5", "-m", "64m"], "while :; do :; done");
    let exp = exporter(&[]);
    let name = burner.name.as_str();
    scrape_until(&exp, WAIT, "the burner", |f| {
        value(
            f,
            "container_cpu_usage_seconds_total",
            name,
            &[("cpu", "total")],
        )
        .is_some()
    });
    // Our counter, bracketed by reads of the cgroup file just before and just after the scrape:
    // it must lie between them (the exporter reads the same file in between).
    let bracketed = || {
        let before = burner.cgroup_u64("cpuacct", "cpuacct.usage") as f64 / 1e9;
        let at = Instant::now();
        let (_, f) = scrape(&exp);
        let after = burner.cgroup_u64("cpuacct", "cpuacct.usage") as f64 / 1e9;
        let ours = value(
            &f,
            "container_cpu_usage_seconds_total",
            name,
            &[("cpu", "total")],
        )
        .unwrap();
        assert!(
            before <= ours + 1e-9 && ours <= after + 1e-9,
            "{before} <= {ours} <= {after}"
        );
        (at, ours, f)
    };
    let (t0, ours0, _) = bracketed();
    // docker stats takes two samples about a second apart; our window brackets its run.
    let (docker_cpu, _, _, _) = docker_stats(name);
    // A window of several seconds keeps scrape-latency jitter below a percentage point.
    std::thread::sleep(Duration::from_secs(3));
    let (t1, ours1, second) = bracketed();
    let our_percent = (ours1 - ours0) / (t1 - t0).as_secs_f64() * 100.0;
    // The quota holds the loop at 50 % of a core unless the machine is too busy to give it that,
    // in which case both windows see the same shortfall only roughly: compare closely when the
    // loop got its share, loosely otherwise.
    // docker stats' own window is only about a second, and CFS lets a quota-bound loop run up
    // to one period (100 ms) over in such a window: it read 52.6 % on a CI run where ours, over
    // 3+ s, read 50.3 %. Hence 3.5 points rather than 2 when the loop got its share.
    let tolerance = if our_percent > 45.0 { 3.5 } else { 8.0 };
    assert!(
        (our_percent - docker_cpu).abs() < tolerance,
        "ours {our_percent:.2}% vs docker stats {docker_cpu:.2}% (tolerance {tolerance})"
    );
    assert!(
        our_percent < 53.0,
        "a busy loop under --cpus 0.5 runs at most at 50%, we saw {our_percent:.2}%"
    );

    // Limits exactly as set.
    assert_eq!(
        value(&second, "container_spec_cpu_quota", name, &[]),
        Some(50_000.0)
    );
    assert_eq!(
        value(&second, "container_spec_cpu_period", name, &[]),
        Some(100_000.0)
    );
    assert_eq!(
        value(&second, "container_spec_memory_limit_bytes", name, &[]),
        Some(67_108_864.0)
    );
    // CFS counters are those of the cgroup (throttling itself depends on how busy the host is).
    let periods = value(&second, "container_cpu_cfs_periods_total", name, &[]).unwrap();
    let throttled = value(
        &second,
        "container_cpu_cfs_throttled_periods_total",
        name,
        &[],
    )
    .unwrap();
    let cpu_stat = burner.cgroup_file("cpu", "cpu.stat");
    let file_stat = |key: &str| -> f64 {
        cpu_stat
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap()
    };
    assert!(
        periods > 0.0 && periods <= file_stat("nr_periods "),
        "{periods} vs {cpu_stat}"
    );
    assert!(
        throttled <= file_stat("nr_throttled "),
        "{throttled} vs {cpu_stat}"
    );
    assert_eq!(
        value(&second, "container_label_clustermon_test", name, &[]),
        None,
        "labels are labels, not families"
    );
    let usage = &second["container_cpu_usage_seconds_total"];
    let sample = usage
        .samples
        .iter()
        .find(|s| s.labels.get("name").map(String::as_str) == Some(name))
        .unwrap();
    assert_eq!(sample.labels["container_label_clustermon_test"], "1");
    assert_eq!(sample.labels["id"], burner.cgroup_id());
    assert_eq!(sample.labels["image"], testkit::docker::TEST_IMAGE);
}

#[test]
fn docker_memory_matches_cgroupfs_and_docker_stats() {
    common::require_docker();
    // 40 MiB in /dev/shm is charged to the container and cannot be reclaimed.
    let hog = Container::run(
        &["-m", "64m"],
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; sleep 600",
    );
    let exp = exporter(&[]);
    let name = hog.name.as_str();
    // Wait until dd has finished (sh has exec'd sleep: one process left), so usage is stable.
    let families = scrape_until(&exp, WAIT, "the memory hog after dd exits", |f| {
        value(f, "container_memory_usage_bytes", name, &[]).is_some_and(|v| v > 40e6)
            && value(f, "container_processes", name, &[]) == Some(1.0)
    });
    let ours = value(&families, "container_memory_usage_bytes", name, &[]).unwrap();
    let file = hog.cgroup_u64("memory", "memory.usage_in_bytes") as f64;
    assert!(
        (ours - file).abs() / file < 0.02,
        "ours {ours} vs cgroupfs {file}"
    );
    // docker stats shows usage less inactive file pages: our working set.
    let (_, docker_used, _, _) = docker_stats(name);
    let working_set = value(&families, "container_memory_working_set_bytes", name, &[]).unwrap();
    assert!(
        (working_set - docker_used).abs() / docker_used < 0.02,
        "working set {working_set} vs docker stats {docker_used}"
    );
    assert_eq!(
        value(&families, "container_spec_memory_limit_bytes", name, &[]),
        Some(67_108_864.0)
    );
    let cache = value(&families, "container_memory_cache", name, &[]).unwrap();
    assert!(
        cache >= 40.0 * 1024.0 * 1024.0,
        "shm pages are page cache: {cache}"
    );
    let procs = hog.cgroup_file("pids", "cgroup.procs").lines().count() as f64;
    assert_eq!(
        value(&families, "container_processes", name, &[]),
        Some(procs),
        "container_processes vs the cgroup's cgroup.procs"
    );
}

#[test]
fn docker_network_counters_grow_by_what_was_sent() {
    common::require_docker();
    let server = Container::run(
        &[],
        "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=1024 2>/dev/null && httpd -f -p 8080 -h /www",
    );
    let client = Container::run(&[], "sleep 600");
    let ip = server.inspect("{{.NetworkSettings.IPAddress}}");
    assert!(
        !ip.is_empty(),
        "server has no address on the default bridge"
    );
    let exp = exporter(&[]);
    let (server_name, client_name) = (server.name.as_str(), client.name.as_str());
    let before = scrape_until(&exp, WAIT, "both containers", |f| {
        value(
            f,
            "container_network_transmit_bytes_total",
            server_name,
            &[("interface", "eth0")],
        )
        .is_some()
            && value(
                f,
                "container_network_receive_bytes_total",
                client_name,
                &[("interface", "eth0")],
            )
            .is_some()
    });
    let sent_before = value(
        &before,
        "container_network_transmit_bytes_total",
        server_name,
        &[("interface", "eth0")],
    )
    .unwrap();
    let recv_before = value(
        &before,
        "container_network_receive_bytes_total",
        client_name,
        &[("interface", "eth0")],
    )
    .unwrap();
    // Wait for httpd to listen, then fetch 1 MiB three times.
    let fetch = format!(
        "for i in 1 2 3; do timeout 10 wget -q -O /dev/null http://{ip}:8080/big || exit 1; done"
    );
    let start = Instant::now();
    while Command::new("docker")
        .args(["exec", &client.id, "sh", "-c", &fetch])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(start.elapsed() < WAIT, "cannot fetch from the test httpd");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, after) = scrape(&exp);
    let sent = value(
        &after,
        "container_network_transmit_bytes_total",
        server_name,
        &[("interface", "eth0")],
    )
    .unwrap()
        - sent_before;
    let received = value(
        &after,
        "container_network_receive_bytes_total",
        client_name,
        &[("interface", "eth0")],
    )
    .unwrap()
        - recv_before;
    let payload = 3.0 * 1024.0 * 1024.0;
    assert!(
        sent >= payload && sent < payload * 1.2,
        "server sent {sent} bytes for {payload} of payload"
    );
    assert!(
        received >= payload && received < payload * 1.2,
        "client received {received} bytes for {payload} of payload"
    );
    let packets = value(
        &after,
        "container_network_receive_packets_total",
        client_name,
        &[("interface", "eth0")],
    )
    .unwrap();
    assert!(packets > 100.0, "{packets}");
    // No loopback series.
    assert_eq!(
        value(
            &after,
            "container_network_receive_bytes_total",
            client_name,
            &[("interface", "lo")]
        ),
        None
    );
}

use std::process::Command;

#[test]
fn docker_block_io_and_writable_layer_match_the_kernel() {
    common::require_docker();
    let writer = Container::run(
        &[],
        "dd if=/dev/zero of=/data bs=1M count=8 2>/dev/null; sync; sleep 600",
    );
    let exp = exporter(&["--housekeeping_interval=1s"]);
    let name = writer.name.as_str();
    let families = scrape_until(&exp, WAIT, "the writable layer size", |f| {
        value(f, "container_fs_usage_bytes", name, &[]).is_some_and(|v| v >= 8.0 * 1024.0 * 1024.0)
    });
    let layer = value(&families, "container_fs_usage_bytes", name, &[]).unwrap();
    assert!(
        layer < 9.5 * 1024.0 * 1024.0,
        "8 MiB written, layer counted {layer}"
    );
    // Block I/O: this kernel accounts none to containers (fuse-overlayfs and virtio here), so the
    // check is that we report exactly what the cgroup files and docker stats report.
    let file = writer.cgroup_file("blkio", "blkio.throttle.io_service_bytes_recursive");
    let file_written: f64 = file
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("Write"))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok())
        .sum();
    let ours_written: f64 = families
        .get("container_fs_writes_bytes_total")
        .map(|f| {
            f.samples
                .iter()
                .filter(|s| s.labels.get("name").map(String::as_str) == Some(name))
                .map(|s| s.value)
                .sum()
        })
        .unwrap_or(0.0);
    assert_eq!(ours_written, file_written);
    let (_, _, _, docker_written) = docker_stats(name);
    assert!(
        (ours_written - docker_written).abs() <= docker_written * 0.02 + 1.0,
        "ours {ours_written} vs docker stats {docker_written}"
    );
}

#[test]
fn docker_stopped_container_disappears_from_the_next_scrape() {
    common::require_docker();
    let short = Container::run(&[], "sleep 600");
    let exp = exporter(&[]);
    let name = short.name.clone();
    scrape_until(&exp, WAIT, "the container", |f| {
        value(f, "container_last_seen", &name, &[]).is_some()
    });
    short.stop();
    let (body, _) = scrape(&exp);
    assert!(
        !body.contains(&format!("name=\"{name}\"")),
        "stopped container still scraped"
    );
}

#[test]
fn docker_families_and_labels_that_dashboards_query_are_present_and_promtool_clean() {
    common::require_docker();
    let c = Container::run(
        &[
            "--cpus",
            "0.2",
            "-m",
            "32m",
            "--label",
            "com.docker.compose.service=web",
        ],
        "sleep 600",
    );
    let exp = exporter(&[]);
    let name = c.name.as_str();
    scrape_until(&exp, WAIT, "the container", |f| {
        value(f, "container_last_seen", name, &[]).is_some()
    });
    let (body, families) = scrape(&exp);
    let complaints = testkit::promtool_check_metrics(&body);
    assert!(complaints.is_empty(), "promtool: {complaints}");
    // (family, type, label names beyond the container's own) as cAdvisor defines them.
    let expected: &[(&str, &str, &[&str])] = &[
        ("container_cpu_usage_seconds_total", "counter", &["cpu"]),
        ("container_cpu_user_seconds_total", "counter", &[]),
        ("container_cpu_system_seconds_total", "counter", &[]),
        ("container_cpu_cfs_periods_total", "counter", &[]),
        ("container_cpu_cfs_throttled_periods_total", "counter", &[]),
        ("container_cpu_cfs_throttled_seconds_total", "counter", &[]),
        ("container_memory_usage_bytes", "gauge", &[]),
        ("container_memory_working_set_bytes", "gauge", &[]),
        ("container_memory_rss", "gauge", &[]),
        ("container_memory_cache", "gauge", &[]),
        ("container_memory_swap", "gauge", &[]),
        ("container_memory_mapped_file", "gauge", &[]),
        ("container_memory_max_usage_bytes", "gauge", &[]),
        ("container_memory_failcnt", "untyped", &[]),
        (
            "container_memory_failures_total",
            "counter",
            &["failure_type", "scope"],
        ),
        ("container_oom_events_total", "counter", &[]),
        ("container_spec_memory_limit_bytes", "gauge", &[]),
        (
            "container_spec_memory_reservation_limit_bytes",
            "gauge",
            &[],
        ),
        ("container_spec_memory_swap_limit_bytes", "gauge", &[]),
        ("container_spec_cpu_quota", "gauge", &[]),
        ("container_spec_cpu_period", "gauge", &[]),
        ("container_spec_cpu_shares", "gauge", &[]),
        (
            "container_network_receive_bytes_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_transmit_bytes_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_receive_packets_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_transmit_packets_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_receive_errors_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_transmit_errors_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_receive_packets_dropped_total",
            "counter",
            &["interface"],
        ),
        (
            "container_network_transmit_packets_dropped_total",
            "counter",
            &["interface"],
        ),
        ("container_processes", "gauge", &[]),
        ("container_threads", "gauge", &[]),
        ("container_file_descriptors", "gauge", &[]),
        (
            "container_pressure_cpu_waiting_seconds_total",
            "counter",
            &[],
        ),
        (
            "container_pressure_cpu_stalled_seconds_total",
            "counter",
            &[],
        ),
        (
            "container_pressure_memory_waiting_seconds_total",
            "counter",
            &[],
        ),
        (
            "container_pressure_io_waiting_seconds_total",
            "counter",
            &[],
        ),
        ("container_last_seen", "gauge", &[]),
        ("container_start_time_seconds", "gauge", &[]),
    ];
    for (family, kind, extra) in expected {
        let f = families
            .get(*family)
            .unwrap_or_else(|| panic!("{family} missing"));
        assert_eq!(f.kind, *kind, "{family}");
        let sample = f
            .samples
            .iter()
            .find(|s| s.labels.get("name").map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("{family} has no series for the test container"));
        let mut want: Vec<&str> = vec![
            "id",
            "image",
            "name",
            "container_label_clustermon_test",
            "container_label_com_docker_compose_service",
        ];
        want.extend_from_slice(extra);
        want.sort();
        let mut got: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, want, "{family}");
    }
    // The seed's queries: a rate over container CPU by name, memory over its limit.
    assert_eq!(
        value(&families, "container_spec_memory_limit_bytes", name, &[]),
        Some(33_554_432.0)
    );
    assert!(value(&families, "container_memory_usage_bytes", name, &[]).unwrap() > 0.0);
    // The host's root cgroup and the machine.
    assert!(families["container_cpu_usage_seconds_total"]
        .value(&[("id", "/"), ("cpu", "total")])
        .is_some());
    assert!(families["machine_cpu_cores"].samples[0].value >= 1.0);
    assert!(families["machine_memory_bytes"].samples[0].value > 1e8);
    assert_eq!(
        families["container_exporter_docker_up"].samples[0].value,
        1.0
    );
    // A container carries only its own labels: the root has no container_label_* padding.
    let root = families["container_memory_usage_bytes"]
        .samples
        .iter()
        .find(|s| s.labels["id"] == "/")
        .unwrap();
    assert_eq!(root.labels.keys().collect::<Vec<_>>(), vec!["id"]);
}

#[test]
fn docker_percpu_series_when_enabled() {
    common::require_docker();
    let c = Container::run(&["--cpus", "0.3"], "while :; do :; done");
    let exp = exporter(&["--enable_metrics=percpu"]);
    let name = c.name.as_str();
    let families = scrape_until(&exp, WAIT, "per-CPU usage", |f| {
        f.get("container_cpu_usage_seconds_total")
            .is_some_and(|fam| {
                fam.samples.iter().any(|s| {
                    s.labels.get("name").map(String::as_str) == Some(name)
                        && s.labels["cpu"].starts_with("cpu0")
                })
            })
    });
    let fam = &families["container_cpu_usage_seconds_total"];
    assert!(!fam
        .samples
        .iter()
        .any(|s| s.labels.get("name").map(String::as_str) == Some(name)
            && s.labels["cpu"] == "total"));
}
