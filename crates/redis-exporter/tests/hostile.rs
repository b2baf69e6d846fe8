//! Hostile requesters and hostile servers: `/scrape` targets off the allow-list, key checks from
//! the query string, secrets in flags, environment and errors, and fake Redis servers on
//! loopback that answer with huge lengths, garbage or absurd numbers. Tests named `redis_*`
//! also start a real `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    exporter, get_within, peak_rss, query_escape, refused, scrape, up, FakeRedis, FakeReply,
    RedisServer, REFUSED,
};

const BINARY: &str = env!("CARGO_BIN_EXE_redis-exporter");

#[test]
fn redis_scrape_target_off_the_allow_list_is_refused_before_anything_is_sent() {
    let redis = RedisServer::start_with_password(Some("allow-pw-3a"));
    let recorder = FakeRedis::start(FakeReply::Echo);
    let exp = exporter(
        &[],
        &[
            ("REDIS_ADDR", &redis.url()),
            ("REDIS_PASSWORD", "allow-pw-3a"),
        ],
    );
    let targets = [
        format!("127.0.0.1:{}", recorder.port),
        recorder.url(),
        format!("redis://someone:x@127.0.0.1:{}/1", recorder.port),
        format!("localhost:{}", recorder.port),
        format!("rediss://127.0.0.1:{}", recorder.port),
    ];
    for target in &targets {
        let url = exp.url(&format!("/scrape?target={}", query_escape(target)));
        let response = get_within(&url, Duration::from_secs(5));
        assert_eq!(response.status, REFUSED, "{target}: {}", response.body);
        assert!(!response.body.contains("allow-pw-3a"), "{}", response.body);
        // The refusal comes before any connection: had one been made, it would have been
        // accepted before the answer.
        assert_eq!(recorder.connections(), 0, "{target} was contacted");
    }
    assert_eq!(recorder.received(), "", "nothing, AUTH least of all");
    assert_eq!(
        refused(&exp, "scrape_target_not_allowed"),
        targets.len() as f64
    );

    // The configured Redis stays reachable through /scrape, with its password.
    let (_, f) = scrape(&exp.url(&format!("/scrape?target=127.0.0.1:{}", redis.port)));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    assert_eq!(recorder.connections(), 0);
}

