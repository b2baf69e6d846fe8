//! pg-exporter against a real PostgreSQL (Debian's `postgresql`) and, for parity, against Debian's
//! `prometheus-postgres-exporter` scraping the same server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{query_encode, start_ours, OURS};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use testkit::postgres::{HeldSession, PgCluster, MONITOR_PASSWORD, MONITOR_USER};
use testkit::{free_port, get, parse_exposition, Family, ServiceProcess};

fn scrape(p: &ServiceProcess, path: &str) -> BTreeMap<String, Family> {
    let r = get(&p.url(path));
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    parse_exposition(&r.body).unwrap()
}

/// Waits until `check` is true, panicking with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Every series once: Prometheus rejects a scrape with duplicate series.
fn assert_no_duplicate_series(families: &BTreeMap<String, Family>) {
    for (name, family) in families {
        let mut seen = BTreeSet::new();
        for sample in &family.samples {
            assert!(
                seen.insert((sample.name.clone(), sample.labels.clone())),
                "duplicate series in {name}: {:?}",
                sample.labels
            );
        }
    }
}

fn value(families: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families.get(name).and_then(|f| f.value(labels))
}

/// Families of postgres_exporter releases newer than Debian's 0.11.1 whose names break
/// promtool's conventions; we keep upstream's names.
const NEWER_UPSTREAM_LINTED: &[&str] = &[
    "pg_stat_user_tables_seq_scan",
    "pg_stat_user_tables_seq_tup_read",
    "pg_stat_user_tables_idx_scan",
    "pg_stat_user_tables_idx_tup_fetch",
    "pg_stat_user_tables_n_tup_ins",
    "pg_stat_user_tables_n_tup_upd",
    "pg_stat_user_tables_n_tup_del",
    "pg_stat_user_tables_n_tup_hot_upd",
    "pg_stat_user_tables_vacuum_count",
    "pg_stat_user_tables_autovacuum_count",
    "pg_stat_user_tables_analyze_count",
    "pg_stat_user_tables_autoanalyze_count",
    "pg_statio_user_tables_heap_blocks_read",
    "pg_statio_user_tables_heap_blocks_hit",
    "pg_statio_user_tables_idx_blocks_read",
    "pg_statio_user_tables_idx_blocks_hit",
    "pg_statio_user_tables_toast_blocks_read",
    "pg_statio_user_tables_toast_blocks_hit",
    "pg_statio_user_tables_tidx_blocks_read",
    "pg_statio_user_tables_tidx_blocks_hit",
];

/// promtool's complaints about our output, except those about names upstream uses too.
fn promtool_complaints(ours: &str, upstream_names: &BTreeSet<String>) -> Vec<String> {
    testkit::promtool_check_metrics(ours)
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("");
            !upstream_names.contains(name) && !NEWER_UPSTREAM_LINTED.contains(&name)
        })
        .map(str::to_string)
        .collect()
}

/// A server with a few databases, a table, an open transaction and a held lock.
fn busy_cluster() -> (PgCluster, Vec<HeldSession>) {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE app1");
    pg.psql("postgres", "CREATE DATABASE app2");
    pg.psql(
        "app1",
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'x' FROM generate_series(1, 500) g",
    );
    pg.psql(
        "postgres",
        "CREATE TABLE local_t (id int); INSERT INTO local_t SELECT generate_series(1, 50); \
         SELECT pg_create_physical_replication_slot('parity_slot', true)",
    );
    let held = vec![
        pg.hold("app1", "BEGIN; SELECT txid_current();"),
        pg.hold(
            "app2",
            "BEGIN; CREATE TABLE held (x int); LOCK TABLE held IN SHARE MODE;",
        ),
    ];
    (pg, held)
}

/// Families Debian 12's postgres_exporter 0.11 exports that upstream dropped in 0.12 (its
/// `pg_stat_database` collector replaced the query map's, without the newer columns); we follow
/// upstream (tests/parity.rs compares with 0.17 both ways).
const DROPPED_SINCE_0_11: &[&str] = &[
    "pg_stat_database_active_time",
    "pg_stat_database_checksum_failures",
    "pg_stat_database_checksum_last_failure",
    "pg_stat_database_idle_in_transaction_time",
    "pg_stat_database_session_time",
    "pg_stat_database_sessions",
    "pg_stat_database_sessions_abandoned",
    "pg_stat_database_sessions_fatal",
    "pg_stat_database_sessions_killed",
];

