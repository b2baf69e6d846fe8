//! The forwarder's limits against hostile browsers and upstreams, with the real binaries: caps
//! on relayed event streams in total and per browser address, a relay dropped when its browser
//! stops reading, answers capped in bytes, and no upstream password in what it says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{docker_api_binary, json_body, start_dashboard};
use testkit::docker::{require_docker, Container};
use testkit::{free_port, get};

/// Opens the event stream through the dashboard from `source` (an address on 127/8); returns
/// the status once the response head arrived, and the connection, left unread.
fn open_stream(port: u16, source: &str) -> (u16, TcpStream) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut s = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        socket.connect(target).await.unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /api/stats/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let status = String::from_utf8_lossy(&head)
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
    let port = dashboard.port;
    let (a, first) = open_stream(port, "127.0.0.1");
    let (b, _b) = open_stream(port, "127.0.0.1");
    assert_eq!((a, b), (200, 200));
    let (same, _) = open_stream(port, "127.0.0.1");
    assert_eq!(same, 429, "a third stream to one address");
    let (other, _other) = open_stream(port, "127.0.0.2");
    assert_eq!(other, 200, "another address has its own allowance");
    let (over, _) = open_stream(port, "127.0.0.3");
    assert_eq!(over, 503, "a fourth stream in all");
    let metrics = get(&dashboard.url("/metrics")).body;
    assert_eq!(
        metric(&metrics, "dashboard_event_streams"),
        3.0,
        "{metrics}"
    );
    for reason in ["relay_streams_per_address", "relay_streams"] {
        let series = format!("dashboard_requests_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&metrics, &series), 1.0, "{series}\n{metrics}");
    }
    // Refused browsers cost docker-api nothing: it serves the three relayed streams only.
    let upstream = get(&docker_api.url("/metrics")).body;
    assert_eq!(metric(&upstream, "docker_api_stream_clients"), 3.0);
    // A browser that leaves gives its places back.
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

#[test]
fn an_answer_past_the_byte_cap_is_a_502_without_reading_it_all() {
    // A docker-api stand-in answering an endless body with no length.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[");
                let chunk = vec![b' '; 64 * 1024];
                while s.write_all(&chunk).is_ok() {}
            });
        }
    });
    let dashboard = start_dashboard(
        &format!("http://127.0.0.1:{port}"),
        &["--docker-api.max-body-bytes=1048576"],
    );
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
        metric(
            &metrics,
            "dashboard_requests_refused_total{reason=\"upstream_body_too_large\"}"
        ) >= 1.0,
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
    child: Child,
    port: u16,
    docker_api_port: u16,
    log: std::path::PathBuf,
    /// Where the shell wrote docker-api's pid (it runs in the background of the namespace).
    docker_api_pid: std::path::PathBuf,
}

impl Isolated {
    fn start(dashboard_args: &[&str]) -> Self {
        let ok = Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test needs root and unshare(1) to make a network namespace"
        );
        let (port, docker_api_port) = (3000, 3001);
        let log =
            std::env::temp_dir().join(format!("dashboard-isolated-{}.log", std::process::id()));
        let docker_api_pid =
            std::env::temp_dir().join(format!("dashboard-isolated-{}.pid", std::process::id()));
        let script = format!(
            "ip link set lo up && sysctl -qw net.ipv4.tcp_wmem='4096 8192 8192' net.ipv4.tcp_rmem='4096 8192 8192' && \
             {docker_api} --web.listen-address=127.0.0.1:{docker_api_port} --stats.interval=500ms --api.heartbeat=1s & \
             echo $! > {pid} && exec \"$0\" \"$@\"",
            docker_api = docker_api_binary().display(),
            pid = docker_api_pid.display()
        );
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c", &script, env!("CARGO_BIN_EXE_dashboard")])
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--docker-api.url=http://127.0.0.1:{docker_api_port}"
            ))
            .args(dashboard_args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let isolated = Self {
            child,
            port,
            docker_api_port,
            log,
            docker_api_pid,
        };
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
                "docker-api and the dashboard did not come up in their namespace; log:\n{}",
                isolated.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        isolated
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn docker_api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.docker_api_port)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn netns(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.child.id())
    }

    fn curl(&self, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(self.netns())
            .args(["curl", "-s", "-m", "5"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A browser in the namespace that opens the event stream and never reads a byte.
    fn silent_browser(&self) -> Child {
        Command::new("nsenter")
            .arg(self.netns())
            .args([
                "bash",
                "-c",
                &format!(
                    "exec 3<>/dev/tcp/127.0.0.1/{}; printf 'GET /api/stats/stream HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&3; exec sleep 600",
                    self.port
                ),
            ])
            .spawn()
            .unwrap()
    }

    fn wait(&self, what: &str, url: &str, limit: Duration, check: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let text = self.curl(&[url]);
            if check(&text) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}; last:\n{}\nlog:\n{}",
                text.lines()
                    .filter(|l| l.starts_with("dashboard_") || l.starts_with("docker_api_"))
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
        // docker-api was started in the background by the shell that became the dashboard.
        if let Ok(pid) = std::fs::read_to_string(&self.docker_api_pid) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_file(&self.docker_api_pid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn a_relay_whose_browser_stops_reading_is_dropped_and_closes_docker_apis_stream() {
    require_docker();
    // Frames of a few KiB fill the namespace's small buffers within seconds.
    let _containers: Vec<Container> = (0..6).map(|_| Container::run(&[], "sleep 600")).collect();
    let isolated = Isolated::start(&["--docker-api.stream-write-deadline=2s"]);
    let mut browser = isolated.silent_browser();
    let metrics = isolated.url("/metrics");
    isolated.wait(
        "one relayed stream",
        &metrics,
        Duration::from_secs(15),
        |m| metric(m, "dashboard_event_streams") == 1.0,
    );
    isolated.wait(
        "the relay dropped",
        &metrics,
        Duration::from_secs(120),
        |m| {
            metric(m, "dashboard_event_streams") == 0.0
                && metric(
                    m,
                    "dashboard_requests_refused_total{reason=\"relay_write_deadline\"}",
                ) == 1.0
        },
    );
    // The relay's end closed its stream on docker-api, freeing the slot there too.
    let upstream = isolated.docker_api_url("/metrics");
    isolated.wait(
        "docker-api's stream closed",
        &upstream,
        Duration::from_secs(30),
        |m| m.contains("docker_api_stream_clients 0"),
    );
    let _ = browser.kill();
    let _ = browser.wait();
}
