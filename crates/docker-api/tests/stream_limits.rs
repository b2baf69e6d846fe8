//! Event-stream clients that stop reading, against the real binary and the real Docker engine:
//! beyond the per-address cap they are refused at once, and one that leaves frames untaken for
//! the write deadline is dropped, freeing its slot, and loses its socket too: the server's
//! `--web.write-timeout` has the kernel abort the connection, and docker-api closes its end.
//!
//! The write-deadline test runs docker-api in a network namespace of its own (root, `unshare`,
//! `nsenter`) whose TCP buffers are a few KiB: on the host's loopback a client that never reads
//! would absorb megabytes before any write blocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Child;
use std::time::Duration;

use common::Api;
use testkit::docker::Container;
use testkit::exposition::sample_value;
use testkit::netns::{Program, SmallBufferNetns};
use testkit::stream_caps::EventStreams;

const DOCKER: &str = "unix:///var/run/docker.sock";

/// A series' value; a series that is not there fails the test.
fn metric(text: &str, series: &str) -> f64 {
    sample_value(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[test]
fn stream_clients_beyond_the_per_address_cap_are_refused_at_once() {
    testkit::docker::require_docker();
    let port = testkit::free_port();
    let api = Api::start_on(port, DOCKER, &["--api.max-stream-clients-per-address=2"]);
    api.wait_for("/health", Duration::from_secs(20), |s, _| s == 200);
    let streams = EventStreams {
        port,
        path: "/api/stats/stream",
        headers: &[],
    };
    let mut held = streams.fill_address_cap(2);
    let metrics = api.get("/metrics").body;
    assert_eq!(
        metric(
            &metrics,
            "docker_api_requests_refused_total{reason=\"stream_clients_per_address\"}"
        ),
        1.0,
        "{metrics}"
    );
    // A client that goes away gives its place back.
    streams.expect_place_given_back(held.remove(0), Duration::from_secs(20));
}

/// docker-api in a network namespace of its own with tiny TCP buffers (testkit::netns).
struct Isolated {
    netns: SmallBufferNetns,
    port: u16,
}

impl Isolated {
    fn start(args: &[&str]) -> Self {
        let port = 3001;
        let mut all = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--docker.host={DOCKER}"),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let program = Program::new(env!("CARGO_BIN_EXE_docker-api"), &all);
        let isolated = Self {
            netns: SmallBufferNetns::start("docker-api", &[], &program),
            port,
        };
        isolated
            .netns
            .wait_ready(&isolated.url("/api/containers"), Duration::from_secs(30));
        isolated
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn logs(&self) -> String {
        self.netns.logs()
    }

    /// `curl -s ARGS` inside the namespace; its stdout.
    fn curl(&self, args: &[&str]) -> String {
        self.netns.curl(args)
    }

    /// A client in the namespace that opens the event stream and never reads a byte.
    fn silent_client(&self) -> Child {
        self.netns.silent_client(self.port, "/api/stats/stream")
    }

    /// The socket inodes of connections accepted on docker-api's port that it holds open
    /// (its namespace's /proc/net/tcp: local port `port`, not listening; matched to its fds).
    /// An aborted connection leaves /proc/net/tcp at once: only its descriptor tells it is
    /// still held, so callers keep the inodes seen while the connections were up.
    fn accepted_sockets(&self) -> Vec<String> {
        let pid = self.netns.pid();
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
        let port = format!(":{:04X}", self.port);
        let inodes: Vec<String> = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() > 9 && f[1].ends_with(&port) && f[3] != "0A")
            .map(|f| format!("socket:[{}]", f[9]))
            .collect();
        self.held_fds()
            .into_iter()
            .filter(|t| inodes.contains(t))
            .collect()
    }

    /// What docker-api's descriptors point to.
    fn held_fds(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/fd", self.netns.pid()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|t| t.to_string_lossy().into_owned())
            .collect()
    }

    fn metrics(&self) -> String {
        self.curl(&[&self.url("/metrics")])
    }

    /// Waits until `check` holds on `/metrics`, or panics with docker-api's series and the log.
    fn wait_metrics(&self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) {
        self.netns
            .wait_body(what, &self.url("/metrics"), limit, |text| {
                testkit::wait::check(check(text), || {
                    text.lines()
                        .filter(|l| l.starts_with("docker_api_"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            });
    }
}

#[test]
fn a_stream_client_that_stops_reading_is_dropped_after_the_write_deadline() {
    testkit::docker::require_docker();
    // Frames of a few KiB fill the namespace's small buffers within seconds.
    let _containers: Vec<Container> = (0..6).map(|_| Container::run(&[], "sleep 600")).collect();
    let api = Isolated::start(&[
        "--stats.interval=500ms",
        "--api.heartbeat=1s",
        "--api.max-stream-clients=2",
        "--api.stream-write-deadline=2s",
        // Well past the stream deadline, so that it is the stream that drops them first even
        // on a loaded machine (at 5 s the kernel's timeout once won the race in CI), and the
        // kernel that then closes their sockets.
        "--web.write-timeout=10s",
    ]);
    let mut silent: Vec<Child> = (0..2).map(|_| api.silent_client()).collect();
    api.wait_metrics("two stream clients", Duration::from_secs(15), |m| {
        sample_value(m, "docker_api_stream_clients") == Some(2.0)
    });
    let silent_sockets = api.accepted_sockets();
    assert!(
        silent_sockets.len() >= 2,
        "the silent clients' connections: {silent_sockets:?}"
    );
    let refused = api.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &api.url("/api/stats/stream"),
    ]);
    assert_eq!(refused, "503", "a third client while both slots are held");
    // Neither reads: once their buffers are full, the deadline drops them.
    api.wait_metrics(
        "the silent clients dropped",
        Duration::from_secs(120),
        |m| sample_value(m, "docker_api_stream_clients") == Some(0.0),
    );
    let metrics = api.metrics();
    assert_eq!(
        metric(
            &metrics,
            "docker_api_requests_refused_total{reason=\"stream_write_deadline\"}"
        ),
        2.0
    );
    // Their slots are free again: a new client gets the stream (curl gives up after 2 s).
    let accepted = api.curl(&[
        "-m",
        "2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &api.url("/api/stats/stream"),
    ]);
    assert_eq!(accepted, "200");
    // The silent clients are still there, not reading: docker-api must have closed its end of
    // their connections (their slots alone coming back is not enough).
    testkit::wait::expect(
        "docker-api closing its end of the silent clients' connections",
        Duration::from_secs(60),
        || {
            let held: Vec<String> = api
                .held_fds()
                .into_iter()
                .filter(|t| silent_sockets.contains(t))
                .collect();
            testkit::wait::check(held.is_empty(), || {
                format!("it still holds {held:?}; log:\n{}", api.logs())
            })
        },
    );
    for c in &mut silent {
        let _ = c.kill();
        let _ = c.wait();
    }
}
