//! Attacks on connections rather than requests, against the six services as they ship:
//! slowloris clients (a request head one byte at a time) must be answered 408 and closed after
//! `--web.request-header-timeout`, the service's descriptors must come back, and it must survive
//! (alive, `/health` within a second, RSS bounded); container-exporter must go on serving while
//! its Docker daemon answers without end.
//!
//! (Clients that stop reading a stream lose their socket after `--web.write-timeout`: that needs
//! a network namespace with small TCP buffers and is tested in docker-api's `stream_limits`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use abuse_tests::binaries::services;
use abuse_tests::service::{Backends, Target};
use abuse_tests::survival;

/// Slow connections opened at once against each service.
const SLOW_CLIENTS: usize = 8;

/// Open descriptors of `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One slowloris client: sends a byte of a never-ending request head every `pace`; `Some(what
/// came back)` once the server closed the connection.
struct Slow {
    stream: TcpStream,
    sent: usize,
    answer: Vec<u8>,
    closed: bool,
}

const HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

impl Slow {
    fn open(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nonblocking(true).unwrap();
        Self {
            stream,
            sent: 0,
            answer: Vec::new(),
            closed: false,
        }
    }

    /// Sends one more byte and takes what the server sent; marks the client closed when the
    /// server ended the connection.
    fn step(&mut self) {
        if self.closed {
            return;
        }
        let byte = HEAD.get(self.sent).copied().unwrap_or(b'a');
        match self.stream.write(&[byte]) {
            Ok(_) => self.sent += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => self.closed = true,
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => self.answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}

#[test]
fn slowloris_clients_get_408_and_are_closed_by_every_service() {
    let backends = Backends::start();
    let mut failures = Vec::new();
    for package in services() {
        let mut target = Target::start(package, &backends, &["--web.request-header-timeout=2s"]);
        let pid = target.process.pid();
        let before = fds(pid);
        let mut slow: Vec<Slow> = (0..SLOW_CLIENTS)
            .map(|_| Slow::open(target.port()))
            .collect();
        let t0 = Instant::now();
        while slow.iter().any(|s| !s.closed) && t0.elapsed() < Duration::from_secs(30) {
            slow.iter_mut().for_each(Slow::step);
            std::thread::sleep(Duration::from_millis(250));
        }
        let open = slow.iter().filter(|s| !s.closed).count();
        if open > 0 {
            failures.push(format!(
                "{package}: {open} of {SLOW_CLIENTS} slowloris connections still open after 30 s"
            ));
        }
        for s in &slow {
            let answer = String::from_utf8_lossy(&s.answer);
            if s.closed && !answer.starts_with("HTTP/1.1 408") {
                failures.push(format!(
                    "{package}: a slowloris client got {answer:?}, not a 408"
                ));
            }
        }
        drop(slow);
        // The service's descriptors come back to what they were (a few may come and go with its
        // own backend connections: allow two).
        let t0 = Instant::now();
        while fds(pid) > before + 2 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if fds(pid) > before + 2 {
            failures.push(format!(
                "{package}: {} descriptors after the slowloris clients left, {before} before",
                fds(pid)
            ));
        }
        if let Err(e) = survival::check(&mut target, "slowloris clients") {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "slowloris: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A Docker daemon stand-in on a unix socket: `_ping` and `version` answered, everything else
/// (the container list first) answered with a chunked body without end.
fn endless_daemon(listener: UnixListener) {
    for mut s in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend_from_slice(&[b' '; 64 * 1024]);
            chunk.extend_from_slice(b"\r\n");
            while s.write_all(&chunk).is_ok() {}
        });
    }
}

#[test]
fn container_exporter_serves_on_while_its_daemon_answers_without_end() {
    if !services().contains(&"container-exporter") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || endless_daemon(listener));
    let docker = format!("--docker=unix://{}", socket.display());
    let mut target = Target::start_with("container-exporter", &[], &[&docker]);
    // Several rounds of discovery's retries, each cut off at the cap.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) {
        target
            .scrape("/metrics")
            .unwrap_or_else(|e| panic!("container-exporter stopped serving /metrics: {e}"));
        survival::check(&mut target, "a daemon answering without end").unwrap();
        std::thread::sleep(Duration::from_secs(1));
    }
}
