//! pg-exporter against today's postgres_exporter (0.17.1, Debian 13's build that
//! `scripts/install-upstream-current` unpacks), both scraping one real PostgreSQL with a few
//! databases and tables, an active replication slot, an open transaction and a held lock.
//!
//! Both ways (`testkit::parity`): a family upstream exports that we lack fails unless it is on
//! [`CANNOT_APPEAR_HERE`]; a family we export that upstream lacks fails unless README.md lists
//! it (with why) under "Families postgres_exporter 0.17 does not have". Types, label names and
//! series must agree; values too where they cannot move (exact), grow (upstream's reading lies
//! between ours just before and just after it) or barely move (within 5 %).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{current_postgres_exporter, start_ours};
use testkit::parity::{self, Rules};
use testkit::postgres::{HeldSession, PgCluster};
use testkit::{free_port, get, parse_exposition, Family, ServiceProcess};

type Families = BTreeMap<String, Family>;

/// Families upstream exports here that we may lack because this machine cannot produce them
/// (each with a unit test); the test fails on any other family we lack.
const CANNOT_APPEAR_HERE: &[(&str, &str)] = &[
    // Empty: on this machine's PostgreSQL 15, with the slot, the open transaction and the lock
    // of `busy_cluster`, we export every family 0.17.1's default collectors do. Only PostgreSQL
    // 15 is installed, so what 0.17 exports on 16/17 (`confl_active_logicalslot`, the
    // checkpointer split) is not compared by any test here.
];

/// Families of the Go runtime and Go's HTTP handler, which a Rust binary cannot have, and the
/// process families, which describe each exporter's own process (README.md says which differ).
const NOT_COMPARED_PREFIXES: [&str; 3] = ["go_", "promhttp_", "process_"];

/// Families about the exporter or the scrape: series and values are its own.
const ABOUT_THE_EXPORTER: &[&str] = &[
    "postgres_exporter_build_info",
    "postgres_exporter_config_last_reload_successful",
    "postgres_exporter_config_last_reload_success_timestamp_seconds",
    "pg_exporter_last_scrape_duration_seconds",
    "pg_exporter_last_scrape_error",
    "pg_exporter_scrapes_total",
    "pg_scrape_collector_duration_seconds",
    "pg_scrape_collector_success",
];

/// Families whose series come and go with the sessions of the moment (each exporter's own
/// connection is one): compared on the held sessions only.
const SESSION_FAMILIES: &[&str] = &["pg_stat_activity_count", "pg_stat_activity_max_tx_duration"];

/// Gauges that cannot change between the three scrapes.
const EXACT: &[&str] = &[
    "pg_up",
    "pg_static",
    "pg_database_connection_limit",
    "pg_roles_connection_limit",
    "pg_replication_is_replica",
    "pg_replication_slot_slot_is_active",
    "pg_replication_slot_wal_status",
    "pg_replication_slots_active",
    "pg_stat_user_tables_n_live_tup",
    "pg_stat_user_tables_n_dead_tup",
    "pg_stat_archiver_archived_count",
    "pg_stat_archiver_failed_count",
];

/// Gauges that only grow: upstream's value lies between our two readings.
const GROWING: &[&str] = &[
    "pg_replication_slot_slot_current_wal_lsn",
    "pg_stat_user_tables_last_analyze",
    "pg_stat_user_tables_last_autoanalyze",
    "pg_stat_user_tables_last_autovacuum",
    "pg_stat_user_tables_last_vacuum",
];

/// Gauges that may move a little (a page written by autovacuum, the statistics file).
const NEAR: &[&str] = &["pg_database_size_bytes", "pg_stat_user_tables_size_bytes"];

/// Settings whose value upstream reads from its own session: lib/pq sets
/// `extra_float_digits=2`; we report the server's.
const SESSION_SETTINGS: &[&str] = &["pg_settings_extra_float_digits"];

/// Constant labels on both sides: which families get them is compared too.
const CONSTANT_LABELS: &str = "--constantLabels=env=parity";

/// The README section that lists (and justifies) the families upstream does not have.
const README_SECTION: &str = "### Families postgres_exporter 0.17 does not have";

struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A primary with two more databases, tables in the scraped one, a physical replication slot
/// kept active by `pg_receivewal` (with `max_slot_wal_keep_size`, so it has a safe WAL size),
/// an open transaction and a held lock.
fn busy_cluster(wal_dir: &std::path::Path) -> (PgCluster, Vec<HeldSession>, Receiver) {
    let pg = PgCluster::start();
    pg.psql_script(
        "postgres",
        "CREATE DATABASE app1;\nCREATE DATABASE app2;\n\
         CREATE ROLE parity_repl LOGIN REPLICATION PASSWORD 'repl-pw';\n\
         ALTER SYSTEM SET max_slot_wal_keep_size = '1GB';\nSELECT pg_reload_conf();\n\
         SELECT pg_create_physical_replication_slot('parity_slot', true);\n",
    );
    pg.psql_script(
        "app1",
        "CREATE TABLE t (id int PRIMARY KEY, v text);\n\
         INSERT INTO t SELECT g, 'x' FROM generate_series(1, 500) g;\n\
         CREATE TABLE small (id int);\nINSERT INTO small SELECT generate_series(1, 50);\n\
         ANALYZE small;\n",
    );
    let bin = pg_bin("pg_receivewal");
    let receiver = Command::new(bin)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "parity_repl",
        ])
        .args(["-S", "parity_slot", "-D"])
        .arg(wal_dir)
        .env("PGPASSWORD", "repl-pw")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pg_receivewal");
    let held = vec![
        pg.hold("app1", "BEGIN; SELECT txid_current();"),
        pg.hold(
            "app2",
            "BEGIN; CREATE TABLE held (x int); LOCK TABLE held IN SHARE MODE;",
        ),
    ];
    wait_until("the open transactions and the active slot", || {
        pg.psql(
            "postgres",
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction') \
             || ',' || (SELECT count(*) FROM pg_replication_slots WHERE active)",
        ) == "2,1"
    });
    (pg, held, Receiver(receiver))
}

/// A program of the PostgreSQL installation testkit uses.
fn pg_bin(name: &str) -> std::path::PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL installed under /usr/lib/postgresql")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql"))
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn scrape(p: &ServiceProcess) -> Families {
    let r = get(&p.url("/metrics"));
    assert_eq!(r.status, 200, "{}", r.body);
    parse_exposition(&r.body).unwrap()
}

fn compared(name: &str) -> bool {
    !NOT_COMPARED_PREFIXES.iter().any(|p| name.starts_with(p))
}

type Series = BTreeMap<BTreeMap<String, String>, f64>;

fn series(family: &Family) -> Series {
    family
        .samples
        .iter()
        .map(|s| (s.labels.clone(), s.value))
        .collect()
}

