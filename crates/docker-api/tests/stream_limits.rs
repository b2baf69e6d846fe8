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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Api;
use testkit::docker::Container;

const DOCKER: &str = "unix:///var/run/docker.sock";

/// Opens the event stream from `source` (an address on 127/8) and returns the status once the
/// response head arrived; the stream is then left unread.
fn open_stream(port: u16, source: &str) -> (u16, TcpStream) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        socket.connect(target).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = stream;
    s.write_all(b"GET /api/stats/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, s)
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn stream_clients_beyond_the_per_address_cap_are_refused_at_once() {
    testkit::docker::require_docker();
    let port = testkit::free_port();
    let api = Api::start_on(port, DOCKER, &["--api.max-stream-clients-per-address=2"]);
    api.wait_for("/health", Duration::from_secs(20), |s, _| s == 200);
    let (a, first) = open_stream(port, "127.0.0.1");
    let (b, _second) = open_stream(port, "127.0.0.1");
    assert_eq!((a, b), (200, 200));
    let (third, _) = open_stream(port, "127.0.0.1");
    assert_eq!(third, 429, "a third stream from the same address");
    // Another address has its own allowance.
    let (other, _other) = open_stream(port, "127.0.0.2");
    assert_eq!(other, 200, "a stream from another address");
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
    drop(first);
    let start = Instant::now();
    loop {
        let (status, _s) = open_stream(port, "127.0.0.1");
        if status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the closed stream's place was not given back (last status {status})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// docker-api in a network namespace of its own with tiny TCP buffers.
struct Isolated {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Isolated {
    fn start(args: &[&str]) -> Self {
        let ok = Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test needs root and unshare(1) to make a network namespace"
        );
        let port = 3001;
        let log =
            std::env::temp_dir().join(format!("docker-api-isolated-{}.log", std::process::id()));
        let script = String::from(
            "ip link set lo up && sysctl -qw net.ipv4.tcp_wmem='4096 8192 8192' net.ipv4.tcp_rmem='4096 8192 8192' && exec \"$0\" \"$@\"",
        );
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c", &script, env!("CARGO_BIN_EXE_docker-api")])
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--docker.host={DOCKER}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let isolated = Self { child, port, log };
        let start = Instant::now();
        while isolated.curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &isolated.url("/api/containers"),
        ]) != "200"
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "docker-api did not come up in its namespace; log:\n{}",
                isolated.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        isolated
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn netns(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.child.id())
    }

    /// `curl -s ARGS` inside the namespace; its stdout.
    fn curl(&self, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(self.netns())
            .args(["curl", "-s", "-m", "5"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A client in the namespace that opens the event stream and never reads a byte.
    fn silent_client(&self) -> Child {
        let request = "GET /api/stats/stream HTTP/1.1\r\nHost: x\r\n\r\n";
        Command::new("nsenter")
            .arg(self.netns())
            .args([
                "bash",
                "-c",
                &format!(
                    "exec 3<>/dev/tcp/127.0.0.1/{}; printf '{}' >&3; exec sleep 600",
                    self.port,
                    request.replace('\r', "\\r").replace('\n', "\\n")
                ),
            ])
            .spawn()
            .unwrap()
    }

    /// The socket inodes of connections accepted on docker-api's port that it holds open
    /// (its namespace's /proc/net/tcp: local port `port`, not listening; matched to its fds).
    /// An aborted connection leaves /proc/net/tcp at once: only its descriptor tells it is
    /// still held, so callers keep the inodes seen while the connections were up.
    fn accepted_sockets(&self) -> Vec<String> {
        let pid = self.child.id();
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
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|t| t.to_string_lossy().into_owned())
            .collect()
    }

    fn metrics(&self) -> String {
        self.curl(&[&self.url("/metrics")])
    }

    /// Waits until `check` holds on `/metrics`, or panics with the last text and the log.
    fn wait_metrics(&self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let text = self.metrics();
            if check(&text) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}; metrics:\n{}\nlog:\n{}",
                text.lines()
                    .filter(|l| l.starts_with("docker_api_"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
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
        // Longer than the stream deadline, so that it is the stream that drops them first.
        "--web.write-timeout=5s",
    ]);
    let mut silent: Vec<Child> = (0..2).map(|_| api.silent_client()).collect();
    api.wait_metrics("two stream clients", Duration::from_secs(15), |m| {
        metric(m, "docker_api_stream_clients") == 2.0
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
        |m| metric(m, "docker_api_stream_clients") == 0.0,
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
    let start = Instant::now();
    loop {
        let held: Vec<String> = api
            .held_fds()
            .into_iter()
            .filter(|t| silent_sockets.contains(t))
            .collect();
        if held.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "docker-api still holds {held:?} of clients that stopped reading; log:\n{}",
            api.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for c in &mut silent {
        let _ = c.kill();
        let _ = c.wait();
    }
}