#[test]
fn redis_scrape_reaches_listed_targets_and_password_file_addresses() {
    let configured = RedisServer::start_with_password(Some("shared-pw-11"));
    let listed = RedisServer::start_with_password(Some("shared-pw-11"));
    let in_file = RedisServer::start_with_password(Some("file-pw-22"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords.json");
    std::fs::write(
        &file,
        format!(r#"{{"redis://127.0.0.1:{}": "file-pw-22"}}"#, in_file.port),
    )
    .unwrap();
    let exp = exporter(
        &[
            &format!(
                "--scrape.allowed-targets=localhost:1,127.0.0.1:{}",
                listed.port
            ),
            &format!("--redis.password-file={}", file.display()),
        ],
        &[
            ("REDIS_ADDR", &configured.url()),
            ("REDIS_PASSWORD", "shared-pw-11"),
        ],
    );
    for target in [
        format!("127.0.0.1:{}", listed.port),
        in_file.url(),
        configured.url(),
    ] {
        let (_, f) = scrape(&exp.url(&format!("/scrape?target={target}")));
        assert_eq!(up(&f), 1.0, "{target}: {}", exp.logs());
    }

    // The same list from upstream-style environment.
    let exp = exporter(
        &[],
        &[
            ("REDIS_ADDR", &configured.url()),
            ("REDIS_PASSWORD", "shared-pw-11"),
            (
                "REDIS_EXPORTER_SCRAPE_ALLOWED_TARGETS",
                &format!("localhost:1,{}", listed.url()),
            ),
        ],
    );
    let (_, f) = scrape(&exp.url(&format!("/scrape?target=127.0.0.1:{}", listed.port)));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    let response = testkit::get(&exp.url(&format!("/scrape?target={}", in_file.url())));
    assert_eq!(
        response.status, REFUSED,
        "not listed and no password file: {}",
        response.body
    );
    assert_eq!(refused(&exp, "scrape_target_not_allowed"), 1.0);
}

#[test]
fn redis_request_key_checks_are_refused_unless_enabled() {
    let redis = RedisServer::start();
    redis.cli_batch("SET counter 42\nSET user:1 secret-value\n");
    let exp = exporter(
        &["--check-single-keys=counter"],
        &[("REDIS_ADDR", &redis.url())],
    );
    let target = format!("/scrape?target={}", redis.url());
    for asked in ["&check-keys=user:*", "&check-single-keys=user:1"] {
        let response = testkit::get(&exp.url(&format!("{target}{asked}")));
        assert_eq!(response.status, REFUSED, "{asked}: {}", response.body);
        assert!(!response.body.contains("secret-value"));
    }
    assert_eq!(refused(&exp, "scrape_request_key_checks"), 2.0);

    // Configured key checks keep working, on /metrics and /scrape alike; nothing was scanned.
    for path in ["/metrics".to_string(), target] {
        let (text, f) = scrape(&exp.url(&path));
        assert_eq!(
            f["redis_key_value"].value(&[("db", "db0"), ("key", "counter")]),
            Some(42.0),
            "{path}"
        );
        assert!(!text.contains("secret-value"), "{path}");
        assert_eq!(f["redis_commands_total"].value(&[("cmd", "scan")]), None);
    }
}

#[test]
fn redis_request_key_checks_when_enabled_are_bounded_in_count_and_scan() {
    let redis = RedisServer::start();
    let mut batch = String::from("SET counter 42\n");
    for i in 0..5000 {
        batch.push_str(&format!("SET big:{i} {i}\n"));
    }
    redis.cli_batch(&batch);
    let exp = exporter(
        &[
            "--scrape.allow-request-key-checks",
            "--check-keys-batch-size=50",
            "--scrape.request-key-scan-limit=200",
        ],
        &[("REDIS_ADDR", &redis.url())],
    );
    let target = format!("/scrape?target={}", redis.url());

    let many = "a,".repeat(10_000);
    let response = get_within(
        &exp.url(&format!("{target}&check-keys={many}")),
        Duration::from_secs(5),
    );
    assert_eq!(response.status, REFUSED, "{}", response.body);
    assert_eq!(refused(&exp, "scrape_request_key_checks_limit"), 1.0);
    assert_eq!(
        get_within(&exp.url("/health"), Duration::from_secs(1)).status,
        200
    );

    let (_, f) = scrape(&exp.url(&format!(
        "{target}&check-keys=big:*&check-single-keys=counter"
    )));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    let size = &f["redis_key_size"];
    assert_eq!(size.value(&[("db", "db0"), ("key", "counter")]), Some(2.0));
    let big = size
        .samples
        .iter()
        .filter(|s| s.labels["key"].starts_with("big:"))
        .count();
    // SCAN returns about COUNT keys per call here (every key matches): the scan limit of 200
    // stops it far below --check-keys-limit (1000).
    assert!(
        (1..=400).contains(&big),
        "{big} keys reported for a pattern limited to 200 scanned"
    );
}

#[test]
fn help_never_prints_secrets_from_the_environment() {
    let out = Command::new(BINARY)
        .arg("--help")
        .env("REDIS_ADDR", "redis://:s3cr3t-in-addr@127.0.0.1:6379")
        .env("REDIS_PASSWORD", "s3cr3t-password")
        .env("REDIS_USER", "s3cr3t-user")
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("REDIS_ADDR"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

/// A password with every character that has broken redaction somewhere.
const AWKWARD_PASSWORD: &str = "p/a,s@s%w rd-8f";

fn assert_no_password(place: &str, text: &str) {
    for fragment in [AWKWARD_PASSWORD, "s%w rd", "p/a,s", "rd-8f"] {
        assert!(
            !text.contains(fragment),
            "{place} shows {fragment:?}:\n{text}"
        );
    }
}

/// Runs the exporter until it exits or `limit` passes, and returns what it printed.
fn run_until_exit(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (bool, String) {
    let mut child = Command::new(BINARY)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let exited = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (exited, printed)
}

#[test]
fn redis_passwords_with_reserved_characters_are_never_printed() {
    // In the address, unencoded: the address cannot be used, and the error says where.
    let port = testkit::free_port();
    let listen = format!("--web.listen-address=127.0.0.1:{port}");
    for addr in [
        format!("redis://:{AWKWARD_PASSWORD}@127.0.0.1:6379"),
        format!("redis://user:{AWKWARD_PASSWORD}@127.0.0.1:notaport"),
        format!("rediss://:{AWKWARD_PASSWORD}@127.0.0.1:6379/0"),
    ] {
        let (exited, printed) = run_until_exit(
            &[&listen, "--log.level=debug"],
            &[("REDIS_ADDR", &addr)],
            Duration::from_secs(5),
        );
        assert!(exited, "started with an unusable address: {printed}");
        assert!(printed.contains("REDIS_ADDR"), "{printed}");
        assert_no_password("stderr", &printed);
    }

    // As the password, wrong for a real Redis and echoed back by a fake one.
    let redis = RedisServer::start_with_password(Some("other-pw-5d"));
    let echo = FakeRedis::start(FakeReply::Echo);
    for addr in [redis.url(), echo.url()] {
        let exp = exporter(
            &["--log.level=debug"],
            &[("REDIS_ADDR", &addr), ("REDIS_PASSWORD", AWKWARD_PASSWORD)],
        );
        let (text, f) = scrape(&exp.url("/metrics"));
        assert_eq!(up(&f), 0.0, "{addr}: {text}");
        if addr == echo.url() {
            assert!(text.contains("you sent"), "the echo is the error: {text}");
        }
        assert_no_password("/metrics", &text);
        let health = get_within(&exp.url("/health"), Duration::from_secs(1));
        assert_eq!(health.status, 200);
        assert!(health.body.contains("down"), "{}", health.body);
        assert_no_password("/health", &health.body);
        // In a /scrape target: refused or rejected, without repeating it.
        for target in [
            format!("redis://:{AWKWARD_PASSWORD}@127.0.0.1:notaport"),
            format!("redis://:{AWKWARD_PASSWORD}@127.0.0.1:{}", echo.port),
        ] {
            let response =
                testkit::get(&exp.url(&format!("/scrape?target={}", query_escape(&target))));
            assert!(
                [400, REFUSED].contains(&response.status),
                "{}: {}",
                response.status,
                response.body
            );
            assert_no_password("an error body", &response.body);
        }
        assert_no_password("stderr", &exp.logs());
    }
    assert!(
        echo.received().contains(AWKWARD_PASSWORD),
        "the echoing server did get the password, so its error held it"
    );
}

/// Fake servers that answer with a huge length, a negative or absurd one, bytes that are not RESP
/// at all, or a whole pipeline's worth (8) of replies of the wrong type.
const HOSTILE_REPLIES: &[&[u8]] = &[
    b"$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n",
    b"*1\r\n:1\r\n*1\r\n:1\r\n*1\r\n:1\r\n*1\r\n:1\r\n*1\r\n:1\r\n*1\r\n:1\r\n*1\r\n:1\r\n*1\r\n:1\r\n",
    b"$2000000000\r\n",
    b"*2000000000\r\n",
    b"%2000000000\r\n",
    b"*9223372036854775807\r\n",
    b"$-2\r\n",
    b":99999999999999999999999999\r\n",
    b"HTTP/1.1 400 Bad Request\r\n\r\n",
    b"\x00\xff\xfe garbage \r\n",
];

#[test]
fn hostile_server_replies_are_up_zero_and_health_keeps_answering() {
    let fakes: Vec<FakeRedis> = HOSTILE_REPLIES
        .iter()
        .map(|reply| FakeRedis::start(FakeReply::Fixed(reply.to_vec())))
        .collect();
    let allowed: Vec<String> = fakes.iter().map(FakeRedis::url).collect();
    let exp = exporter(
        &[
            "--web.scrape-timeout=2s",
            &format!("--scrape.allowed-targets={}", allowed.join(",")),
        ],
        &[("REDIS_ADDR", &fakes[0].url())],
    );
    for (fake, reply) in fakes.iter().zip(HOSTILE_REPLIES) {
        let url = exp.url(&format!("/scrape?target={}", fake.url()));
        let scraping = std::thread::spawn(move || testkit::get(&url));
        // While that scrape waits on the fake, the exporter serves /health.
        let health = get_within(&exp.url("/health"), Duration::from_secs(1));
        assert_eq!(health.status, 200, "{:?}", String::from_utf8_lossy(reply));
        let response = scraping.join().unwrap();
        assert_eq!(response.status, 200, "{}", response.body);
        let f = testkit::parse_exposition(&response.body).unwrap();
        assert_eq!(
            up(&f),
            0.0,
            "{:?}: {}",
            String::from_utf8_lossy(reply),
            response.body
        );
    }
    let health = get_within(&exp.url("/health"), Duration::from_secs(1));
    assert_eq!(health.status, 200);
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 0.0);
}

/// Well-formed answers to the scrape's pipeline (INFO, five CONFIG GETs, SLOWLOG LEN, SLOWLOG
/// GET, LATENCY LATEST, LATENCY HISTOGRAM) with absurd values: four billion databases, numbers
/// beyond every type.
fn absurd_but_well_formed_replies() -> Vec<u8> {
    let info = "# Server\r\nredis_version:7.0.0\r\nuptime_in_seconds:99999999999999999999999\r\n\
                # Clients\r\nconnected_clients:-99999999999999999999\r\n\
                # Commandstats\r\ncmdstat_get:calls=1e999,usec=-1,usec_per_call=nan\r\n\
                # Latencystats\r\nlatency_percentiles_usec_get:p50=1e999,p99=-0\r\n\
                # Keyspace\r\ndb4294967295:keys=1e400,expires=-1,avg_ttl=nan\r\n\
                db18446744073709551616:keys=1,expires=0\r\n";
    let mut out = format!("${}\r\n{info}\r\n", info.len()).into_bytes();
    out.extend_from_slice(b"*0\r\n*0\r\n*0\r\n");
    out.extend_from_slice(b"*2\r\n$9\r\ndatabases\r\n$10\r\n4294967295\r\n");
    let limits = "normal 99999999999999999999999 -1 nan slave x y z pubsub 1e999 0 0";
    out.extend_from_slice(
        format!(
            "*2\r\n$26\r\nclient-output-buffer-limit\r\n${}\r\n{limits}\r\n",
            limits.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(b":9223372036854775807\r\n");
    out.extend_from_slice(b"*1\r\n*3\r\n:-9223372036854775808\r\n:0\r\n:9223372036854775807\r\n");
    out.extend_from_slice(b"*1\r\n*4\r\n$7\r\ncommand\r\n:-1\r\n:9223372036854775807\r\n:0\r\n");
    out.extend_from_slice(
        b"*2\r\n$3\r\nget\r\n*4\r\n$5\r\ncalls\r\n:9223372036854775807\r\n\
          $14\r\nhistogram_usec\r\n*4\r\n:-9223372036854775808\r\n:-1\r\n:1\r\n:9223372036854775807\r\n",
    );
    out
}

#[test]
fn absurd_numbers_in_well_formed_replies_are_bounded() {
    let fake = FakeRedis::start(FakeReply::Fixed(absurd_but_well_formed_replies()));
    let exp = exporter(&["--web.scrape-timeout=5s"], &[("REDIS_ADDR", &fake.url())]);
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    let databases = f["redis_db_keys"].samples.len();
    assert!(
        databases <= 4097,
        "{databases} db_keys series for a server claiming four billion databases"
    );
    assert_eq!(
        f["redis_slowlog_length"].value(&[]),
        Some(9223372036854775807.0)
    );
    // Figures are read as floats, as every number here (1e999 is infinite, `nan` NaN); the
    // `slave` class, whose words are not numbers, is left out.
    let limits = &f["redis_config_client_output_buffer_limit_bytes"];
    assert_eq!(limits.samples.len(), 4, "{limits:?}");
    assert_eq!(
        limits.value(&[("class", "pubsub"), ("limit", "hard")]),
        Some(f64::INFINITY)
    );
    assert_eq!(limits.value(&[("class", "slave")]), None);
    // A negative count is not a count: that bucket is dropped, the other kept.
    let latencies = &f["redis_commands_latencies_usec"];
    assert_eq!(
        latencies.value(&[("cmd", "get"), ("le", "1")]),
        Some(9223372036854775807.0)
    );
    assert_eq!(latencies.samples.len(), 4, "{latencies:?}");
    assert_eq!(
        get_within(&exp.url("/health"), Duration::from_secs(1)).status,
        200
    );
}

#[test]
fn a_server_streaming_a_huge_reply_costs_bounded_memory() {
    const STREAMED: u64 = 400 << 20;
    let fake = FakeRedis::start(FakeReply::Stream {
        head: b"$2000000000\r\n".to_vec(),
        bytes: STREAMED,
    });
    let exp = exporter(
        &["--web.scrape-timeout=20s"],
        &[("REDIS_ADDR", &fake.url())],
    );
    let before = peak_rss(exp.pid());
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 0.0);
    let grown = peak_rss(exp.pid()).saturating_sub(before);
    // Well under what was sent: reading stops at the per-scrape budget (32 MiB).
    assert!(
        grown < STREAMED / 4,
        "peak RSS grew by {} MiB while the server streamed {} MiB",
        grown >> 20,
        STREAMED >> 20
    );
    assert_eq!(
        get_within(&exp.url("/health"), Duration::from_secs(1)).status,
        200
    );
}