/// Series and values of the families both export.
fn value_differences(before: &Families, theirs: &Families, after: &Families) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, family) in theirs.iter().filter(|(n, _)| compared(n)) {
        let skip = ABOUT_THE_EXPORTER.contains(&name.as_str())
            || SESSION_FAMILIES.contains(&name.as_str());
        let (Some(b), Some(a)) = (before.get(name), after.get(name)) else {
            continue;
        };
        if skip {
            continue;
        }
        let up = series(family);
        let (b, a) = (series(b), series(a));
        let ours: BTreeSet<_> = a.keys().collect();
        let upstream: BTreeSet<_> = up.keys().collect();
        if ours != upstream {
            problems.push(format!(
                "{name}: series only ours {:?}, only upstream's {:?}",
                ours.difference(&upstream).collect::<Vec<_>>(),
                upstream.difference(&ours).collect::<Vec<_>>()
            ));
            continue;
        }
        for (labels, u) in &up {
            let (lo, hi) = (b.get(labels).copied().unwrap_or(f64::NAN), a[labels]);
            let ok = if name.starts_with("pg_settings_") {
                SESSION_SETTINGS.contains(&name.as_str()) || same(*u, hi)
            } else if EXACT.contains(&name.as_str()) {
                same(*u, lo) && same(*u, hi)
            } else if family.kind == "counter" || GROWING.contains(&name.as_str()) {
                lo <= *u && *u <= hi || (u.is_nan() && hi.is_nan())
            } else if NEAR.contains(&name.as_str()) {
                (u - hi).abs() <= u.abs() * 0.05
            } else {
                true
            };
            if !ok {
                problems.push(format!(
                    "{name}{labels:?}: upstream {u}, ours {lo} before and {hi} after"
                ));
            }
        }
    }
    problems
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The held sessions' series of `pg_stat_activity_*`, with every label upstream gives them.
fn session_differences(before: &Families, theirs: &Families, after: &Families) -> Vec<String> {
    let mut problems = Vec::new();
    for name in SESSION_FAMILIES {
        let up = series(&theirs[*name]);
        let held: Vec<_> = up
            .iter()
            .filter(|(l, _)| {
                l.get("state").map(String::as_str) == Some("idle in transaction")
                    && l.get("usename").is_some_and(|u| !u.is_empty())
            })
            .collect();
        if held.len() != 2 {
            problems.push(format!(
                "{name}: upstream shows {} idle transactions, not 2",
                held.len()
            ));
        }
        let (b, a) = (series(&before[*name]), series(&after[*name]));
        for (labels, u) in held {
            let (lo, hi) = (b.get(labels), a.get(labels));
            let ok = match (lo, hi) {
                (Some(lo), Some(hi)) if *name == "pg_stat_activity_count" => lo == u && hi == u,
                (Some(lo), Some(hi)) => lo <= u && u <= hi,
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "{name}{labels:?}: upstream {u}, ours {lo:?} before and {hi:?} after"
                ));
            }
        }
    }
    problems
}

#[test]
fn parity_with_postgres_exporter_0_17_both_ways() {
    let (upstream_bin, version) = current_postgres_exporter();
    println!("comparing with {version}");
    let wal_dir = tempfile::tempdir().unwrap();
    let (pg, _held, _receiver) = busy_cluster(wal_dir.path());
    let dsn = pg.uri("app1");
    let up_port = free_port();
    let upstream = ServiceProcess::start_with_env(
        &upstream_bin,
        &[
            format!("--web.listen-address=127.0.0.1:{up_port}"),
            CONSTANT_LABELS.to_string(),
        ],
        &[("DATA_SOURCE_NAME", &dsn)],
        up_port,
    );
    let ours = start_ours(&[CONSTANT_LABELS], &[("DATA_SOURCE_NAME", &dsn)]);
    // A first scrape each, so both have their connections and cached settings.
    scrape(&ours);
    scrape(&upstream);

    let before = scrape(&ours);
    let theirs = scrape(&upstream);
    let after = scrape(&ours);
    assert_eq!(
        theirs.get("pg_up").and_then(|f| f.value(&[])),
        Some(1.0),
        "upstream could not connect:\n{}",
        upstream.logs()
    );
    assert_eq!(
        after.get("pg_up").and_then(|f| f.value(&[])),
        Some(1.0),
        "{}",
        ours.logs()
    );
    // What the comparison relies on being there.
    for name in [
        "pg_stat_user_tables_size_bytes",
        "pg_replication_slot_safe_wal_size_bytes",
        "pg_replication_slot_slot_confirmed_flush_lsn",
        "pg_locks_count",
    ] {
        assert!(
            theirs.contains_key(name),
            "upstream shows no {name}: the setup is off"
        );
    }

    let share_lock = [("datname", "app2"), ("mode", "sharelock")];
    assert_eq!(theirs["pg_locks_count"].value(&share_lock), Some(1.0));
    assert_eq!(after["pg_locks_count"].value(&share_lock), Some(1.0));

    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let rules = Rules {
        ignored_prefixes: &NOT_COMPARED_PREFIXES,
        cannot_appear_here: CANNOT_APPEAR_HERE,
        readme: &readme,
        readme_section: README_SECTION,
    };
    let mut problems = parity::family_differences(&theirs, &after, &rules);
    problems.extend(value_differences(&before, &theirs, &after));
    problems.extend(session_differences(&before, &theirs, &after));
    assert!(
        problems.is_empty(),
        "differences from {version}:\n{}",
        problems.join("\n")
    );
}