/// One way against Debian 12's postgres_exporter 0.11: everything it exports that 0.17 kept, we
/// export with its type and its label names (but `server`, which 0.12 took off the collector
/// families), so old dashboards keep working.
#[test]
fn postgres_parity_with_upstream_postgres_exporter() {
    let upstream_bin = testkit::require_command(
        "prometheus-postgres-exporter",
        "prometheus-postgres-exporter",
    );
    let (pg, _held) = busy_cluster();
    let dsn = pg.uri("postgres");
    // Let the held sessions reach their state.
    wait_until(Duration::from_secs(10), "the open transaction", || {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'",
        ) == "2"
    });
    let up_port = free_port();
    let upstream = ServiceProcess::start_with_env(
        upstream_bin,
        &[format!("--web.listen-address=127.0.0.1:{up_port}")],
        &[("DATA_SOURCE_NAME", &dsn)],
        up_port,
    );
    let ours = start_ours(&[], &[("DATA_SOURCE_NAME", &dsn)]);

    let theirs_text = get(&upstream.url("/metrics")).body;
    let ours_text = get(&ours.url("/metrics")).body;
    let theirs = parse_exposition(&theirs_text).unwrap();
    let mine = parse_exposition(&ours_text).unwrap();
    assert_eq!(
        value(&theirs, "pg_up", &[]),
        Some(1.0),
        "upstream could not connect:\n{}",
        upstream.logs()
    );
    assert_eq!(value(&mine, "pg_up", &[]), Some(1.0), "{}", ours.logs());

    let mut problems = Vec::new();
    for (name, family) in &theirs {
        if ["go_", "process_", "promhttp_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let Some(ours_family) = mine.get(name) else {
            if !DROPPED_SINCE_0_11.contains(&name.as_str()) {
                problems.push(format!("missing family {name} ({})", family.kind));
            }
            continue;
        };
        if ours_family.kind != family.kind {
            problems.push(format!(
                "{name}: type {} (upstream {})",
                ours_family.kind, family.kind
            ));
        }
        let mut theirs_labels = family.label_names();
        theirs_labels.remove("server");
        if !theirs_labels.is_subset(&ours_family.label_names()) {
            problems.push(format!(
                "{name}: labels {:?} (upstream {:?})",
                ours_family.label_names(),
                family.label_names()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "differences from postgres_exporter:\n{}",
        problems.join("\n")
    );

    // Values that do not move between the two scrapes must agree.
    for db in ["postgres", "app1", "app2"] {
        let a = value(&theirs, "pg_database_size_bytes", &[("datname", db)]).unwrap();
        let b = value(&mine, "pg_database_size_bytes", &[("datname", db)]).unwrap();
        assert!(
            (a - b).abs() <= a * 0.05,
            "pg_database_size_bytes{{datname={db}}}: {b} vs upstream {a}"
        );
    }
    // lib/pq sets extra_float_digits=2 for its own session, so upstream reports that instead of
    // the server's value; we report the server's.
    let session_only = ["pg_settings_extra_float_digits"];
    for (name, family) in theirs
        .iter()
        .filter(|(n, _)| n.starts_with("pg_settings_") && !session_only.contains(&n.as_str()))
    {
        let a = family.samples[0].value;
        let b = mine[name].samples[0].value;
        assert!(
            a == b || (a.is_nan() && b.is_nan()),
            "{name}: {b} vs upstream {a}"
        );
    }
    // (Not "active" in the configured database: that counts the exporters' own queries, and
    // postgres_exporter 0.11 sometimes runs two at once.)
    for (name, labels) in [
        (
            "pg_stat_activity_count",
            [("datname", "app1"), ("state", "idle in transaction")],
        ),
        (
            "pg_stat_activity_count",
            [("datname", "app2"), ("state", "idle in transaction")],
        ),
        (
            "pg_locks_count",
            [("datname", "app2"), ("mode", "sharelock")],
        ),
        (
            "pg_replication_slots_active",
            [("slot_name", "parity_slot"), ("database", "")],
        ),
    ] {
        let a = value(&theirs, name, &labels);
        let b = value(&mine, name, &labels);
        assert!(
            a.is_some() && a == b,
            "{name}{labels:?}: {b:?} vs upstream {a:?}"
        );
    }
    assert_eq!(
        value(
            &mine,
            "pg_stat_activity_count",
            &[("datname", "app1"), ("state", "idle in transaction")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &mine,
            "pg_locks_count",
            &[("datname", "app2"), ("mode", "sharelock")]
        ),
        Some(1.0)
    );
    // The table of the configured database shows up in the per-table families.
    assert_eq!(
        value(
            &mine,
            "pg_stat_user_tables_n_live_tup",
            &[("datname", "postgres"), ("relname", "local_t")]
        ),
        Some(50.0)
    );

    assert_no_duplicate_series(&mine);
    let upstream_names: BTreeSet<String> = theirs.keys().cloned().collect();
    let complaints = promtool_complaints(&ours_text, &upstream_names);
    assert!(
        complaints.is_empty(),
        "promtool check metrics:\n{}",
        complaints.join("\n")
    );
}

#[test]
fn postgres_down_backend_reports_up_zero_and_recovers() {
    let pg = PgCluster::start();
    let ours = start_ours(
        &["--web.scrape-timeout=5s"],
        &[("DATA_SOURCE_NAME", &pg.uri("postgres"))],
    );
    assert_eq!(value(&scrape(&ours, "/metrics"), "pg_up", &[]), Some(1.0));

    pg.stop_server();
    for _ in 0..3 {
        let start = Instant::now();
        let m = scrape(&ours, "/metrics");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(value(&m, "pg_up", &[]), Some(0.0));
        assert_eq!(value(&m, "pg_exporter_last_scrape_error", &[]), Some(1.0));
        std::thread::sleep(Duration::from_millis(700));
    }
    let logs = ours.logs();
    let down_lines = logs
        .lines()
        .filter(|l| l.contains("PostgreSQL is unreachable"))
        .count();
    assert_eq!(
        down_lines, 1,
        "expected one log line for the outage:\n{logs}"
    );

    pg.start_server();
    wait_until(Duration::from_secs(30), "pg_up back to 1", || {
        value(&scrape(&ours, "/metrics"), "pg_up", &[]) == Some(1.0)
    });
    let logs = ours.logs();
    assert!(logs.contains("connected to PostgreSQL"), "{logs}");
    assert!(
        !logs.contains(MONITOR_PASSWORD) && !logs.contains("m0n-itor"),
        "password in logs:\n{logs}"
    );
}

#[test]
fn postgres_wrong_password_reports_up_zero_without_leaking_it() {
    let pg = PgCluster::start();
    let secret = "Wr0ng-Passw0rd-xyz";
    let ours = start_ours(
        &[],
        &[(
            "DATA_SOURCE_NAME",
            &pg.uri_with_password("postgres", secret),
        )],
    );
    let r = get(&ours.url("/metrics"));
    assert_eq!(r.status, 200);
    let m = parse_exposition(&r.body).unwrap();
    assert_eq!(value(&m, "pg_up", &[]), Some(0.0));
    let logs = ours.logs();
    assert!(logs.contains("password authentication failed"), "{logs}");
    assert!(
        logs.contains(":******@127.0.0.1"),
        "the DSN should be shown redacted:\n{logs}"
    );
    assert!(
        !logs.contains(secret) && !r.body.contains(secret),
        "password leaked:\n{logs}"
    );
}

#[test]
fn postgres_unreachable_host_answers_within_the_timeout() {
    let dead_port = free_port();
    let ours = start_ours(
        &["--web.scrape-timeout=3s"],
        &[(
            "DATA_SOURCE_NAME",
            &format!("postgresql://u:p@127.0.0.1:{dead_port}/x?sslmode=disable"),
        )],
    );
    let start = Instant::now();
    let m = scrape(&ours, "/metrics");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(value(&m, "pg_up", &[]), Some(0.0));
}

#[test]
fn postgres_secret_files_configure_user_and_password() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let user_file = dir.path().join("postgres_user");
    let pass_file = dir.path().join("postgres_password");
    std::fs::write(&user_file, format!("{MONITOR_USER}\n")).unwrap();
    std::fs::write(&pass_file, format!("{MONITOR_PASSWORD}\n")).unwrap();
    let uri = format!("127.0.0.1:{}/postgres?sslmode=disable", pg.port);
    let ours = start_ours(
        &[],
        &[
            ("DATA_SOURCE_URI", &uri),
            ("DATA_SOURCE_USER_FILE", user_file.to_str().unwrap()),
            ("DATA_SOURCE_PASS_FILE", pass_file.to_str().unwrap()),
        ],
    );
    let m = scrape(&ours, "/metrics");
    assert_eq!(value(&m, "pg_up", &[]), Some(1.0), "{}", ours.logs());
    assert!(m.contains_key("pg_stat_database_xact_commit"));
}

#[test]
fn postgres_custom_query_file_adds_metrics_and_a_failing_query_only_zeroes_its_success() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE TABLE orders (id int); INSERT INTO orders SELECT generate_series(1, 42); ANALYZE orders");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/queries.yaml");
    let ours = start_ours(
        &["--extend.query-path", file],
        &[("DATA_SOURCE_NAME", &pg.uri("postgres"))],
    );
    let m = scrape(&ours, "/metrics");
    assert_eq!(value(&m, "pg_up", &[]), Some(1.0));
    assert_eq!(
        value(
            &m,
            "app_tables_live_rows",
            &[("relname", "orders"), ("schemaname", "public")]
        ),
        Some(42.0)
    );
    assert_eq!(m["app_tables_seq_scan"].kind, "counter");
    assert_eq!(
        value(&m, "app_tables_health", &[("relname", "orders")]),
        Some(1.0)
    );
    assert_eq!(value(&m, "pg_replication_lag", &[]), Some(0.0));
    assert_eq!(
        value(
            &m,
            "pg_custom_query_success",
            &[("namespace", "app_tables")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "pg_custom_query_success",
            &[("namespace", "app_broken")]
        ),
        Some(0.0)
    );
    assert!(!m.contains_key("app_broken_x"));
    // Nothing else suffers from the broken query.
    assert_eq!(value(&m, "pg_exporter_last_scrape_error", &[]), Some(0.0));
    assert_eq!(
        value(&m, "pg_exporter_user_queries_load_error", &[]),
        Some(0.0)
    );
    assert!(m["pg_stat_database_xact_commit"].samples.len() >= 3);
    // The failure is logged once, not on every scrape.
    scrape(&ours, "/metrics");
    let logs = ours.logs();
    assert_eq!(logs.matches("custom query failed").count(), 1, "{logs}");
}

#[test]
fn broken_custom_query_file_is_rejected_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queries.yaml");
    std::fs::write(
        &path,
        "ok:\n  query: \"SELECT 1 AS one\"\n  metrics:\n    - one:\n        usage: \"GAUGGE\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(OURS)
        .args(["--web.listen-address=127.0.0.1:0", "--extend.query-path"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(
        stderr.contains("line 5") && stderr.contains("GAUGGE"),
        "{stderr}"
    );
}

#[test]
fn postgres_probe_scrapes_the_named_target_and_rejects_bad_ones() {
    let pg = PgCluster::start();
    let dead = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pg-exporter.yaml");
    std::fs::write(
        &config,
        format!(
            "auth_modules:\n  mon:\n    type: userpass\n    userpass:\n      username: {MONITOR_USER}\n      password: {MONITOR_PASSWORD}\n    options:\n      sslmode: disable\n"
        ),
    )
    .unwrap();
    let allowed = format!("127.0.0.1:{},127.0.0.1:{dead}", pg.port);
    let ours = start_ours(
        &[
            "--web.scrape-timeout=4s",
            "--config.file",
            config.to_str().unwrap(),
        ],
        &[("PG_EXPORTER_PROBE_ALLOWED_TARGETS", &allowed)],
    );
    assert_eq!(get(&ours.url("/probe")).status, 400);
    assert_eq!(get(&ours.url("/probe?target=")).status, 400);
    assert_eq!(
        get(&ours.url("/probe?target=postgres%3A%2F%2F%5Bbroken")).status,
        400
    );
    assert_eq!(
        get(&ours.url("/probe?target=mysql%3A%2F%2Fh%2Fdb")).status,
        400
    );
    let server = format!("127.0.0.1:{}", pg.port);
    assert_eq!(
        get(&ours.url(&format!("/probe?target={server}&auth_module=nope"))).status,
        400
    );

    // Upstream's request shape: host:port/db and a module from the config file.
    let m = scrape(
        &ours,
        &format!(
            "/probe?target={}&auth_module=mon",
            query_encode(&format!("{server}/postgres"))
        ),
    );
    assert_eq!(value(&m, "pg_up", &[]), Some(1.0), "{}", ours.logs());
    assert!(m.contains_key("pg_stat_database_xact_commit"));
    assert!(!m.contains_key("process_cpu_seconds_total"));
    assert_eq!(value(&m, "pg_static", &[("server", &server)]), Some(1.0));

    let m = scrape(
        &ours,
        &format!("/probe?target=127.0.0.1%3A{dead}&auth_module=mon"),
    );
    assert_eq!(value(&m, "pg_up", &[]), Some(0.0));
    // /metrics without a data source still answers.
    assert_eq!(value(&scrape(&ours, "/metrics"), "pg_up", &[]), Some(0.0));
}

#[test]
fn postgres_auto_discovery_covers_tables_of_every_database() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE shop");
    pg.psql("postgres", "CREATE DATABASE skipped");
    pg.psql("shop", "CREATE TABLE items (id int); INSERT INTO items SELECT generate_series(1, 7); ANALYZE items");
    pg.psql("skipped", "CREATE TABLE hidden (id int)");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/queries.yaml");
    let ours = start_ours(
        &[
            "--auto-discover-databases",
            "--exclude-databases=skipped",
            "--extend.query-path",
            file,
        ],
        &[("DATA_SOURCE_NAME", &pg.uri("postgres"))],
    );
    let m = scrape(&ours, "/metrics");
    assert_no_duplicate_series(&m);
    // Queries without `master: true` run in every database.
    assert_eq!(
        value(&m, "app_tables_live_rows", &[("relname", "items")]),
        Some(7.0)
    );
    assert_eq!(
        value(
            &m,
            "pg_custom_query_success",
            &[("namespace", "app_broken"), ("datname", "shop")]
        ),
        Some(0.0)
    );
    assert_eq!(value(&m, "pg_up", &[]), Some(1.0));
    assert_eq!(
        value(
            &m,
            "pg_stat_user_tables_n_live_tup",
            &[("datname", "shop"), ("relname", "items")]
        ),
        Some(7.0)
    );
    assert!(value(
        &m,
        "pg_stat_user_tables_n_live_tup",
        &[("relname", "hidden")]
    )
    .is_none());
    assert!(value(&m, "pg_database_size_bytes", &[("datname", "skipped")]).is_none());
    // Collector metrics are reported once per collector, not per database.
    let success = &m["pg_scrape_collector_success"];
    let names: Vec<&str> = success
        .samples
        .iter()
        .map(|s| s.labels["collector"].as_str())
        .collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len(), "{names:?}");
}

#[test]
fn postgres_replication_families_match_upstream_on_primary_and_standby() {
    let (upstream_bin, version) = common::current_postgres_exporter();
    println!("comparing with {version}");
    let primary = PgCluster::start();
    let standby = PgCluster::standby_of(&primary);
    wait_until(Duration::from_secs(30), "the standby to stream", || {
        primary.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        ) == "1"
    });
    for (role, pg) in [("primary", &primary), ("standby", &standby)] {
        let dsn = pg.uri("postgres");
        let up_port = free_port();
        let upstream = ServiceProcess::start_with_env(
            &upstream_bin,
            &[format!("--web.listen-address=127.0.0.1:{up_port}")],
            &[("DATA_SOURCE_NAME", &dsn)],
            up_port,
        );
        let ours = start_ours(&[], &[("DATA_SOURCE_NAME", &dsn)]);
        let theirs = parse_exposition(&get(&upstream.url("/metrics")).body).unwrap();
        let mine = scrape(&ours, "/metrics");
        assert_eq!(
            value(&mine, "pg_up", &[]),
            Some(1.0),
            "{role}: {}",
            ours.logs()
        );
        let is_replica = if role == "standby" { 1.0 } else { 0.0 };
        assert_eq!(
            value(&mine, "pg_replication_is_replica", &[]),
            Some(is_replica),
            "{role}"
        );
        for (name, family) in theirs.iter().filter(|(n, _)| {
            n.starts_with("pg_stat_replication") || n.starts_with("pg_replication")
        }) {
            let ours_family = mine
                .get(name)
                .unwrap_or_else(|| panic!("{role}: missing {name} ({})", family.kind));
            assert_eq!(ours_family.kind, family.kind, "{role}: {name}");
            assert_eq!(
                ours_family.label_names(),
                family.label_names(),
                "{role}: {name}"
            );
        }
        if role == "primary" {
            assert!(
                theirs.contains_key("pg_stat_replication_pg_wal_lsn_diff"),
                "upstream shows no standby: the comparison above proved nothing"
            );
            let walreceiver = [("application_name", "walreceiver"), ("state", "streaming")];
            assert!(value(&mine, "pg_stat_replication_pg_wal_lsn_diff", &walreceiver).is_some());
            assert!(
                value(
                    &mine,
                    "pg_stat_replication_pg_current_wal_lsn_bytes",
                    &walreceiver
                )
                .unwrap()
                    > 0.0,
                "{:?}",
                mine.get("pg_stat_replication_pg_current_wal_lsn_bytes")
            );
        }
    }
}

