//! The exporter against real, private `redis-server` instances (Debian's `redis-server`):
//! scraping, faults (Redis down, wrong password, a port that is not Redis), recovery, password
//! files, Unix sockets, `/scrape?target=` and `--check-keys`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{exporter, scrape, up, RedisServer};

#[test]
fn redis_scrape_is_up_with_keyspace_commands_and_promtool_clean() {
    let redis = RedisServer::start();
    redis.cli_batch(
        "SET a 1\nSELECT 2\nSET b x EX 1000\nSELECT 0\nRPUSH l x y z\nINCR a\nLPUSH a x\n",
    );
    let exp = exporter(&[], &[("REDIS_ADDR", &redis.url())]);
    let (text, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    assert_eq!(f["redis_db_keys"].value(&[("db", "db0")]), Some(2.0));
    assert_eq!(
        f["redis_db_keys_expiring"].value(&[("db", "db2")]),
        Some(1.0)
    );
    assert_eq!(f["redis_db_keys"].value(&[("db", "db15")]), Some(0.0));
    assert_eq!(
        f["redis_commands_total"].value(&[("cmd", "rpush")]),
        Some(1.0)
    );
    assert_eq!(
        f["redis_errors_total"].value(&[("err", "WRONGTYPE")]),
        Some(1.0)
    );
    assert_eq!(f["redis_config_maxclients"].value(&[]), Some(10000.0));
    assert_eq!(
        f["redis_exporter_last_scrape_error"].value(&[("err", "")]),
        Some(0.0)
    );
    assert!(f.contains_key("process_resident_memory_bytes"));
    let complaints = common::promtool_complaints(&text, "redis");
    assert!(complaints.is_empty(), "{complaints:#?}");
}

#[test]
fn redis_down_reports_up_zero_logs_once_and_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let exp = exporter(
        &["--web.scrape-timeout=3s"],
        &[("REDIS_ADDR", &redis.url())],
    );
    assert_eq!(up(&scrape(&exp.url("/metrics")).1), 1.0);

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let (_, f) = scrape(&exp.url("/metrics"));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered in {:?}",
            started.elapsed()
        );
        assert_eq!(up(&f), 0.0);
        let err = &f["redis_exporter_last_scrape_error"];
        assert_eq!(err.samples.len(), 1);
        assert!(!err.samples[0].labels["err"].is_empty());
        assert!(
            !f.contains_key("redis_db_keys"),
            "no stale Redis metrics while down"
        );
    }
    let logs = exp.logs();
    assert_eq!(
        logs.matches("cannot scrape redis").count(),
        1,
        "one line per outage:\n{logs}"
    );

    redis.restart();
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(
        up(&f),
        1.0,
        "back to 1 on the first scrape after Redis returns:\n{}",
        exp.logs()
    );
    assert!(exp.logs().contains("reachable again"));
}

