//! Shared pieces of docker-api's integration tests: a recording unix-socket relay in front of
//! the daemon, the service itself, and `docker stats` to compare with. The engine check, the
//! test image and labelled containers are testkit::docker's.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{free_port, ServiceProcess};

pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// `docker ARGS`, returning stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A unix socket in front of the Docker daemon that records every request line it forwards.
/// Stopping it closes every connection, as a daemon that went away would.
pub struct Relay {
    pub path: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stopped: bool,
}

impl Relay {
    pub fn start(path: PathBuf) -> Self {
        Self::start_recording(path, Arc::default())
    }

    fn start_recording(path: PathBuf, requests: Arc<Mutex<Vec<String>>>) -> Self {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind relay socket");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (s, r, c) = (stop.clone(), requests.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(upstream) = UnixStream::connect(DOCKER_SOCKET) else {
                            continue;
                        };
                        c.lock().unwrap().push(client.try_clone().unwrap());
                        c.lock().unwrap().push(upstream.try_clone().unwrap());
                        pipe(client, upstream, r.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            path,
            requests,
            stop,
            conns,
            thread: Some(thread),
            stopped: false,
        }
    }

    /// `METHOD /path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Stops accepting, closes every connection and removes the socket.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// A new relay on the same path that keeps recording into the same list.
    pub fn restart(mut self) -> Self {
        self.stop();
        let requests = self.requests.clone();
        let path = self.path.clone();
        Self::start_recording(path, requests)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pipe(client: UnixStream, upstream: UnixStream, requests: Arc<Mutex<Vec<String>>>) {
    let (mut client_r, mut upstream_w) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut pending = Vec::new();
        loop {
            let n = match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            // Requests from the Docker client here have no bodies: each head is one request.
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                if let Some(line) = head.lines().next() {
                    let mut parts = line.split(' ');
                    let (m, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    requests.lock().unwrap().push(format!("{m} {p}"));
                }
                pending.drain(..end + 4);
            }
            if upstream_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = upstream_w.shutdown(std::net::Shutdown::Write);
    });
    let (mut upstream_r, mut client_w) = (upstream, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut upstream_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Both);
    });
}

/// Whether a request the daemon saw is one of the read-only calls docker-api may make.
pub fn is_allowed_daemon_call(request: &str, stats_allowed: bool) -> bool {
    let Some((method, path)) = request.split_once(' ') else {
        return false;
    };
    if method != "GET" && method != "HEAD" {
        return false;
    }
    let path = path.split('?').next().unwrap_or("");
    // Strip the `/v1.41` prefix.
    let path = path.trim_start_matches('/');
    let path = match path.split_once('/') {
        Some((version, rest))
            if version.starts_with('v')
                && version[1..].starts_with(|c: char| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => path,
    };
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["_ping"] | ["version"] | ["info"] | ["events"] => true,
        // The swarm endpoints' listings (a manager's read-only views).
        ["nodes"] | ["services"] | ["tasks"] => true,
        ["containers", "json"] => true,
        ["containers", _, "json"] => true,
        ["containers", _, "stats"] => stats_allowed,
        _ => false,
    }
}

/// docker-api on a free port, pointed at `docker_host`.
pub struct Api {
    pub process: ServiceProcess,
}

impl Api {
    pub fn start(docker_host: &str, extra: &[&str]) -> Self {
        Self::start_on(free_port(), docker_host, extra)
    }

    /// On a given port (cluster tests know their peers' ports before they start).
    pub fn start_on(port: u16, docker_host: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--docker.host={docker_host}"),
            "--stats.interval=1s".to_string(),
            "--docker.list-refresh=2s".to_string(),
            "--log.level=info".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let process = ServiceProcess::start(env!("CARGO_BIN_EXE_docker-api"), &args, port);
        Self { process }
    }

    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    pub fn get(&self, path: &str) -> testkit::Response {
        testkit::http::get_with(&self.url(path), &[], Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nlogs:\n{}", self.process.logs()))
    }

    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path);
        let v = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("GET {path}: {} is not JSON ({e}): {}", r.status, r.body));
        (r.status, v)
    }

    /// Waits until `check` holds on `path`'s JSON, or panics with the last body and the logs.
    pub fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        check: impl Fn(u16, &Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        let mut last = (0, Value::Null);
        while start.elapsed() < limit {
            let r = self.get(path);
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            if check(r.status, &v) {
                return v;
            }
            last = (r.status, v);
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{path} did not reach the expected state within {limit:?}; last: {} {}\nlogs:\n{}",
            last.0,
            last.1,
            self.process.logs()
        );
    }
}

/// A raw HTTP/1.1 request with any method and headers; returns status, headers and body.
pub fn raw_request(port: u16, request: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// `docker stats --no-stream` of some containers: name → (cpu %, memory used bytes).
pub fn docker_stats(names: &[&str]) -> std::collections::HashMap<String, (f64, f64)> {
    let mut args = vec!["stats", "--no-stream", "--format", "{{json .}}"];
    args.extend(names);
    let out = docker(&args);
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let name = v["Name"].as_str().unwrap_or("").to_string();
            let cpu = v["CPUPerc"]
                .as_str()
                .unwrap_or("0%")
                .trim_end_matches('%')
                .parse()
                .unwrap_or(0.0);
            let mem = v["MemUsage"]
                .as_str()
                .unwrap_or("")
                .split(" / ")
                .next()
                .map(parse_size)
                .unwrap_or(0.0);
            (name, (cpu, mem))
        })
        .collect()
}

/// `1.5MiB`, `512KiB`, `2GiB`, `100B` as the docker CLI prints them.
pub fn parse_size(text: &str) -> f64 {
    let text = text.trim();
    let units = [
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("KiB", 1024.0),
        ("kB", 1000.0),
        ("MB", 1e6),
        ("GB", 1e9),
        ("B", 1.0),
    ];
    for (suffix, factor) in units {
        if let Some(n) = text.strip_suffix(suffix) {
            return n.trim().parse::<f64>().unwrap_or(0.0) * factor;
        }
    }
    0.0
}
