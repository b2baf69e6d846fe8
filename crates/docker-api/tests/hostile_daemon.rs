//! A Docker daemon stand-in on a unix socket that answers docker-api's container list with an
//! endless body: docker-api stops reading at its cap, reports the daemon unreachable with the
//! reason, and keeps answering `/health` within 1 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Api;
use serde_json::Value;

fn respond(s: &mut UnixStream, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

/// Serves one connection: requests one after another (keep-alive), each by its path.
fn serve(mut s: UnixStream, endless_bytes: Arc<AtomicUsize>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
        pending.drain(..end + 4);
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        // bollard puts the API version first (`/v1.47/...`); docker-api does not.
        let path = match target.strip_prefix("/v1.") {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
            None => target,
        };
        if path.starts_with("/version") {
            respond(
                &mut s,
                r#"{"Version":"29.0.0","ApiVersion":"1.52","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#,
            );
        } else if path.starts_with("/info") {
            respond(&mut s, r#"{"Name":"hostile","NCPU":1,"MemTotal":1000000}"#);
        } else if path.starts_with("/_ping") {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
        } else if path.starts_with("/containers/json")
            && (path.contains("all=1") || path.contains("all=true"))
        {
            // docker-api's own full list: a body without end.
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
            );
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while s.write_all(&chunk).is_ok() {
                sent += chunk.len();
                endless_bytes.fetch_max(sent, Ordering::SeqCst);
            }
            return;
        } else if path.starts_with("/containers/json") {
            respond(&mut s, "[]");
        } else if path.starts_with("/events") {
            // Open and silent, as a daemon with nothing happening.
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            std::thread::sleep(Duration::from_secs(600));
            return;
        } else {
            let _ = write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{{}}");
        }
    }
}

#[test]
fn a_daemon_answering_without_end_is_cut_off_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let endless_bytes = Arc::new(AtomicUsize::new(0));
    let counter = endless_bytes.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || serve(s, counter));
        }
    });
    let api = Api::start(
        &format!("unix://{}", socket.display()),
        &["--stats.source=daemon"],
    );
    let health = api.wait_for("/health", Duration::from_secs(30), |status, body| {
        status == 503
            && body["error"]
                .as_str()
                .is_some_and(|e| e.contains("larger than 67108864 bytes"))
    });
    assert_eq!(health["docker"]["reachable"], false, "{health}");
    let r = testkit::http::get_with(&api.url("/health"), &[], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("/health within 1 s: {e}"));
    assert_eq!(r.status, 503);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["service"], "docker-api");
    let (status, body) = api.get_json("/api/containers");
    assert_eq!(status, 503, "{body}");
    // Each reading stopped at the cap; the stand-in could push little more into the socket.
    let sent = endless_bytes.load(Ordering::SeqCst);
    assert!(
        sent < 96 * 1024 * 1024,
        "{sent} bytes were taken in one answer"
    );
}