#[test]
fn redis_wrong_password_is_up_zero_and_no_password_is_ever_printed() {
    let redis = RedisServer::start_with_password(Some("right-pw-5c1e"));
    let exp = exporter(
        &["--log.level=debug"],
        &[
            ("REDIS_ADDR", &redis.url()),
            ("REDIS_PASSWORD", "wrong-pw-77ab"),
        ],
    );
    let (text, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 0.0);
    let health = testkit::get(&exp.url("/health"));
    assert_eq!(
        health.status, 200,
        "an unreachable Redis is not an unhealthy exporter"
    );
    assert!(
        health.body.contains("\"last_scrape\":\"down\""),
        "{}",
        health.body
    );
    let logs = exp.logs();
    assert!(logs.contains("cannot scrape redis"), "{logs}");
    for place in [&text, &logs, &health.body] {
        assert!(
            !place.contains("wrong-pw-77ab") && !place.contains("right-pw-5c1e"),
            "{place}"
        );
    }

    // No password at all against a Redis that wants one: NOAUTH, also up 0.
    let exp = exporter(&[], &[("REDIS_ADDR", &redis.url())]);
    assert_eq!(up(&scrape(&exp.url("/metrics")).1), 0.0);

    // The right one, given in the URL, which never shows up in logs.
    let url = format!("redis://:right-pw-5c1e@127.0.0.1:{}", redis.port);
    let exp = exporter(&["--log.level=debug"], &[("REDIS_ADDR", &url)]);
    let (text, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    assert!(!exp.logs().contains("right-pw-5c1e") && !text.contains("right-pw-5c1e"));
}

#[test]
fn redis_password_file_plain_or_by_address() {
    let redis = RedisServer::start_with_password(Some("file-pw-91"));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("password");
    std::fs::write(&plain, "file-pw-91\n").unwrap();
    let exp = exporter(
        &[],
        &[
            ("REDIS_ADDR", &redis.url()),
            ("REDIS_PASSWORD_FILE", plain.to_str().unwrap()),
        ],
    );
    assert_eq!(up(&scrape(&exp.url("/metrics")).1), 1.0, "{}", exp.logs());

    let by_address = dir.path().join("passwords.json");
    let mut file = std::fs::File::create(&by_address).unwrap();
    write!(file, r#"{{"{}": "file-pw-91"}}"#, redis.url()).unwrap();
    let exp = exporter(
        &[&format!("--redis.password-file={}", by_address.display())],
        &[("REDIS_ADDR", &redis.url())],
    );
    assert_eq!(up(&scrape(&exp.url("/metrics")).1), 1.0, "{}", exp.logs());
    // The same file serves /scrape targets.
    let (_, f) = scrape(&exp.url(&format!("/scrape?target={}", redis.url())));
    assert_eq!(up(&f), 1.0);
}

#[test]
fn redis_port_that_is_not_redis_is_up_zero_within_the_timeout() {
    // A port that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().take(8) {
            held.push(conn);
        }
    });
    let exp = exporter(
        &["--web.scrape-timeout=2s"],
        &[("REDIS_ADDR", &format!("127.0.0.1:{silent_port}"))],
    );
    let started = Instant::now();
    let (_, f) = scrape(&exp.url("/metrics"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(up(&f), 0.0);

    // An HTTP server (that exporter's port, allowed for a second one) answers garbage to RESP.
    let http = format!("127.0.0.1:{}", exp.port);
    let second = exporter(
        &[
            "--web.scrape-timeout=2s",
            &format!("--scrape.allowed-targets={http}"),
        ],
        &[("REDIS_ADDR", &format!("127.0.0.1:{silent_port}"))],
    );
    let (_, f) = scrape(&second.url(&format!("/scrape?target={http}")));
    assert_eq!(up(&f), 0.0);
    drop(exp);
    drop(holder);
}

#[test]
fn redis_scrape_endpoint_takes_targets_and_rejects_bad_ones() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "k", "v"]);
    // The default target is down; /scrape reaches the one it names, which is on the list.
    let exp = exporter(
        &[&format!(
            "--scrape.allowed-targets=127.0.0.1:{}",
            redis.port
        )],
        &[("REDIS_ADDR", "redis://127.0.0.1:1")],
    );
    for target in [format!("127.0.0.1:{}", redis.port), redis.url()] {
        let (_, f) = scrape(&exp.url(&format!("/scrape?target={target}")));
        assert_eq!(up(&f), 1.0, "{target}: {}", exp.logs());
        assert_eq!(f["redis_db_keys"].value(&[("db", "db0")]), Some(1.0));
        assert!(!f.contains_key("process_resident_memory_bytes"));
    }
    for bad in [
        "/scrape",
        "/scrape?target=",
        "/scrape?target=http://h:1",
        "/scrape?target=redis://h:notaport",
    ] {
        let response = testkit::get(&exp.url(bad));
        assert_eq!(response.status, 400, "{bad}: {}", response.body);
    }
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 0.0);
    assert_eq!(
        f["redis_target_scrape_request_errors_total"].value(&[]),
        Some(4.0)
    );
}

#[test]
fn redis_check_keys_reads_sizes_and_values_and_stays_within_its_limit() {
    let redis = RedisServer::start();
    let mut batch = String::new();
    for i in 0..3000 {
        batch.push_str(&format!("SET big:{i} {i}\n"));
    }
    batch.push_str("SET counter 42\nSET text hello\nHSET h a 1 b 2\nPFADD hll a b c d\nSELECT 1\nRPUSH user:1 a b c\nSADD user:2 x\nZADD user:3 1 a 2 b\n");
    redis.cli_batch(&batch);
    let exp = exporter(
        &[
            "--check-keys=db1=user:*,big:*",
            "--check-keys-limit=50",
            "--check-keys-batch-size=100",
            "--check-single-keys=counter,text,h,hll,db1=missing,db99=beyond",
        ],
        &[("REDIS_ADDR", &redis.url())],
    );
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    let size = &f["redis_key_size"];
    let value = &f["redis_key_value"];
    assert_eq!(size.value(&[("db", "db0"), ("key", "counter")]), Some(2.0));
    assert_eq!(
        value.value(&[("db", "db0"), ("key", "counter")]),
        Some(42.0)
    );
    assert_eq!(size.value(&[("db", "db0"), ("key", "text")]), Some(5.0));
    assert_eq!(value.value(&[("db", "db0"), ("key", "text")]), None);
    assert_eq!(
        f["redis_key_value_as_string"].value(&[("db", "db0"), ("key", "text"), ("val", "hello")]),
        Some(1.0)
    );
    assert_eq!(size.value(&[("db", "db0"), ("key", "h")]), Some(2.0));
    assert_eq!(
        size.value(&[("db", "db0"), ("key", "hll")]),
        Some(4.0),
        "HyperLogLog cardinality"
    );
    assert_eq!(size.value(&[("db", "db1"), ("key", "missing")]), Some(0.0));
    for (key, n) in [("user:1", 3.0), ("user:2", 1.0), ("user:3", 2.0)] {
        assert_eq!(size.value(&[("db", "db1"), ("key", key)]), Some(n));
    }
    assert_eq!(
        size.value(&[("db", "db99")]),
        None,
        "a database that does not exist is skipped"
    );
    let big = size
        .samples
        .iter()
        .filter(|s| s.labels["key"].starts_with("big:"))
        .count();
    assert_eq!(
        big, 50,
        "the pattern reports at most --check-keys-limit keys"
    );
    // SCAN only, a bounded number of times, and the connection stays on db0 for INFO.
    assert_eq!(f["redis_commands_total"].value(&[("cmd", "keys")]), None);
    let (_, f) = scrape(&exp.url("/metrics"));
    let scans = f["redis_commands_total"].value(&[("cmd", "scan")]).unwrap();
    assert!(scans <= 6.0, "{scans} SCAN calls for two scrapes");
    assert_eq!(
        f["redis_key_size"].value(&[("db", "db0"), ("key", "counter")]),
        Some(2.0)
    );
    // No WRONGTYPE errors caused by the exporter; the one ERR is SELECT 99.
    let errors = &f["redis_errors_total"];
    assert_eq!(errors.value(&[("err", "WRONGTYPE")]), None, "{errors:?}");
    assert_eq!(errors.value(&[("err", "ERR")]), Some(1.0), "{errors:?}");
}

