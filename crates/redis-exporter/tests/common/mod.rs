//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Families whose names, chosen by redis_exporter, trip promtool's naming lints (a counter
/// without `_total`, a gauge with it, `_sec`/`_ms` units). Users' dashboards and rules use these
/// names, so they are kept; every other promtool complaint fails a test.
pub const UPSTREAM_NAMES_PROMTOOL_LINTS: &[&str] = &[
    "aof_current_rewrite_duration_sec",
    "aof_last_rewrite_duration_sec",
    "rdb_current_bgsave_duration_sec",
    "rdb_last_bgsave_duration_sec",
    "current_eviction_exceeded_time_ms",
    "eviction_exceeded_time_ms_total",
    "expire_cycle_cpu_time_ms_total",
    "dump_payload_sanitizations",
    "io_threaded_reads_processed",
    "io_threaded_writes_processed",
    "total_error_replies",
    "total_reads_processed",
    "total_writes_processed",
    "unexpected_error_replies",
    "expired_time_cap_reached_total",
    "migrate_cached_sockets_total",
    "memory_used_vm_total",
    "rdb_saves_total",
    "last_key_groups_scrape_duration_milliseconds",
];

/// promtool's complaints about `text`, less the naming lints of upstream's own names.
pub fn promtool_complaints(text: &str, namespace: &str) -> Vec<String> {
    testkit::promtool_check_metrics(text)
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("");
            let inherited = name
                .strip_prefix(namespace)
                .and_then(|n| n.strip_prefix('_'))
                .is_some_and(|n| UPSTREAM_NAMES_PROMTOOL_LINTS.contains(&n));
            !inherited
        })
        .map(str::to_string)
        .collect()
}

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private `redis-server` (Debian's) on a free port, with no persistence, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub password: Option<String>,
    pub socket: PathBuf,
    extra: Vec<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with_password(None)
    }

    pub fn start_with_password(password: Option<&str>) -> Self {
        Self::start_with(password, &[])
    }

    /// With extra `redis-server` arguments, e.g. `["--replicaof", "127.0.0.1", "6379"]`.
    pub fn start_with(password: Option<&str>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut server = Self {
            child: None,
            port: testkit::free_port(),
            password: password.map(str::to_string),
            socket: dir.path().join("redis.sock"),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let program = testkit::require_command("redis-server", "redis-server");
        let mut cmd = Command::new(program);
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--unixsocket")
            .arg(&self.socket)
            .args(["--unixsocketperm", "700"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer on port {} within 10s",
            self.port
        );
    }

    /// Whether something answers a RESP PING (PONG, or NOAUTH when a password is set).
    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf[0] == b'+' || buf[0] == b'-'))
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (its data is gone: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command with redis-cli and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let program = testkit::require_command("redis-cli", "redis-tools");
        let mut cmd = Command::new(program);
        cmd.args(["-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            cmd.args(["--no-auth-warning", "-a", p]);
        }
        let out = cmd.args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Feeds many commands to `redis-cli` through stdin in one go.
    pub fn cli_batch(&self, commands: &str) {
        let program = testkit::require_command("redis-cli", "redis-tools");
        let mut cmd = Command::new(program);
        cmd.args(["-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            cmd.args(["--no-auth-warning", "-a", p]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run redis-cli");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(commands.as_bytes())
            .expect("feed redis-cli");
        child.wait().expect("redis-cli");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Our exporter, started with `args` and environment, on a free port.
pub fn exporter(args: &[&str], env: &[(&str, &str)]) -> testkit::ServiceProcess {
    let port = testkit::free_port();
    let mut all: Vec<String> = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    all.extend(args.iter().map(|a| a.to_string()));
    testkit::ServiceProcess::start_with_env(env!("CARGO_BIN_EXE_redis-exporter"), &all, env, port)
}

/// Scrapes `url`, expecting 200, and parses the families.
pub fn scrape(url: &str) -> (String, std::collections::BTreeMap<String, testkit::Family>) {
    let response = testkit::get(url);
    assert_eq!(response.status, 200, "GET {url}: {}", response.body);
    let families = testkit::parse_exposition(&response.body).expect("parse exposition");
    (response.body, families)
}

pub fn up(families: &std::collections::BTreeMap<String, testkit::Family>) -> f64 {
    families
        .get("redis_up")
        .and_then(|f| f.value(&[]))
        .expect("redis_up present")
}

/// What a [`FakeRedis`] answers to each read from a client.
#[derive(Debug, Clone)]
pub enum FakeReply {
    /// These bytes, then nothing more on that read.
    Fixed(Vec<u8>),
    /// `+OK` to the first read (AUTH), then to each command an error quoting everything the
    /// client sent on the connection: a server that echoes the password back.
    Echo,
    /// `head`, then `bytes` more bytes of `x` as fast as the client reads them.
    Stream { head: Vec<u8>, bytes: u64 },
}

/// A hostile or recording peer on a free loopback port: it accepts every connection, records
/// what arrives, and answers each read with its [`FakeReply`]. Stopped on drop.
pub struct FakeRedis {
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeRedis {
    pub fn start(reply: FakeReply) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake redis");
        let port = listener.local_addr().expect("fake redis address").port();
        let fake = Self {
            port,
            received: Default::default(),
            connections: Default::default(),
            stop: Default::default(),
        };
        let (received, connections, stop) = (
            fake.received.clone(),
            fake.connections.clone(),
            fake.stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                let (received, reply) = (received.clone(), reply.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64 * 1024];
                    let mut on_this_connection = Vec::new();
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        received.lock().unwrap().extend_from_slice(&buf[..n]);
                        let first = on_this_connection.is_empty();
                        on_this_connection.extend_from_slice(&buf[..n]);
                        if let FakeReply::Stream { head, bytes } = &reply {
                            let chunk = vec![b'x'; 64 * 1024];
                            let mut left = *bytes;
                            let _ = stream.write_all(head);
                            while left > 0 && stream.write_all(&chunk).is_ok() {
                                left = left.saturating_sub(chunk.len() as u64);
                            }
                            continue;
                        }
                        let answer = match &reply {
                            FakeReply::Stream { .. } => Vec::new(),
                            FakeReply::Fixed(bytes) => bytes.clone(),
                            FakeReply::Echo if first => b"+OK\r\n".to_vec(),
                            FakeReply::Echo => {
                                let got = String::from_utf8_lossy(&on_this_connection)
                                    .replace("\r\n", " ");
                                let commands = buf[..n]
                                    .split(|&b| b == b'\n')
                                    .filter(|line| line.starts_with(b"*"))
                                    .count();
                                format!("-ERR you sent {got}\r\n")
                                    .repeat(commands.max(1))
                                    .into_bytes()
                            }
                        };
                        if stream.write_all(&answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Everything clients sent so far, as text.
    pub fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The status of a `/scrape` request refused by policy (a target off the allow-list, key checks
/// from the query string).
pub const REFUSED: u16 = 403;

/// GETs `url`, failing the test unless an answer comes within `limit` (a bounded check that the
/// exporter still serves, not a performance threshold).
pub fn get_within(url: &str, limit: Duration) -> testkit::http::Response {
    testkit::http::get_with(url, &[], limit)
        .unwrap_or_else(|e| panic!("no answer from {url} within {limit:?}: {e}"))
}

/// `s` percent-encoded for a query string value.
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of `<service>_requests_refused_total{reason}` on the exporter's `/metrics`.
pub fn refused(exp: &testkit::ServiceProcess, reason: &str) -> f64 {
    let (_, f) = scrape(&exp.url("/metrics"));
    f.get("redis_exporter_requests_refused_total")
        .and_then(|family| family.value(&[("reason", reason)]))
        .unwrap_or(0.0)
}

/// The peak resident memory of a process so far (`VmHWM`), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}