#[test]
fn postgres_settings_follow_a_configuration_reload() {
    let pg = PgCluster::start();
    let ours = start_ours(&[], &[("DATA_SOURCE_NAME", &pg.uri("postgres"))]);
    let before = value(
        &scrape(&ours, "/metrics"),
        "pg_settings_work_mem_bytes",
        &[],
    );
    assert_eq!(before, Some(4.0 * 1024.0 * 1024.0));
    pg.psql("postgres", "ALTER SYSTEM SET work_mem = '8MB'");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    wait_until(Duration::from_secs(10), "the new work_mem", || {
        value(
            &scrape(&ours, "/metrics"),
            "pg_settings_work_mem_bytes",
            &[],
        ) == Some(8.0 * 1024.0 * 1024.0)
    });
}

#[test]
fn postgres_slow_query_is_cut_by_the_statement_timeout() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.yaml");
    std::fs::write(
        &path,
        "slow:\n  query: \"SELECT pg_sleep(30) IS NULL AS done\"\n  metrics:\n    - done:\n        usage: GAUGE\n        description: never\n",
    )
    .unwrap();
    let ours = start_ours(
        &[
            "--statement-timeout=1s",
            "--web.scrape-timeout=4s",
            "--extend.query-path",
            path.to_str().unwrap(),
        ],
        &[("DATA_SOURCE_NAME", &pg.uri("postgres"))],
    );
    let start = Instant::now();
    let m = scrape(&ours, "/metrics");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(value(&m, "pg_up", &[]), Some(1.0));
    assert_eq!(
        value(&m, "pg_custom_query_success", &[("namespace", "slow")]),
        Some(0.0)
    );
    assert!(ours.logs().contains("statement timeout"), "{}", ours.logs());
    // The connection is still good for the next scrape.
    assert_eq!(value(&scrape(&ours, "/metrics"), "pg_up", &[]), Some(1.0));
}

