//! The forwarder's limits against hostile browsers and upstreams, with the real binaries: caps
//! on relayed event streams in total and per browser address, a relay dropped when its browser
//! stops reading, answers capped in bytes, and no upstream password in what it says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{docker_api_binary, json_body, start_dashboard};
use testkit::docker::{require_docker, Container};
use testkit::exposition::sample_value;
use testkit::fake_daemon::{Answer, FakeDaemon};
use testkit::netns::{Program, SmallBufferNetns};
use testkit::stream_caps::EventStreams;
use testkit::{free_port, get};

/// The stream and refusal series of a metrics page, for failure messages.
fn stream_lines(metrics: &str) -> String {
    metrics
        .lines()
        .filter(|l| l.starts_with("dashboard_") || l.starts_with("docker_api_"))
        .filter(|l| l.contains("stream") || l.contains("refused"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn relayed_streams_are_capped_per_address_and_in_total() {
    require_docker();
    let docker_api_port = free_port();
    let docker_api = common::start_docker_api(docker_api_port);
    let dashboard = start_dashboard(
        &format!("http://127.0.0.1:{docker_api_port}"),
        &[
            "--docker-api.max-streams=3",
            "--docker-api.max-streams-per-address=2",
        ],
    );
    let streams = EventStreams {
        port: dashboard.port,
        path: "/api/stats/stream",
        headers: &[("Accept", "text/event-stream")],
    };
    let mut held = streams.fill_address_cap(2);
    let (over, _) = streams.open("127.0.0.3");
    assert_eq!(over, 503, "a fourth stream in all");
    let metrics = get(&dashboard.url("/metrics")).body;
    assert_eq!(
        sample_value(&metrics, "dashboard_event_streams"),
        Some(3.0),
        "{metrics}"
    );
    for reason in ["relay_streams_per_address", "relay_streams"] {
        let series = format!("dashboard_requests_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(
            sample_value(&metrics, &series),
            Some(1.0),
            "{series}\n{metrics}"
        );
    }
    // Refused browsers cost docker-api nothing: it serves the three relayed streams and the
    // dashboard's own event log (one stream of its own, whatever the browsers do) only.
    testkit::wait::expect(
        "docker-api serving 3 relayed streams and the event log's",
        Duration::from_secs(20),
        || {
            let upstream = get(&docker_api.url("/metrics")).body;
            match sample_value(&upstream, "docker_api_stream_clients") {
                Some(4.0) => Ok(()),
                other => Err(format!("docker_api_stream_clients {other:?}")),
            }
        },
    );
    // A browser that leaves gives its places back.
    streams.expect_place_given_back(held.remove(0), Duration::from_secs(20));
}

#[test]
fn an_answer_past_the_byte_cap_is_a_502_without_reading_it_all() {
    // A docker-api stand-in answering an endless body with no length.
    let upstream = FakeDaemon::tcp(|_| Answer::EndlessBody { first: "[" });
    let dashboard = start_dashboard(upstream.url(), &["--docker-api.max-body-bytes=1048576"]);
    let r = get(&dashboard.url("/api/containers"));
    assert_eq!(r.status, 502, "{}", r.body);
    let body = json_body(&r);
    assert_eq!(body["upstream"], "docker-api");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("answered more than 1048576 bytes"),
        "{body}"
    );
    let metrics = get(&dashboard.url("/metrics")).body;
    // At least the forwarded answer (the scrape's own probe of /health may add one).
    assert!(
        sample_value(
            &metrics,
            "dashboard_requests_refused_total{reason=\"upstream_body_too_large\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{metrics}"
    );
}

#[test]
fn an_upstream_password_never_shows_in_bodies_health_or_logs() {
    let dead = free_port();
    let dashboard = start_dashboard(
        &format!("http://watcher:s3cretpass@127.0.0.1:{dead}"),
        &["--alertmanager.url=http://am:amsecret@127.0.0.1:1"],
    );
    let r = get(&dashboard.url("/api/containers"));
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "docker-api at http://127.0.0.1:{dead} is unreachable"
        )),
        "{}",
        r.body
    );
    let alerts = get(&dashboard.url("/alerts"));
    assert_eq!(alerts.status, 502, "{}", alerts.body);
    let health = get(&dashboard.url("/health"));
    assert_eq!(health.status, 200);
    // Give the warnings of the failed requests time to reach the log.
    std::thread::sleep(Duration::from_millis(300));
    let logs = dashboard.logs();
    for (what, text) in [
        ("the 502 body", &r.body),
        ("the alerts 502 body", &alerts.body),
        ("/health", &health.body),
        ("the log", &logs),
    ] {
        for secret in ["s3cretpass", "amsecret"] {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
    }
    assert!(
        logs.contains("127.0.0.1"),
        "the log names the upstreams: {logs}"
    );
}

/// docker-api and the dashboard in a network namespace of their own with TCP buffers of a few
/// KiB (on the host's loopback a browser that never reads absorbs megabytes first).
struct Isolated {
    netns: SmallBufferNetns,
}

impl Isolated {
    const PORT: u16 = 3000;
    const DOCKER_API_PORT: u16 = 3001;

    fn start(dashboard_args: &[&str]) -> Self {
        let docker_api = Program::new(
            docker_api_binary(),
            &[
                format!("--web.listen-address=127.0.0.1:{}", Self::DOCKER_API_PORT),
                "--stats.interval=500ms".into(),
                "--api.heartbeat=1s".into(),
            ],
        );
        let mut args = vec![
            format!("--web.listen-address=127.0.0.1:{}", Self::PORT),
            format!(
                "--docker-api.url=http://127.0.0.1:{}",
                Self::DOCKER_API_PORT
            ),
        ];
        args.extend(dashboard_args.iter().map(|a| a.to_string()));
        let dashboard = Program::new(env!("CARGO_BIN_EXE_dashboard"), &args);
        let netns = SmallBufferNetns::start("dashboard", &[docker_api], &dashboard);
        let isolated = Self { netns };
        isolated
            .netns
            .wait_ready(&isolated.url("/api/containers"), Duration::from_secs(30));
        isolated
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", Self::PORT)
    }

    fn docker_api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", Self::DOCKER_API_PORT)
    }

    /// Waits until `check` holds on the metrics page at `url`.
    fn wait(&self, what: &str, url: &str, limit: Duration, check: impl Fn(&str) -> bool) {
        self.netns.wait_body(what, url, limit, |m| {
            testkit::wait::check(check(m), || stream_lines(m))
        });
    }
}