#[test]
fn redis_unix_socket_namespace_and_system_metrics_from_environment() {
    let redis = RedisServer::start();
    let addr = format!("unix://{}", redis.socket.display());
    let exp = exporter(
        &[],
        &[
            ("REDIS_ADDR", &addr),
            ("REDIS_EXPORTER_NAMESPACE", "kv"),
            ("REDIS_EXPORTER_INCL_SYSTEM_METRICS", "true"),
        ],
    );
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(f["kv_up"].value(&[]), Some(1.0), "{}", exp.logs());
    assert!(f.contains_key("kv_total_system_memory_bytes"));
    assert!(!f.contains_key("redis_up"));
    let health = testkit::get(&exp.url("/health"));
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(
        health.body.contains("\"last_scrape\":\"up\""),
        "{}",
        health.body
    );
}

#[test]
fn redis_upstream_go_style_single_dash_flags_are_accepted() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "counter", "7"]);
    let exp = exporter(
        &[
            &format!("-redis.addr={}", redis.url()),
            "-check-single-keys",
            "counter",
            "-log-format=txt",
            "-debug",
        ],
        &[],
    );
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    assert_eq!(f["redis_key_value"].value(&[("key", "counter")]), Some(7.0));
}

#[test]
fn redis_settings_from_a_config_file() {
    let redis = RedisServer::start_with_password(Some("cfg-pw-3"));
    redis.cli(&["SET", "counter", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, "cfg-pw-3").unwrap();
    let config = dir.path().join("redis-exporter.yml");
    std::fs::write(
        &config,
        format!(
            "redis:\n  addr: {}\n  password_file: {}\nnamespace: cache\ncheck_single_keys: counter\nconnection_timeout: 5s\n\
             scrape:\n  allowed_targets: [\"localhost:{}\"]\n  allow_request_key_checks: true\n",
            redis.url(),
            password.display(),
            redis.port
        ),
    )
    .unwrap();
    let exp = exporter(&[&format!("--config.file={}", config.display())], &[]);
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(f["cache_up"].value(&[]), Some(1.0), "{}", exp.logs());
    assert_eq!(f["cache_key_value"].value(&[("key", "counter")]), Some(5.0));
    // The scrape section: a listed target (same Redis, other name) with request key checks.
    let (_, f) = scrape(&exp.url(&format!(
        "/scrape?target=localhost:{}&check-single-keys=other",
        redis.port
    )));
    assert_eq!(f["cache_up"].value(&[]), Some(1.0), "{}", exp.logs());
    assert_eq!(f["cache_key_size"].value(&[("key", "other")]), Some(0.0));
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl command line.
fn make_certificates(dir: &std::path::Path) {
    let openssl = testkit::require_command("openssl", "openssl");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=clustermon test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

#[test]
fn redis_tls_with_a_ca_file_or_without_verification() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let tls_port = testkit::free_port().to_string();
    let file = |name: &str| certs.path().join(name).display().to_string();
    let redis = RedisServer::start_with(
        None,
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &file("server.crt"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.crt"),
            "--tls-auth-clients",
            "no",
        ],
    );
    redis.cli(&["SET", "k", "v"]);
    let url = format!("rediss://127.0.0.1:{tls_port}");

    let exp = exporter(
        &[&format!("--tls-ca-cert-file={}", file("ca.crt"))],
        &[("REDIS_ADDR", &url)],
    );
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    assert_eq!(f["redis_db_keys"].value(&[("db", "db0")]), Some(1.0));

    // Not signed by a system CA: refused, with the reason.
    let exp = exporter(&[], &[("REDIS_ADDR", &url)]);
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 0.0);
    assert!(exp.logs().contains("cannot scrape redis"), "{}", exp.logs());

    let exp = exporter(&["--skip-tls-verification"], &[("REDIS_ADDR", &url)]);
    assert_eq!(up(&scrape(&exp.url("/metrics")).1), 1.0, "{}", exp.logs());
    let (_, f) = scrape(&exp.url(&format!("/scrape?target={url}")));
    assert_eq!(up(&f), 1.0);
}
