//! Parity with Debian's `prometheus-redis-exporter` (oliver006/redis_exporter 1.45): both scrape
//! the same private Redis 7 primary (with a replica, keys in several databases, keys with TTLs,
//! a variety of commands, failed commands, a slow command and a latency spike). Every family
//! upstream exposes (less `go_*`, `process_*`, `promhttp_*`) must be ours too, with the same
//! type and label names, and the values that do not move between two scrapes must agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{exporter, scrape, RedisServer};
use testkit::Family;

const CHECK_KEYS: &str = "db1=user:*,big:*";
const CHECK_SINGLE_KEYS: &str = "counter,text,db2=session,db3=nothing";

fn populate(redis: &RedisServer) {
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&format!("SET big:{i} {i}\n"));
    }
    batch.push_str(
        "SET counter 42\nSET text hello\nINCR counter\nGET counter\nGET nope\nHSET h a 1 b 2\n\
         LPUSH counter x\nPFADD hll a b c\nSADD s a b\nZADD z 1 a\nEXPIRE big:1 5000\n\
         SELECT 1\nRPUSH user:1 a b c\nSADD user:2 x\nSET user:3 7 EX 9000\n\
         SELECT 2\nSET session abc EX 3600\nSET other 1 EX 7200\nSELECT 0\n\
         CONFIG SET latency-monitor-threshold 5\nCONFIG SET slowlog-log-slower-than 5000\n\
         EVAL \"for i=1,3000000 do end return 1\" 0\nNOSUCHCOMMAND\n",
    );
    redis.cli_batch(&batch);
}

fn upstream(redis: &RedisServer) -> testkit::ServiceProcess {
    let bin = testkit::require_command("prometheus-redis-exporter", "prometheus-redis-exporter");
    let port = testkit::free_port();
    let args: Vec<String> = [
        format!("-web.listen-address=127.0.0.1:{port}"),
        format!("-redis.addr={}", redis.url()),
        "-include-system-metrics".into(),
        format!("-check-keys={CHECK_KEYS}"),
        format!("-check-single-keys={CHECK_SINGLE_KEYS}"),
    ]
    .into();
    testkit::ServiceProcess::start(bin, &args, port)
}

fn wait_for_replica(primary: &RedisServer) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if primary
            .cli(&["INFO", "replication"])
            .contains("state=online")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("replica never came online");
}

fn samples(f: &Family) -> BTreeMap<String, f64> {
    f.samples
        .iter()
        .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
        .collect()
}

#[test]
fn parity_with_debian_redis_exporter_on_families_types_labels_and_stable_values() {
    let primary = RedisServer::start();
    let port = primary.port.to_string();
    let _replica = RedisServer::start_with(None, &["--replicaof", "127.0.0.1", &port]);
    populate(&primary);
    wait_for_replica(&primary);

    let ours = exporter(
        &[
            "--include-system-metrics",
            &format!("--check-keys={CHECK_KEYS}"),
            &format!("--check-single-keys={CHECK_SINGLE_KEYS}"),
        ],
        &[("REDIS_ADDR", &primary.url())],
    );
    let theirs = upstream(&primary);
    let (_, mine) = scrape(&ours.url("/metrics"));
    let (upstream_text, upstream) = scrape(&theirs.url("/metrics"));

    let mut problems = Vec::new();
    let mut compared = 0;
    for (name, family) in &upstream {
        if ["go_", "process_", "promhttp_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        compared += 1;
        let Some(ours) = mine.get(name) else {
            problems.push(format!("missing family {name} ({})", family.kind));
            continue;
        };
        if ours.kind != family.kind {
            problems.push(format!(
                "{name}: type {} upstream, {} ours",
                family.kind, ours.kind
            ));
        }
        if ours.label_names() != family.label_names() {
            problems.push(format!(
                "{name}: labels {:?} upstream, {:?} ours",
                family.label_names(),
                ours.label_names()
            ));
        }
    }
    assert!(
        compared > 100,
        "upstream exposed only {compared} families:\n{upstream_text}"
    );

    // Values that two scrapes a moment apart must agree on, sample for sample.
    for name in [
        "redis_up",
        "redis_db_keys",
        "redis_db_keys_expiring",
        "redis_key_size",
        "redis_key_value",
        "redis_key_value_as_string",
        "redis_config_maxmemory",
        "redis_config_maxclients",
        "redis_config_io_threads",
        "redis_memory_max_bytes",
        "redis_connected_slaves",
        "redis_instance_info",
        "redis_process_id",
        "redis_aof_enabled",
        "redis_rdb_last_bgsave_status",
        "redis_slowlog_length",
        "redis_slowlog_last_id",
        "redis_last_slow_execution_duration_seconds",
        "redis_latency_spike_duration_seconds",
        "redis_latency_spike_last",
        "redis_total_system_memory_bytes",
        "redis_cluster_enabled",
        "redis_replication_backlog_bytes",
        "redis_exporter_last_scrape_error",
    ] {
        match (upstream.get(name), mine.get(name)) {
            (Some(u), Some(o)) if samples(u) != samples(o) => problems.push(format!(
                "{name}: upstream {:?}\n  ours {:?}",
                samples(u),
                samples(o)
            )),
            (None, _) => problems.push(format!("{name}: upstream did not expose it (test setup)")),
            _ => {}
        }
    }
    // The replica and the failed command are seen by both.
    let replica_labels = mine
        .get("redis_connected_slave_offset_bytes")
        .map(|f| f.label_names());
    assert_eq!(
        replica_labels,
        upstream
            .get("redis_connected_slave_offset_bytes")
            .map(|f| f.label_names())
    );
    assert!(mine["redis_errors_total"].value(&[("err", "ERR")]).unwrap() >= 1.0);
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