#[test]
fn a_relay_whose_browser_stops_reading_is_dropped_and_closes_docker_apis_stream() {
    require_docker();
    // Frames of a few KiB fill the namespace's small buffers within seconds.
    let _containers: Vec<Container> = (0..6).map(|_| Container::run(&[], "sleep 600")).collect();
    let isolated = Isolated::start(&["--docker-api.stream-write-deadline=2s"]);
    let mut browser = isolated
        .netns
        .silent_client(Isolated::PORT, "/api/stats/stream");
    let metrics = isolated.url("/metrics");
    isolated.wait(
        "one relayed stream",
        &metrics,
        Duration::from_secs(15),
        |m| sample_value(m, "dashboard_event_streams") == Some(1.0),
    );
    isolated.wait(
        "the relay dropped",
        &metrics,
        Duration::from_secs(120),
        |m| {
            sample_value(m, "dashboard_event_streams") == Some(0.0)
                && sample_value(
                    m,
                    "dashboard_requests_refused_total{reason=\"relay_write_deadline\"}",
                ) == Some(1.0)
        },
    );
    // The relay's end closed its stream on docker-api, freeing the slot there too: only the
    // dashboard's own event log is left streaming.
    let upstream = isolated.docker_api_url("/metrics");
    isolated.wait(
        "docker-api's stream closed",
        &upstream,
        Duration::from_secs(30),
        |m| sample_value(m, "docker_api_stream_clients") == Some(1.0),
    );
    let _ = browser.kill();
    let _ = browser.wait();
}
