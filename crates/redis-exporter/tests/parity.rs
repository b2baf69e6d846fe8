//! redis-exporter against today's redis_exporter (1.69.0, Debian 13's build that
//! `scripts/install-upstream-current` unpacks), both scraping one private Redis 7 primary with a
//! replica, keys in several databases, keys with TTLs, a variety of commands, failed commands,
//! a slow command and a latency spike.
//!
//! Both ways (`testkit::parity`): a family upstream exports that we lack fails unless it is on
//! [`CANNOT_APPEAR_HERE`]; a family we export that upstream lacks fails unless README.md lists
//! it (with why) under "Families redis_exporter 1.69 does not have". Type and label names must
//! agree, and the values that cannot move between the two scrapes must agree sample for sample;
//! a family missing on either side of that check is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{exporter, scrape, RedisServer};
use testkit::parity::{self, Rules};

/// The redis_exporter release compared with (bumping it is an edit here and in
/// `scripts/install-upstream-current`).
const PINNED_UPSTREAM: &str = "Redis Metrics Exporter 1.69.0";

const CHECK_KEYS: &str = "db1=user:*,big:*";
const CHECK_SINGLE_KEYS: &str = "counter,text,db2=session,db3=nothing";

/// Families upstream exports here that we may lack because this machine cannot produce them.
const CANNOT_APPEAR_HERE: &[(&str, &str)] = &[
    // Empty: with the setup below we export every family redis_exporter 1.69 does against this
    // machine's Redis 7.0. What needs a cluster, Sentinel or Redis 7.2+ fields is covered by the
    // fixture tests (tests/fixtures.rs) on captured INFO replies.
];

/// The Go runtime's and Go's HTTP handler's families, which a Rust binary cannot have (the
/// README says what replaces them); `process_*` is compared by metrics-core's tests.
const IGNORED_PREFIXES: &[&str] = &["go_", "promhttp_", "process_"];

/// Families whose every sample two scrapes a moment apart must agree on.
const STABLE: &[&str] = &[
    "redis_up",
    "redis_db_keys",
    "redis_db_keys_expiring",
    "redis_key_size",
    "redis_key_value",
    "redis_key_value_as_string",
    "redis_config_maxmemory",
    "redis_config_maxclients",
    "redis_config_io_threads",
    "redis_config_client_output_buffer_limit_bytes",
    "redis_config_client_output_buffer_limit_overcome_seconds",
    "redis_memory_max_bytes",
    "redis_connected_slaves",
    "redis_instance_info",
    "redis_process_id",
    "redis_hz",
    "redis_configured_hz",
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
    "redis_expired_time_cap_reached_total",
    "redis_exporter_last_scrape_error",
];

/// Families per command, compared on the commands only the test's own client sends (neither
/// exporter does), whose calls, latencies and errors cannot move between the two scrapes.
const PER_COMMAND: &[&str] = &[
    "redis_commands_total",
    "redis_commands_duration_seconds_total",
    "redis_commands_failed_calls_total",
    "redis_commands_rejected_calls_total",
    "redis_commands_latencies_usec",
    "redis_latency_percentiles_usec",
];
const CLIENT_ONLY_COMMANDS: &[&str] = &["set", "eval", "hset", "lpush", "sadd", "zadd", "pfadd"];

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

fn upstream(redis: &RedisServer) -> (testkit::ServiceProcess, String) {
    let (bin, version) = parity::current_upstream("prometheus-redis-exporter", PINNED_UPSTREAM);
    let port = testkit::free_port();
    let args: Vec<String> = [
        format!("-web.listen-address=127.0.0.1:{port}"),
        format!("-redis.addr={}", redis.url()),
        "-include-system-metrics".into(),
        format!("-check-keys={CHECK_KEYS}"),
        format!("-check-single-keys={CHECK_SINGLE_KEYS}"),
    ]
    .into();
    (testkit::ServiceProcess::start(bin, &args, port), version)
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
    panic!("replica never came online within 20 s");
}

fn client_only(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get("cmd")
        .is_some_and(|c| CLIENT_ONLY_COMMANDS.contains(&c.as_str()))
}

#[test]
fn parity_with_redis_exporter_1_69_both_ways() {
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
    let (theirs, version) = upstream(&primary);
    println!("comparing with {version}");
    let (_, mine) = scrape(&ours.url("/metrics"));
    let (upstream_text, upstream) = scrape(&theirs.url("/metrics"));
    assert_eq!(
        upstream.get("redis_up").and_then(|f| f.value(&[])),
        Some(1.0),
        "upstream could not read Redis:\n{upstream_text}"
    );

    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let rules = Rules {
        ignored_prefixes: IGNORED_PREFIXES,
        cannot_appear_here: CANNOT_APPEAR_HERE,
        readme: &readme,
        readme_section: "### Families redis_exporter 1.69 does not have",
    };
    let mut problems = parity::family_differences(&upstream, &mine, &rules);
    problems.extend(parity::same_values(&upstream, &mine, STABLE, |_| true));
    problems.extend(parity::same_values(
        &upstream,
        &mine,
        PER_COMMAND,
        client_only,
    ));

    // The replica and the failed command are seen by both.
    for (name, labels) in [
        (
            "redis_connected_slave_offset_bytes",
            ("slave_state", "online"),
        ),
        ("redis_errors_total", ("err", "ERR")),
    ] {
        for (side, families) in [("upstream", &upstream), ("ours", &mine)] {
            if !families
                .get(name)
                .and_then(|f| f.value(&[labels]))
                .is_some_and(|v| v >= 0.0)
            {
                problems.push(format!("{side}: no {name}{{{}={:?}}}", labels.0, labels.1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences from {version}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
