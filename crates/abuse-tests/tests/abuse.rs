//! Hostile HTTP input against the six services as they ship (built with the `image` profile,
//! the release profile's panic behaviour): after every attack the process must be alive, answer
//! `/health` within a second and keep its RSS under [`RSS_LIMIT_KIB`]; no request may reach a
//! panic (a 500 from the panic catcher counts as a failure too).
//!
//! Needs PostgreSQL and redis-server (Debian's packages), a running Docker engine; builds the
//! services with `cargo build --profile image` (the first test waits for it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use abuse_tests::backend::SilentBackend;
use abuse_tests::binaries::services;
use abuse_tests::raw::{self, Outcome};
use abuse_tests::service::{Backends, Target};
use abuse_tests::survival::{self, RSS_LIMIT_KIB};

/// How long one hostile request may go unanswered before the service counts as wedged.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// A hostile request: what it is (for the failure message) and its bytes.
struct Case {
    what: String,
    request: Vec<u8>,
}

fn get(what: impl Into<String>, target: &str, headers: &[(String, String)]) -> Case {
    Case {
        what: what.into(),
        request: raw::get_request(target.as_bytes(), headers),
    }
}

/// Sends every case of `cases(target)` to every service (a fresh process each; a new one after
/// a case that killed it, so the rest still run) and checks the answer and the survival after
/// each. Panics listing every failure.
fn every_service_survives(attack: &str, cases: impl Fn(&Target) -> Vec<Case>) {
    let backends = Backends::start();
    let mut failures = Vec::new();
    for package in services() {
        let mut target = Target::start(package, &backends, &[]);
        for case in cases(&target) {
            let outcome = raw::send(target.port(), &case.request, ANSWER_TIMEOUT);
            match &outcome {
                Ok(Outcome::Answered { status, body }) if *status >= 500 && *status != 503 => {
                    failures.push(format!(
                        "{package}: {}: answered {status}: {body}",
                        case.what
                    ))
                }
                Err(e) => failures.push(format!("{package}: {}: {e}", case.what)),
                Ok(_) => {}
            }
            if let Err(e) = survival::check(&mut target, &case.what) {
                failures.push(e);
                target = Target::start(package, &backends, &[]);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{attack}: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

#[test]
fn hostile_scrape_timeout_headers_are_survived() {
    let values = [
        "1e20",
        "-1",
        "NaN",
        "inf",
        "-inf",
        "1e-300",
        "0",
        "",
        "1e308",
        "18446744073709551616",
        "0x10",
        " 5 ",
        "5s",
    ];
    every_service_survives("X-Prometheus-Scrape-Timeout-Seconds", |target| {
        let mut cases: Vec<Case> = target
            .metric_paths()
            .iter()
            .flat_map(|path| {
                values.iter().map(move |v| {
                    get(
                        format!("GET {path} with X-Prometheus-Scrape-Timeout-Seconds: {v:?}"),
                        path,
                        &[header("X-Prometheus-Scrape-Timeout-Seconds", *v)],
                    )
                })
            })
            .collect();
        cases.push(get(
            "GET /metrics with a 64 KiB X-Prometheus-Scrape-Timeout-Seconds of digits",
            "/metrics",
            &[header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                "9".repeat(64 * 1024),
            )],
        ));
        cases
    });
}

#[test]
fn huge_and_many_headers_are_survived() {
    every_service_survives("headers", |_| {
        let many: Vec<(String, String)> = (0..10_000)
            .map(|i| header(&format!("X-Junk-{i}"), "x"))
            .collect();
        let same: Vec<(String, String)> = (0..10_000)
            .map(|_| header("Accept-Encoding", "gzip"))
            .collect();
        vec![
            get(
                "a 1 MiB header value",
                "/metrics",
                &[header("X-Junk", "a".repeat(1024 * 1024))],
            ),
            // actix answers 431 to more than 96 headers before any of our code runs.
            get("95 distinct headers", "/metrics", &many[..95]),
            get("10,000 distinct headers", "/metrics", &many),
            get("10,000 Accept-Encoding headers", "/metrics", &same),
            get(
                "an Accept-Encoding of 10,000 codings",
                "/metrics",
                &[header("Accept-Encoding", "gzip;q=0.5,".repeat(10_000))],
            ),
        ]
    });
}

#[test]
fn hostile_query_strings_are_survived() {
    every_service_survives("query strings", |target| {
        // actix refuses a request head over 64 KiB with 400 before any of our code runs: the
        // short forms reach the scrape handler's query parsing, the long ones the limit.
        let params_short: String = (0..10_000).map(|_| "a&").collect();
        let params_long: String = (0..10_000).map(|i| format!("p{i}={i}&")).collect();
        let repeated: String = (0..10_000).map(|i| format!("target={i}&")).collect();
        let query_60k = format!("q={}", "a".repeat(60 * 1024));
        let query_100k = format!("q={}", "a".repeat(100 * 1024));
        let mut cases = Vec::new();
        for path in target.metric_paths() {
            for (what, query) in [
                ("invalid percent-encoding", "%zz=%"),
                ("a lone percent sign", "%"),
                ("percent-encoded invalid UTF-8", "%ff%fe=%c3%28"),
                ("a percent-encoded NUL", "target=%00&name=%00"),
                ("a 60 KiB query", query_60k.as_str()),
                ("a 100 KiB query", query_100k.as_str()),
                ("10,000 parameters in 20 KiB", params_short.as_str()),
                ("10,000 parameters in 107 KiB", params_long.as_str()),
                ("10,000 target parameters", repeated.as_str()),
                ("only separators", "&&&&===&=&"),
            ] {
                cases.push(get(
                    format!("GET {path} with {what}"),
                    &format!("{path}?{query}"),
                    &[],
                ));
            }
        }
        cases
    });
}

#[test]
fn hostile_paths_are_survived() {
    every_service_survives("paths", |_| {
        let mut cases: Vec<Case> = [
            "/..%2f..%2f..%2fetc%2fpasswd",
            "/../../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/metrics%00",
            "/metrics/../health",
            "//metrics",
            "/%",
            "/%zz",
            "/api/containers/..%2f..%2f..%2fetc%2fpasswd",
            "/api/containers/%00/stats",
            "*",
            "http://127.0.0.1/metrics",
        ]
        .iter()
        .map(|p| get(format!("GET {p}"), p, &[]))
        .collect();
        cases.push(get(
            "a 100 KiB path",
            &format!("/{}", "a".repeat(100 * 1024)),
            &[],
        ));
        cases.push(Case {
            what: "a raw NUL byte in the path".into(),
            request: raw::get_request(b"/metrics\0/x", &[]),
        });
        cases.push(Case {
            what: "raw bytes that are not UTF-8 in the path".into(),
            request: raw::get_request(b"/\xff\xfe\xc3\x28", &[]),
        });
        cases
    });
}

/// Sends `n` requests for `path?n=<i>` at once (a thread each) and returns their statuses
/// (`None` for a request that was not answered).
fn flood(port: u16, path: &str, n: usize) -> Vec<Option<u16>> {
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let request = raw::get_request(format!("{path}?n={i}").as_bytes(), &[]);
            std::thread::spawn(move || {
                raw::send(port, &request, ANSWER_TIMEOUT)
                    .ok()
                    .and_then(|o| o.status())
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_flood_of_distinct_scrape_urls_is_survived() {
    let backends = Backends::start();
    let mut failures = Vec::new();
    for package in services() {
        let mut target = Target::start(package, &backends, &[]);
        let statuses = flood(target.port(), "/metrics", 300);
        let unexpected: Vec<_> = statuses
            .iter()
            .filter(|s| !matches!(s, Some(200) | Some(503)))
            .collect();
        if !unexpected.is_empty() {
            failures.push(format!(
                "{package}: {} of 300 scrapes got neither 200 nor 503: {unexpected:?}",
                unexpected.len()
            ));
        }
        if let Err(e) = survival::check(&mut target, "300 concurrent /metrics?n=<i>") {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// pg-exporter against a backend that accepts connections and never answers: the first
/// collection waits for its connect timeout (3 s) holding the connection lock, so 200 scrapes of
/// `/metrics?n=<i>` sent at once all arrive while it runs. `n` does not change what is
/// collected, so they must share that one collection instead of starting 200 (each of which
/// would wait for the lock, then fail fast in the reconnect backoff), and those over
/// `--web.max-requests` (default 40) are refused and counted.
#[test]
fn distinct_query_strings_share_one_collection() {
    if !services().contains(&"pg-exporter") {
        return;
    }
    let silent = SilentBackend::start(Duration::from_secs(600));
    let dsn = format!(
        "postgresql://monitor:pw@127.0.0.1:{}/postgres?sslmode=disable",
        silent.port
    );
    let mut target = Target::start_with("pg-exporter", &[("DATA_SOURCE_NAME", &dsn)], &[]);
    let statuses = flood(target.port(), "/metrics", 200);
    let answered = statuses.iter().filter(|s| s.is_some()).count();
    assert_eq!(answered, 200, "every scrape is answered: {statuses:?}");
    // The flood's collections, plus the one that reads the counter.
    let collections = target
        .sample("pg_exporter_scrapes_total", &[])
        .unwrap_or_else(|e| panic!("{e}"))
        - 1.0;
    assert!(
        collections <= 10.0,
        "200 concurrent scrapes differing only in an ignored parameter ran {collections} \
         collections (the backend saw {} connections); they should share a handful",
        silent.accepted()
    );
    let refused = target
        .sample(
            "pg_exporter_requests_refused_total",
            &[("reason", "max_requests")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let unavailable = statuses.iter().filter(|s| **s == Some(503)).count();
    assert!(
        refused >= 1.0 && refused as usize <= unavailable,
        "{unavailable} scrapes got 503, pg_exporter_requests_refused_total{{reason=\"max_requests\"}} \
         is {refused}: over 40 at once must be refused and counted"
    );
    survival::check(&mut target, "200 concurrent /metrics?n=<i>").unwrap_or_else(|e| panic!("{e}"));
}

/// Two scrapes held by a backend that answers nothing for 4 s take both of
/// `--web.max-requests=2`; every further scrape gets 503 at once and is counted in
/// `<service>_requests_refused_total{reason="max_requests"}`.
#[test]
fn requests_over_max_requests_get_503_at_once_and_are_counted() {
    let mut failures = Vec::new();
    for package in ["redis-exporter", "pg-exporter"]
        .into_iter()
        .filter(|p| services().contains(p))
    {
        let silent = SilentBackend::start(Duration::from_secs(4));
        let dsn = format!(
            "postgresql://monitor:pw@127.0.0.1:{}/postgres?sslmode=disable",
            silent.port
        );
        let redis = format!("--redis.addr=redis://127.0.0.1:{}", silent.port);
        let (env, args): (Vec<(&str, &str)>, Vec<&str>) = match package {
            "pg-exporter" => (vec![("DATA_SOURCE_NAME", dsn.as_str())], vec![]),
            _ => (vec![], vec![redis.as_str()]),
        };
        let mut all = vec!["--web.max-requests=2"];
        all.extend(args);
        let mut target = Target::start_with(package, &env, &all);
        if let Err(e) = held_requests_and_refusals(&target, &silent) {
            failures.push(format!("{package}: {e}"));
        }
        if let Err(e) = survival::check(&mut target, "requests over --web.max-requests") {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn held_requests_and_refusals(target: &Target, silent: &SilentBackend) -> Result<(), String> {
    let port = target.port();
    let holders: Vec<_> = (0..2)
        .map(|i| {
            let request = raw::get_request(format!("/metrics?holder={i}").as_bytes(), &[]);
            std::thread::spawn(move || raw::send(port, &request, ANSWER_TIMEOUT))
        })
        .collect();
    // The collection has started once the backend saw a connection; the second holder was sent
    // before that and is admitted within a moment.
    let start = std::time::Instant::now();
    while silent.accepted() == 0 {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("the held scrapes never reached the backend".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..5 {
        let request = raw::get_request(format!("/metrics?excess={i}").as_bytes(), &[]);
        match raw::send(port, &request, Duration::from_secs(1)) {
            Ok(Outcome::Answered { status: 503, .. }) => {}
            other => {
                return Err(format!(
                    "request {i} over the limit of 2: expected 503 at once, got {other:?}"
                ))
            }
        }
    }
    for holder in holders {
        match holder.join().unwrap() {
            Ok(Outcome::Answered { status: 200, .. }) => {}
            other => {
                return Err(format!(
                    "a held scrape: expected 200 in the end, got {other:?}"
                ))
            }
        }
    }
    let name = format!("{}_requests_refused_total", target.metric_prefix());
    let refused = target.sample(&name, &[("reason", "max_requests")])?;
    if refused < 5.0 {
        return Err(format!(
            "{name}{{reason=\"max_requests\"}} is {refused}, expected >= 5"
        ));
    }
    Ok(())
}

#[test]
fn rss_limit_is_above_what_an_idle_service_uses() {
    // The bound means something only if healthy services are well under it.
    let backends = Backends::start();
    for package in services() {
        let target = Target::start(package, &backends, &[]);
        target.scrape("/metrics").unwrap_or_else(|e| panic!("{e}"));
        let kib = survival::rss_kib(target.process.pid()).unwrap();
        assert!(
            kib * 2 <= RSS_LIMIT_KIB,
            "{package} uses {kib} KiB idle: the {RSS_LIMIT_KIB} KiB bound of the abuse tests is too tight"
        );
    }
}

/// metrics-core's start-up bounds glibc's malloc arenas for every service (it runs the binary
/// again once with `glibc.malloc.arena_max=2`): each shipped binary's running process has the
/// tunable in its environment, and its health still answers after the re-run.
#[test]
fn every_service_runs_with_bounded_malloc_arenas() {
    let backends = Backends::start();
    let mut missing = Vec::new();
    for package in services() {
        let mut target = Target::start(package, &backends, &[]);
        let pid = target.process.pid();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let bounded = environ
            .split(|b| *b == 0)
            .any(|v| v.starts_with(b"GLIBC_TUNABLES=") && v.ends_with(b"glibc.malloc.arena_max=2"));
        if !bounded {
            missing.push(package);
        }
        if let Err(e) = survival::check(&mut target, "start-up with bounded arenas") {
            missing.push(package);
            eprintln!("{e}");
        }
    }
    assert!(
        missing.is_empty(),
        "without glibc.malloc.arena_max=2 in their environment or not healthy: {missing:?}"
    );
}