#[test]
fn postgres_tls_modes_follow_libpq() {
    let pg = PgCluster::start();
    let cert = pg.enable_tls();
    let other_dir = tempfile::tempdir().unwrap();
    let (other_cert, _, _) = testkit::postgres::certificates(other_dir.path(), "other");
    let base = pg.uri("postgres").replace("?sslmode=disable", "");
    let pg_up = |query: &str| -> (Option<f64>, String) {
        let ours = start_ours(&[], &[("DATA_SOURCE_NAME", &format!("{base}?{query}"))]);
        let up = value(&scrape(&ours, "/metrics"), "pg_up", &[]);
        (up, ours.logs())
    };
    // The server takes only TLS connections over TCP, so pg_up 1 means TLS worked.
    for query in [
        "sslmode=require".to_string(),
        "sslmode=prefer".to_string(),
        format!("sslmode=verify-ca&sslrootcert={}", cert.display()),
        format!("sslmode=verify-full&sslrootcert={}", cert.display()),
    ] {
        let (up, logs) = pg_up(&query);
        assert_eq!(up, Some(1.0), "{query}: {logs}");
    }
    let (up, logs) = pg_up("sslmode=disable");
    assert_eq!(up, Some(0.0), "{logs}");
    let (up, logs) = pg_up(&format!(
        "sslmode=verify-full&sslrootcert={}",
        other_cert.display()
    ));
    assert_eq!(up, Some(0.0), "{logs}");
    assert!(logs.to_lowercase().contains("certificate"), "{logs}");
}
