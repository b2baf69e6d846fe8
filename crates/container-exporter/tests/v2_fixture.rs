//! The cgroup v2 path end to end, on a fixture tree shaped like a pure-v2 host (files built from
//! the kernel's cgroup-v2 documentation, PSI files captured here): one container under the
//! cgroupfs driver, one under systemd's, read and turned into cAdvisor's families.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use container_exporter::families::{self, Extras, LabelPolicy};
use container_exporter::groups::Groups;
use container_stats::{CgroupVersion, ContainerInfo, ReadOptions, Roots, StatsReader};
use metrics_core::MetricSet;

fn fixture_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../container-stats/tests/fixtures/v2")
}

fn info(id: &str, name: &str, pid: Option<u32>) -> ContainerInfo {
    ContainerInfo {
        id: id.to_string(),
        name: name.to_string(),
        image: "app:1".into(),
        image_id: String::new(),
        labels: BTreeMap::from([("com.docker.compose.service".to_string(), name.to_string())]),
        pid,
        created: Some(1_700_000_000.0),
        started_at: Some(1_700_000_100.5),
        cgroup_parent: String::new(),
        upper_dir: None,
        health: Some("healthy".into()),
        paused: false,
        restart_count: 0,
    }
}

#[test]
fn pure_v2_host_gives_cadvisor_series_for_both_cgroup_drivers() {
    let root = fixture_root();
    let roots = Roots {
        sysfs: root.join("sys"),
        procfs: root.join("proc"),
    };
    let options = ReadOptions {
        processes: true,
        ..ReadOptions::default()
    };
    let reader = StatsReader::new(roots, options).unwrap();
    assert_eq!(reader.cgroup_version(), CgroupVersion::V2);
    let a = "a".repeat(64);
    let b = "b".repeat(64);
    let containers = [info(&a, "web", Some(4242)), info(&b, "db", Some(4343))];
    let host = reader.host_cpu().unwrap();
    let mut set = MetricSet::new();
    let policy = LabelPolicy {
        store_all: true,
        whitelist: vec![],
    };
    // cAdvisor's defaults plus the process group, which it leaves off by default.
    let groups = Groups::from_flags("", "process").unwrap();
    for c in &containers {
        let s = reader.read(c, host).unwrap();
        let base = families::base_labels(&s.cgroup, Some(c), &policy);
        families::container(&mut set, &base, Some(c), &s, Extras::default(), &groups);
    }
    let root_sample = reader.read_root(host).unwrap();
    families::container(
        &mut set,
        &families::base_labels("/", None, &policy),
        None,
        &root_sample,
        Extras::default(),
        &groups,
    );

    let mut text = Vec::new();
    set.encode_text(&mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let f = testkit::parse_exposition(&text).unwrap();
    let web = |family: &str| {
        f[family]
            .value(&[("name", "web")])
            .unwrap_or_else(|| panic!("{family} for web"))
    };
    let db = |family: &str| f.get(family).and_then(|fam| fam.value(&[("name", "db")]));

    // ids are the cgroup paths of each driver.
    let ids: Vec<&str> = f["container_last_seen"]
        .samples
        .iter()
        .map(|s| s.labels["id"].as_str())
        .collect();
    assert!(ids.contains(&format!("/docker/{a}").as_str()), "{ids:?}");
    assert!(
        ids.contains(&format!("/system.slice/docker-{b}.scope").as_str()),
        "{ids:?}"
    );
    assert!(ids.contains(&"/"));

    assert_eq!(
        f["container_cpu_usage_seconds_total"].value(&[("name", "web"), ("cpu", "total")]),
        Some(5.123456)
    );
    assert_eq!(web("container_cpu_user_seconds_total"), 5.0);
    assert_eq!(web("container_cpu_cfs_periods_total"), 120.0);
    assert_eq!(web("container_cpu_cfs_throttled_periods_total"), 30.0);
    assert_eq!(web("container_cpu_cfs_throttled_seconds_total"), 1.5);
    assert_eq!(web("container_spec_cpu_quota"), 50_000.0);
    assert_eq!(web("container_spec_cpu_period"), 100_000.0);
    assert_eq!(web("container_memory_usage_bytes"), 31_457_280.0);
    assert_eq!(
        web("container_memory_working_set_bytes"),
        31_457_280.0 - 4_194_304.0
    );
    assert_eq!(web("container_memory_rss"), 20_971_520.0);
    assert_eq!(web("container_memory_cache"), 8_388_608.0);
    assert_eq!(web("container_memory_max_usage_bytes"), 33_554_432.0);
    assert_eq!(web("container_spec_memory_limit_bytes"), 67_108_864.0);
    assert_eq!(web("container_memory_failcnt"), 3.0);
    assert_eq!(web("container_oom_events_total"), 1.0);
    assert_eq!(
        f["container_fs_writes_bytes_total"].value(&[("name", "web"), ("device", "8:16")]),
        Some(314_773_504.0)
    );
    assert_eq!(
        f["container_fs_reads_total"].value(&[("name", "web"), ("device", "8:16")]),
        Some(192.0)
    );
    // io.stat carries bytes and requests per operation, and nothing else: no time, merged or
    // queued series (cAdvisor would export 0 for them).
    assert_eq!(
        f["container_blkio_device_usage_total"].value(&[
            ("name", "web"),
            ("device", "8:16"),
            ("major", "8"),
            ("minor", "16"),
            ("operation", "Write")
        ]),
        Some(314_773_504.0)
    );
    for family in [
        "container_fs_read_seconds_total",
        "container_fs_io_time_seconds_total",
        "container_fs_reads_merged_total",
        "container_fs_io_current",
        "container_fs_io_cost_usage_seconds_total",
    ] {
        assert!(
            !f.contains_key(family),
            "{family} has no source on v2 without iocost"
        );
    }
    // v2's memory.stat and memory.events keys that v1 lacks.
    assert_eq!(web("container_memory_kernel_usage"), 1_048_576.0);
    assert_eq!(web("container_memory_file_dirty_bytes"), 0.0);
    assert_eq!(web("container_memory_pgscan_total"), 100.0);
    assert_eq!(web("container_memory_pgsteal_total"), 90.0);
    assert_eq!(web("container_memory_workingset_refault_file_total"), 0.0);
    assert_eq!(web("container_memory_events_max_total"), 3.0);
    assert_eq!(web("container_memory_events_high_total"), 0.0);
    assert_eq!(f["container_memory_failcnt"].kind, "counter");
    assert_eq!(web("container_cpu_cfs_burst_periods_total"), 0.0);
    assert_eq!(web("container_processes"), 2.0);
    assert_eq!(web("container_threads"), 3.0);
    assert_eq!(web("container_threads_max"), 100.0);
    assert_eq!(
        web("container_pressure_cpu_waiting_seconds_total"),
        3.110032
    );
    assert_eq!(
        web("container_pressure_cpu_stalled_seconds_total"),
        3.109017
    );
    assert_eq!(web("container_start_time_seconds"), 1_700_000_100.0);
    assert_eq!(web("container_health_state"), 1.0);
    assert_eq!(
        f["container_network_receive_bytes_total"].value(&[("name", "web"), ("interface", "eth0")]),
        Some(806.0)
    );

    // The systemd-driver container: no quota, so no CFS series; unlimited memory exports 0.
    assert_eq!(db("container_cpu_cfs_periods_total"), None);
    assert_eq!(db("container_spec_cpu_quota"), None);
    assert_eq!(db("container_spec_memory_limit_bytes"), Some(0.0));
    assert_eq!(db("container_spec_cpu_shares"), Some(2597.0));
    assert_eq!(db("container_memory_usage_bytes"), Some(10_485_760.0));
    assert_eq!(db("container_threads_max"), Some(0.0));
    assert_eq!(
        f["container_network_transmit_bytes_total"].value(&[("name", "db"), ("interface", "eth1")]),
        Some(4000.0)
    );
    // cpu.pressure only: no memory or io pressure series for it.
    assert_eq!(db("container_pressure_memory_waiting_seconds_total"), None);
    assert_eq!(
        db("container_pressure_cpu_stalled_seconds_total"),
        Some(1.25)
    );

    // The root cgroup of a v2 host has no memory.current: usage comes from memory.stat.
    assert_eq!(
        f["container_memory_usage_bytes"].value(&[("id", "/")]),
        Some(1_073_741_824.0 + 2_147_483_648.0)
    );
    assert_eq!(
        f["container_cpu_usage_seconds_total"].value(&[("id", "/"), ("cpu", "total")]),
        Some(987_654.321)
    );

    let complaints = common::promtool_complaints(&text);
    assert!(complaints.is_empty(), "promtool: {complaints}");
}
