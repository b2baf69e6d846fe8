//! Discovery against a Docker daemon stand-in on a unix socket that answers badly: a container
//! list that is huge, or has no end, an event stream with one endless line, and no answer at
//! all. Each ends discovery's sync with an error naming the path, and what the stand-in
//! managed to push into one answer stays near the cap (the client stopped reading there).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use container_stats::engine::{EngineApi, MAX_ANSWER_BYTES, MAX_LINE_BYTES};
use container_stats::Discovery;

/// How the stand-in answers.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// The container list: a `Content-Length` of 1 TiB, then bytes as fast as they are taken.
    HugeList,
    /// The container list: chunked, without end.
    EndlessList,
    /// An empty list, then an event stream that is one line without end.
    EndlessEventLine,
    /// Reads the request and says nothing.
    Silent,
}

struct FakeDaemon {
    socket: PathBuf,
    /// The most bytes written into one answer.
    most_sent: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl FakeDaemon {
    fn start(how: Misbehaviour) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let most_sent = Arc::new(AtomicUsize::new(0));
        let counter = most_sent.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || answer(s, how, &counter));
            }
        });
        Self {
            socket,
            most_sent,
            _dir: dir,
        }
    }

    fn client(&self, timeout: Duration) -> EngineApi {
        EngineApi::new(&format!("unix://{}", self.socket.display()), timeout).unwrap()
    }
}

/// The request's path, once its head has arrived.
fn read_path(s: &mut UnixStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).ok().filter(|n| *n > 0)?;
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.split_whitespace().nth(1).map(str::to_string)
}

/// Writes `chunk` until the client stops taking it, counting what went out.
fn flood(s: &mut UnixStream, chunk: &[u8], counter: &AtomicUsize) {
    let mut sent = 0usize;
    while s.write_all(chunk).is_ok() {
        sent += chunk.len();
        counter.fetch_max(sent, Ordering::SeqCst);
    }
}

fn answer(mut s: UnixStream, how: Misbehaviour, counter: &AtomicUsize) {
    while let Some(path) = read_path(&mut s) {
        let head = |extra: &str| {
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}\r\n")
        };
        match (how, path.starts_with("/containers/json")) {
            (Misbehaviour::Silent, _) => {
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            (Misbehaviour::HugeList, true) => {
                let _ = s.write_all(head("Content-Length: 1099511627776\r\n").as_bytes());
                flood(&mut s, &[b' '; 64 * 1024], counter);
                return;
            }
            (Misbehaviour::EndlessList, true) => {
                let _ = s.write_all(head("Transfer-Encoding: chunked\r\n").as_bytes());
                let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
                chunk.extend_from_slice(&[b' '; 64 * 1024]);
                chunk.extend_from_slice(b"\r\n");
                flood(&mut s, &chunk, counter);
                return;
            }
            (_, true) => {
                let _ = s.write_all(head("Content-Length: 2\r\n").as_bytes());
                let _ = s.write_all(b"[]");
            }
            (_, false) if path.starts_with("/events") => {
                // One event line that never ends: `{"Type":"container",` and spaces.
                let _ = s.write_all(head("Transfer-Encoding: chunked\r\n").as_bytes());
                let _ = s.write_all(b"14\r\n{\"Type\":\"container\",\r\n");
                let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
                chunk.extend_from_slice(&[b' '; 64 * 1024]);
                chunk.extend_from_slice(b"\r\n");
                flood(&mut s, &chunk, counter);
                return;
            }
            _ => {
                let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}");
            }
        }
    }
}

/// Waits for discovery's last error to contain `wanted`, and returns it.
async fn error_containing(discovery: &Discovery, wanted: &str, limit: Duration) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(e) = discovery.last_error().filter(|e| e.contains(wanted)) {
            return e;
        }
        assert!(
            t0.elapsed() < limit,
            "no error containing {wanted:?} within {limit:?}; last: {:?}",
            discovery.last_error()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one answer may have pushed: the cap, plus what the socket buffers held when the client
/// stopped reading.
fn assert_near_the_cap(daemon: &FakeDaemon, cap: usize) {
    let sent = daemon.most_sent.load(Ordering::SeqCst);
    assert!(
        sent < cap + 16 * 1024 * 1024,
        "{sent} bytes were taken in one answer (cap {cap})"
    );
}

#[tokio::test]
async fn a_huge_container_list_is_refused_at_the_cap() {
    let daemon = FakeDaemon::start(Misbehaviour::HugeList);
    let discovery = Discovery::with_client(daemon.client(Duration::from_secs(30)));
    let e = error_containing(&discovery, "/containers/json", Duration::from_secs(30)).await;
    // The announced length alone is refused: nothing of it needs to be read.
    assert!(
        e.contains(&format!("larger than {MAX_ANSWER_BYTES} bytes")),
        "{e}"
    );
    assert!(!discovery.docker_up());
    assert_near_the_cap(&daemon, MAX_ANSWER_BYTES);
}

#[tokio::test]
async fn an_endless_container_list_is_cut_off_at_the_cap() {
    let daemon = FakeDaemon::start(Misbehaviour::EndlessList);
    let discovery = Discovery::with_client(daemon.client(Duration::from_secs(30)));
    let e = error_containing(&discovery, "/containers/json", Duration::from_secs(60)).await;
    assert!(
        e.contains(&format!("larger than {MAX_ANSWER_BYTES} bytes")),
        "{e}"
    );
    assert!(!discovery.docker_up());
    assert!(daemon.most_sent.load(Ordering::SeqCst) >= MAX_ANSWER_BYTES / 2);
    assert_near_the_cap(&daemon, MAX_ANSWER_BYTES);
}

#[tokio::test]
async fn an_endless_event_line_is_cut_off_at_the_line_cap() {
    let daemon = FakeDaemon::start(Misbehaviour::EndlessEventLine);
    let discovery = Discovery::with_client(daemon.client(Duration::from_secs(30)));
    assert!(
        discovery.wait_synced(Duration::from_secs(30)).await,
        "the (empty) list was loaded"
    );
    let e = error_containing(&discovery, "/events", Duration::from_secs(60)).await;
    assert!(
        e.contains(&format!("longer than {MAX_LINE_BYTES} bytes")),
        "{e}"
    );
    assert_near_the_cap(&daemon, MAX_LINE_BYTES);
}

#[tokio::test]
async fn a_silent_daemon_times_out_instead_of_wedging_discovery() {
    let daemon = FakeDaemon::start(Misbehaviour::Silent);
    let discovery = Discovery::with_client(daemon.client(Duration::from_secs(1)));
    let e = error_containing(
        &discovery,
        "no answer to /containers/json",
        Duration::from_secs(30),
    )
    .await;
    assert!(e.contains("within 1s"), "{e}");
    assert!(!discovery.docker_up());
}
