//! The INFO parser and metric mapping on `INFO ALL` answers captured from Debian's redis-server
//! 7.0.15: a primary with one replica, keys in three databases, a slow EVAL, failed commands;
//! and that replica. No Redis needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use metrics_core::MetricSet;
use redis_exporter::snapshot::{
    self, CommandHistogram, KeyStat, LatencySpike, Naming, SlowlogEntry, Snapshot,
};
use testkit::Family;

const MASTER: &str = include_str!("fixtures/info-all-redis-7.0-master.txt");
const REPLICA: &str = include_str!("fixtures/info-all-redis-7.0-replica.txt");
const NOW: f64 = 1_795_569_000.0;

fn naming(namespace: &str, include_system_metrics: bool) -> Naming {
    Naming {
        namespace: namespace.into(),
        include_system_metrics,
    }
}

fn render(snapshot: &Snapshot, naming: &Naming) -> (String, BTreeMap<String, Family>) {
    let mut set = MetricSet::new();
    snapshot::write_metrics(snapshot, naming, NOW, &mut set);
    let mut buf = Vec::new();
    set.encode_text(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let families = testkit::parse_exposition(&text).unwrap();
    (text, families)
}

fn info_only(info: &str) -> Snapshot {
    Snapshot {
        info: info.to_string(),
        ..Snapshot::default()
    }
}

fn value(f: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> f64 {
    f.get(name)
        .unwrap_or_else(|| panic!("no family {name}"))
        .value(labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

#[test]
fn primary_plain_fields_are_renamed_typed_and_scaled_like_redis_exporter() {
    let (_, f) = render(&info_only(MASTER), &naming("redis", false));
    assert_eq!(value(&f, "redis_memory_used_bytes", &[]), 1_505_680.0);
    assert_eq!(f["redis_memory_used_bytes"].kind, "gauge");
    assert_eq!(value(&f, "redis_uptime_in_seconds", &[]), 153.0);
    assert_eq!(value(&f, "redis_start_time_seconds", &[]), NOW - 153.0);
    assert_eq!(value(&f, "redis_process_id", &[]), 12289.0);
    assert_eq!(
        value(&f, "redis_rdb_last_bgsave_status", &[]),
        1.0,
        "ok is 1"
    );
    assert_eq!(value(&f, "redis_latest_fork_seconds", &[]), 0.000827);
    assert_eq!(f["redis_commands_processed_total"].kind, "counter");
    assert_eq!(f["redis_expired_time_cap_reached_total"].kind, "counter");
    assert_eq!(f["redis_cpu_user_seconds_total"].kind, "counter");
    assert_eq!(value(&f, "redis_cluster_enabled", &[]), 0.0);
    // Human-readable duplicates and unmapped fields are not exported.
    assert!(!f.contains_key("redis_used_memory_human"));
    assert!(!f.contains_key("redis_instantaneous_ops_per_sec"));
    assert!(
        !f.contains_key("redis_total_system_memory_bytes"),
        "only with --include-system-metrics"
    );
    let (_, with_system) = render(&info_only(MASTER), &naming("redis", true));
    assert_eq!(
        value(&with_system, "redis_total_system_memory_bytes", &[]),
        25_276_063_744.0
    );
}

#[test]
fn keyspace_is_per_db_and_padded_to_the_database_count() {
    let mut snap = info_only(MASTER);
    snap.config = vec![("databases".into(), "4".into())];
    let (_, f) = render(&snap, &naming("redis", false));
    assert_eq!(value(&f, "redis_db_keys", &[("db", "db0")]), 3.0);
    assert_eq!(value(&f, "redis_db_keys", &[("db", "db1")]), 0.0);
    assert_eq!(value(&f, "redis_db_keys_expiring", &[("db", "db2")]), 1.0);
    assert_eq!(
        value(&f, "redis_db_avg_ttl_seconds", &[("db", "db2")]),
        850.988
    );
    assert_eq!(f["redis_db_keys"].samples.len(), 4);
    assert!(
        f["redis_db_avg_ttl_seconds"]
            .value(&[("db", "db1")])
            .is_none(),
        "no TTL for empty dbs"
    );
    // Without CONFIG, Redis' default of 16 databases.
    let (_, f) = render(&info_only(MASTER), &naming("redis", false));
    assert_eq!(f["redis_db_keys"].samples.len(), 16);
}

#[test]
fn command_error_and_latency_stats() {
    let (_, f) = render(&info_only(MASTER), &naming("redis", false));
    assert_eq!(value(&f, "redis_commands_total", &[("cmd", "set")]), 3.0);
    assert_eq!(
        value(
            &f,
            "redis_commands_duration_seconds_total",
            &[("cmd", "eval")]
        ),
        0.015233
    );
    assert_eq!(
        value(&f, "redis_commands_failed_calls_total", &[("cmd", "set")]),
        0.0
    );
    assert_eq!(f["redis_commands_rejected_calls_total"].kind, "counter");
    assert_eq!(value(&f, "redis_errors_total", &[("err", "ERR")]), 3.0);
    assert_eq!(
        value(&f, "redis_errors_total", &[("err", "WRONGTYPE")]),
        2.0
    );

    let latency = &f["redis_latency_percentiles_usec"];
    assert_eq!(latency.kind, "summary");
    assert_eq!(
        latency.value(&[("cmd", "set"), ("quantile", "50")]),
        Some(7.007)
    );
    assert_eq!(
        latency.value(&[("cmd", "set"), ("quantile", "99.9")]),
        Some(9.023)
    );
    let count = latency
        .samples
        .iter()
        .find(|s| s.name.ends_with("_count") && s.labels["cmd"] == "set")
        .unwrap();
    assert_eq!(count.value, 3.0, "count is the command's calls");
    let sum = latency
        .samples
        .iter()
        .find(|s| s.name.ends_with("_sum") && s.labels["cmd"] == "set")
        .unwrap();
    assert_eq!(sum.value, 21.0, "sum is the command's usec");
}

#[test]
fn primary_reports_its_replica_and_instance_info() {
    let (_, f) = render(&info_only(MASTER), &naming("redis", false));
    let replica = [
        ("slave_ip", "127.0.0.1"),
        ("slave_port", "16380"),
        ("slave_state", "online"),
    ];
    assert_eq!(
        value(&f, "redis_connected_slave_offset_bytes", &replica),
        129.0
    );
    assert_eq!(
        value(&f, "redis_connected_slave_lag_seconds", &replica),
        1.0
    );
    assert_eq!(value(&f, "redis_connected_slaves", &[]), 1.0);
    let info = &f["redis_instance_info"];
    assert_eq!(
        info.label_names().into_iter().collect::<Vec<_>>(),
        [
            "master_replid",
            "maxmemory_policy",
            "os",
            "process_id",
            "redis_build_id",
            "redis_mode",
            "redis_version",
            "role",
            "run_id",
            "tcp_port"
        ]
    );
    assert_eq!(
        info.value(&[
            ("role", "master"),
            ("redis_version", "7.0.15"),
            ("redis_mode", "standalone"),
            ("master_replid", "c415644341dd14bb2893190f8e61152f1e2d0734")
        ]),
        Some(1.0)
    );
    assert_eq!(value(&f, "redis_hz", &[]), 10.0);
    assert_eq!(value(&f, "redis_configured_hz", &[]), 10.0);
    assert!(!f.contains_key("redis_slave_info"));
}

#[test]
fn replica_reports_its_master_link() {
    let (_, f) = render(&info_only(REPLICA), &naming("redis", false));
    let master = [("master_host", "127.0.0.1"), ("master_port", "16379")];
    assert_eq!(value(&f, "redis_master_link_up", &master), 1.0);
    assert_eq!(value(&f, "redis_master_last_io_seconds_ago", &master), 3.0);
    assert_eq!(value(&f, "redis_master_sync_in_progress", &master), 0.0);
    assert_eq!(value(&f, "redis_slave_repl_offset", &master), 129.0);
    assert_eq!(value(&f, "redis_slave_priority", &[]), 100.0);
    assert_eq!(
        value(
            &f,
            "redis_slave_info",
            &[
                ("master_host", "127.0.0.1"),
                ("master_port", "16379"),
                ("read_only", "1")
            ]
        ),
        1.0
    );
    assert_eq!(
        f["redis_instance_info"].value(&[("role", "slave")]),
        Some(1.0)
    );
}

#[test]
fn config_slowlog_latency_and_keys() {
    let snap = Snapshot {
        info: MASTER.to_string(),
        cluster_info: None,
        config: vec![
            ("maxmemory".into(), "104857600".into()),
            ("maxclients".into(), "10000".into()),
            ("io-threads".into(), "1".into()),
            (
                "client-output-buffer-limit".into(),
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".into(),
            ),
        ],
        slowlog_length: Some(1.0),
        slowlog_last: Some(Some(SlowlogEntry {
            id: 4.0,
            duration_micros: 15233.0,
        })),
        latency_spikes: vec![LatencySpike {
            event: "command".into(),
            last: 1_795_568_899.0,
            latest_millis: 15.0,
        }],
        // What `LATENCY HISTOGRAM` answered for the fixture's commands; `bitop` is not in its
        // commandstats.
        latency_histograms: vec![
            CommandHistogram {
                cmd: "set".into(),
                calls: 3,
                buckets: vec![(4.0, 1), (8.0, 3)],
            },
            CommandHistogram {
                cmd: "bitop".into(),
                calls: 1,
                buckets: vec![(2.0, 1)],
            },
        ],
        keys: vec![
            KeyStat {
                db: 0,
                key: "counter".into(),
                size: 2.0,
                value: Some(42.0),
                text: None,
                memory: Some(56.0),
            },
            KeyStat {
                db: 3,
                key: "list \"x\"".into(),
                size: 5.0,
                value: None,
                text: None,
                memory: Some(120.0),
            },
            KeyStat {
                db: 0,
                key: "greeting".into(),
                size: 5.0,
                value: None,
                text: Some("hello".into()),
                memory: None,
            },
        ],
    };
    let (text, f) = render(&snap, &naming("redis", false));
    assert_eq!(value(&f, "redis_config_maxmemory", &[]), 104_857_600.0);
    assert_eq!(value(&f, "redis_config_maxclients", &[]), 10000.0);
    assert_eq!(value(&f, "redis_config_io_threads", &[]), 1.0);
    assert_eq!(value(&f, "redis_slowlog_length", &[]), 1.0);
    assert_eq!(value(&f, "redis_slowlog_last_id", &[]), 4.0);
    assert_eq!(
        value(&f, "redis_last_slow_execution_duration_seconds", &[]),
        0.015233
    );
    assert_eq!(
        value(
            &f,
            "redis_latency_spike_duration_seconds",
            &[("event_name", "command")]
        ),
        0.015
    );
    assert_eq!(
        value(&f, "redis_latency_spike_last", &[("event_name", "command")]),
        1_795_568_899.0
    );
    assert_eq!(
        value(&f, "redis_key_size", &[("db", "db0"), ("key", "counter")]),
        2.0
    );
    assert_eq!(
        value(&f, "redis_key_value", &[("db", "db0"), ("key", "counter")]),
        42.0
    );
    assert_eq!(
        value(
            &f,
            "redis_key_size",
            &[("db", "db3"), ("key", "list \"x\"")]
        ),
        5.0
    );
    assert!(f["redis_key_value"].value(&[("db", "db3")]).is_none());
    assert_eq!(
        value(
            &f,
            "redis_key_value_as_string",
            &[("db", "db0"), ("key", "greeting"), ("val", "hello")]
        ),
        1.0
    );
    // MEMORY USAGE, where it answered.
    assert_eq!(
        value(
            &f,
            "redis_key_memory_usage_bytes",
            &[("db", "db3"), ("key", "list \"x\"")]
        ),
        120.0
    );
    assert!(f["redis_key_memory_usage_bytes"]
        .value(&[("key", "greeting")])
        .is_none());
    // client-output-buffer-limit: both limits per class, the soft one's time.
    let limit = |class: &str, limit: &str| {
        value(
            &f,
            "redis_config_client_output_buffer_limit_bytes",
            &[("class", class), ("limit", limit)],
        )
    };
    assert_eq!(limit("normal", "hard"), 0.0);
    assert_eq!(limit("slave", "hard"), 268_435_456.0);
    assert_eq!(limit("pubsub", "soft"), 8_388_608.0);
    assert_eq!(
        f["redis_config_client_output_buffer_limit_bytes"]
            .samples
            .len(),
        6
    );
    let overcome = &f["redis_config_client_output_buffer_limit_overcome_seconds"];
    assert_eq!(overcome.samples.len(), 3);
    assert_eq!(
        overcome.value(&[("class", "slave"), ("limit", "soft")]),
        Some(60.0)
    );
    // The latency histogram: buckets and count from LATENCY HISTOGRAM, the sum from INFO's
    // commandstats (usec), 0 for a command INFO does not list.
    let latencies = &f["redis_commands_latencies_usec"];
    assert_eq!(latencies.kind, "histogram");
    let bucket = |cmd: &str, le: &str| {
        latencies.samples.iter().find_map(|s| {
            (s.name == "redis_commands_latencies_usec_bucket"
                && s.labels["cmd"] == cmd
                && s.labels["le"] == le)
                .then_some(s.value)
        })
    };
    assert_eq!(bucket("set", "4"), Some(1.0));
    assert_eq!(bucket("set", "8"), Some(3.0));
    assert_eq!(bucket("set", "+Inf"), Some(3.0));
    assert_eq!(bucket("bitop", "+Inf"), Some(1.0));
    let sum_and_count = |cmd: &str| {
        let of = |name: &str| {
            latencies
                .samples
                .iter()
                .find(|s| s.name == name && s.labels["cmd"] == cmd)
                .map(|s| s.value)
        };
        (
            of("redis_commands_latencies_usec_sum"),
            of("redis_commands_latencies_usec_count"),
        )
    };
    assert_eq!(sum_and_count("set"), (Some(21.0), Some(3.0)));
    assert_eq!(sum_and_count("bitop"), (Some(0.0), Some(1.0)));
    let complaints = common::promtool_complaints(&text, "redis");
    assert!(complaints.is_empty(), "{complaints:#?}");
}

#[test]
fn cluster_info_fields_are_gauges_with_status_words_as_numbers() {
    let mut snap = info_only(MASTER);
    snap.cluster_info = Some(
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\n\
         cluster_stats_messages_sent:1234\r\n"
            .into(),
    );
    let (_, f) = render(&snap, &naming("redis", false));
    assert_eq!(value(&f, "redis_cluster_state", &[]), 1.0);
    assert_eq!(value(&f, "redis_cluster_slots_assigned", &[]), 16384.0);
    assert_eq!(value(&f, "redis_cluster_messages_sent_total", &[]), 1234.0);
    assert_eq!(f["redis_cluster_known_nodes"].kind, "gauge");
}

#[test]
fn namespace_prefixes_every_family() {
    let (_, f) = render(&info_only(REPLICA), &naming("kv", false));
    assert!(
        f.keys().all(|k| k.starts_with("kv_")),
        "{:?}",
        f.keys().collect::<Vec<_>>()
    );
    assert!(f.contains_key("kv_memory_used_bytes"));
}

#[test]
fn garbage_is_not_a_panic() {
    for text in [
        "",
        "\r\n",
        "# Server\r\nno colon here\r\n:\r\nx:\r\n",
        "# Keyspace\r\ndb0:keys=,expires\r\ndbx:keys=1,expires=0\r\n",
        "# Commandstats\r\ncmdstat_get:calls=x\r\n# Latencystats\r\nlatency_percentiles_usec_get:p50\r\n",
    ] {
        let (_, f) = render(&info_only(text), &naming("redis", false));
        assert!(f.contains_key("redis_instance_info"));
    }
}
