#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The exporter and the Docker daemon, through a relay socket in front of the real daemon: what
//! it asks the daemon for, and the daemon going away and coming back (stopping the real daemon
//! would disturb everything else on the machine).

mod common;

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{exporter, scrape, scrape_until, value, Container};

const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Forwards connections on `path` to the real Docker socket until stopped.
struct Relay {
    path: PathBuf,
    stopped: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<UnixStream>>>,
    /// HTTP requests seen going to the daemon.
    requests: Arc<AtomicUsize>,
    /// Their request lines (`GET /v1.41/containers/json HTTP/1.1`), in order.
    lines: Arc<Mutex<Vec<String>>>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(path: &Path) -> Relay {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind relay socket");
        let stopped = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let (stop, conns, counter) = (stopped.clone(), open.clone(), requests.clone());
        let seen_lines = lines.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(upstream) = UnixStream::connect(DOCKER_SOCKET) else {
                    continue;
                };
                let (Ok(mut to_daemon), Ok(mut from_client)) =
                    (upstream.try_clone(), client.try_clone())
                else {
                    continue;
                };
                let (Ok(mut to_client), Ok(mut from_daemon)) =
                    (client.try_clone(), upstream.try_clone())
                else {
                    continue;
                };
                {
                    let mut list = conns.lock().unwrap();
                    list.push(client);
                    list.push(upstream);
                }
                let counter = counter.clone();
                let seen_lines = seen_lines.clone();
                std::thread::spawn(move || {
                    // Requests are counted by their request line's protocol marker.
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let seen = buf[..n].windows(10).filter(|w| w == b" HTTP/1.1\r").count();
                        counter.fetch_add(seen, Ordering::SeqCst);
                        seen_lines.lock().unwrap().extend(
                            String::from_utf8_lossy(&buf[..n])
                                .split("\r\n")
                                .filter(|l| l.ends_with(" HTTP/1.1"))
                                .map(str::to_string),
                        );
                        if to_daemon.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_daemon.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = io::copy(&mut from_daemon, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Relay {
            path: path.to_path_buf(),
            stopped,
            open,
            requests,
            lines,
            accept: Some(accept),
        }
    }

    fn stop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for conn in self.open.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

fn docker_up(f: &std::collections::BTreeMap<String, testkit::Family>) -> Option<f64> {
    f.get("container_exporter_docker_up")
        .map(|fam| fam.samples[0].value)
}

#[test]
fn docker_down_keeps_cgroup_metrics_flowing_and_recovers() {
    common::require_docker();
    let c = Container::run(&["-m", "32m"], "sleep 600");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let mut relay = Relay::start(&socket);
    let exp = exporter(&[&format!("--docker=unix://{}", socket.display())]);
    let name = c.name.as_str();
    let wait = Duration::from_secs(20);
    scrape_until(&exp, wait, "the container through the relay", |f| {
        docker_up(f) == Some(1.0) && value(f, "container_memory_usage_bytes", name, &[]).is_some()
    });

    relay.stop();
    let down = scrape_until(&exp, wait, "docker_up 0", |f| docker_up(f) == Some(0.0));
    assert!(
        value(&down, "container_memory_usage_bytes", name, &[]).is_some(),
        "cgroup metrics of a known container must keep flowing while Docker is away"
    );
    assert_eq!(
        value(&down, "container_spec_memory_limit_bytes", name, &[]),
        Some(33_554_432.0)
    );
    let health = testkit::http::get_with(&exp.url("/health"), &[], Duration::from_secs(5)).unwrap();
    assert_eq!(health.status, 503, "{}", health.body);
    // A few more scrapes while down: still 200, and the outage is logged once, not per scrape.
    for _ in 0..3 {
        let (_, f) = scrape(&exp);
        assert_eq!(docker_up(&f), Some(0.0));
    }
    assert_eq!(
        exp.logs().matches("docker daemon unreachable").count(),
        1,
        "{}",
        exp.logs()
    );

    let _relay = Relay::start(&socket);
    scrape_until(&exp, wait, "docker_up 1 after the daemon returned", |f| {
        docker_up(f) == Some(1.0)
    });
    assert!(exp.logs().contains("docker daemon reachable"));
}

#[test]
fn docker_unreachable_at_start_still_serves_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-docker.sock");
    let exp = exporter(&[&format!("--docker=unix://{}", missing.display())]);
    let (body, families) = scrape(&exp);
    assert_eq!(docker_up(&families), Some(0.0));
    assert!(
        families["container_cpu_usage_seconds_total"]
            .value(&[("id", "/")])
            .is_some(),
        "{body}"
    );
    let complaints = common::promtool_complaints(&body);
    assert!(complaints.is_empty(), "promtool: {complaints}");
}

#[test]
fn docker_scrapes_send_no_requests_to_the_daemon() {
    common::require_docker();
    let c = Container::run(&[], "sleep 600");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let relay = Relay::start(&socket);
    let exp = exporter(&[&format!("--docker=unix://{}", socket.display())]);
    let name = c.name.as_str();
    scrape_until(&exp, Duration::from_secs(20), "the container", |f| {
        value(f, "container_memory_usage_bytes", name, &[]).is_some()
    });
    std::thread::sleep(Duration::from_millis(500));
    let before = relay.requests.load(Ordering::SeqCst);
    assert!(
        before >= 2,
        "the listing and the event stream went through the relay"
    );
    for _ in 0..20 {
        let (_, f) = scrape(&exp);
        assert!(value(&f, "container_cpu_usage_seconds_total", name, &[]).is_some());
    }
    // Other tests start and stop containers meanwhile; their Docker events may make discovery
    // inspect a container (`/containers/{id}/json`). Scrapes themselves must cause nothing: no
    // listing, no stats, no other call.
    let lines = relay.lines.lock().unwrap().clone();
    let during: Vec<&String> = lines
        .iter()
        .skip(before)
        .filter(|l| !is_event_driven_inspect(l))
        .collect();
    assert!(during.is_empty(), "scrapes asked the daemon: {during:?}");
}

/// `GET /v1.41/containers/<id>/json HTTP/1.1`: what discovery sends after a Docker event.
fn is_event_driven_inspect(line: &str) -> bool {
    let Some(path) = line
        .strip_prefix("GET ")
        .and_then(|l| l.strip_suffix(" HTTP/1.1"))
    else {
        return false;
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(parts.as_slice(), [_version, "containers", id, "json"] if *id != "json" && !id.contains('?'))
}
