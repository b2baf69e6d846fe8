//! Cluster mode against hostile peers: small HTTP servers on loopback that answer too much,
//! too slowly, with a redirect, under a name that is not theirs, or with counters at
//! `u64::MAX`. docker-api (real binary, real Docker engine) must list each one unreachable (or
//! refused) with the reason, keep its own answer sane, and answer `/health` within 1 s after.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Api;
use serde_json::{json, Value};
use testkit::free_port;

const DOCKER: &str = "unix:///var/run/docker.sock";

/// What a fake peer does with one request: the path asked for, how many requests came before.
type Behaviour = dyn Fn(&str, usize, &mut TcpStream) + Send + Sync;

/// A peer on a loopback port that answers every request with `behaviour`, counting requests.
struct FakePeer {
    address: String,
    requests: Arc<AtomicUsize>,
}

impl FakePeer {
    fn start(behaviour: impl Fn(&str, usize, &mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let count = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let behaviour = behaviour.clone();
                let count = count.clone();
                std::thread::spawn(move || {
                    let Some(path) = read_head(&mut stream) else {
                        return;
                    };
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    behaviour(&path, n, &mut stream);
                });
            }
        });
        Self { address, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The request line's path, once the whole head arrived.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace().nth(1).map(str::to_string)
}

fn respond(stream: &mut TcpStream, status: &str, extra_headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn container(node: &str, name: &str) -> Value {
    json!({
        "node": node, "id": format!("{name}-id"), "name": name, "image": "img",
        "state": "running", "status": "Up 1 second", "health": "none",
        "created": "2026-01-01T00:00:00Z", "started_at": null, "restart_count": 0,
        "ports": [], "labels": {}
    })
}

fn stats(node: &str, name: &str, big: u64) -> Value {
    json!({
        "node": node, "id": format!("{name}-id"), "name": name,
        "cpu": {"percent": 1.0, "online_cpus": 1, "usage_seconds": 1.0},
        "memory": {"usage_bytes": big, "working_set_bytes": big, "limit_bytes": big,
                   "percent": 1.0, "cache_bytes": 0},
        "network": {"rx_bytes": big, "tx_bytes": big, "rx_bytes_per_sec": 1.0, "tx_bytes_per_sec": 1.0},
        "blkio": {"read_bytes": big, "write_bytes": big, "read_bytes_per_sec": 1.0, "write_bytes_per_sec": 1.0},
        "pids": 1, "timestamp": "2026-01-01T00:00:00Z"
    })
}

/// A valid local answer from a node called `node`, to either path a peer is asked; every
/// counter at `big` and every rate at `rate`.
fn answer(path: &str, node: &str, big: u64, rate: f64) -> Vec<u8> {
    let body = if path.starts_with("/api/stats/aggregate") {
        json!({
            "node": node, "total_containers": big, "running": big, "paused": 0,
            "stopped": 0, "unhealthy": 0, "total_cpu_percent": rate,
            "total_memory_usage_bytes": big, "total_memory_limit_bytes": big,
            "total_memory_percent": 1.0, "host_memory_bytes": big,
            "network": {"rx_bytes": big, "tx_bytes": big, "rx_bytes_per_sec": rate, "tx_bytes_per_sec": rate},
            "blkio": {"read_bytes": big, "write_bytes": big, "read_bytes_per_sec": rate, "write_bytes_per_sec": rate},
            "containers": [stats(node, "fake-container", big)],
            "timestamp": "2026-01-01T00:00:00Z"
        })
    } else {
        json!({"node": node, "count": 1, "containers": [container(node, "fake-container")]})
    };
    serde_json::to_vec(&body).unwrap()
}

/// A peer answering honestly as `node`.
fn honest(node: &'static str) -> FakePeer {
    FakePeer::start(move |path, _, s| respond(s, "200 OK", "", &answer(path, node, 1, 1.0)))
}

/// docker-api named `alpha` in cluster mode with `peers`, a 1 s peer timeout, and `extra`.
fn alpha(peers: &[&str], extra: &[&str]) -> Api {
    let mut args = vec![
        "--node.name=alpha".to_string(),
        "--cluster.peer-timeout=1s".to_string(),
    ];
    args.extend(peers.iter().map(|p| format!("--cluster.peers={p}")));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let api = Api::start_on(free_port(), DOCKER, &args);
    api.wait_for(
        "/api/containers?scope=local",
        Duration::from_secs(20),
        |s, _| s == 200,
    );
    api
}

/// `/health` answers within 1 s, and the answer is the usual one.
fn health_is_prompt(api: &Api) {
    let r = testkit::http::get_with(&api.url("/health"), &[], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("/health within 1 s: {e}\nlogs:\n{}", api.process.logs()));
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "ok", "{v}");
}

fn entry<'a>(body: &'a Value, key: &str, value: &str) -> &'a Value {
    body["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes in {body}"))
        .iter()
        .find(|n| n[key] == value)
        .unwrap_or_else(|| panic!("no node with {key} {value} in {body}"))
}

/// The node entry for `address`: unreachable, with an error containing `why`.
fn refused(body: &Value, address: &str, why: &str) {
    let e = entry(body, "address", address);
    assert_eq!(e["reachable"], false, "{e}");
    let error = e["error"].as_str().unwrap_or_default();
    assert!(error.contains(why), "{address}: {error:?} lacks {why:?}");
}

fn refused_total(api: &Api, reason: &str) -> f64 {
    let text = api.get("/metrics").body;
    let series = format!("docker_api_requests_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn alpha_is_fine(body: &Value) {
    let own = entry(body, "address", "local");
    assert_eq!(
        (own["node"].as_str(), own["reachable"].as_bool()),
        (Some("alpha"), Some(true))
    );
}

#[test]
fn a_peer_answering_past_the_size_cap_is_cut_off_and_listed_unreachable() {
    testkit::docker::require_docker();
    let written = Arc::new(AtomicUsize::new(0));
    let total = written.clone();
    // An endless body with no length: only a cap stops the reader.
    let huge = FakePeer::start(move |_, _, s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
        );
        let chunk = vec![b' '; 64 * 1024];
        while s.write_all(&chunk).is_ok() {
            total.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    let api = alpha(&[&huge.address], &[]);
    let (status, body) = api.get_json("/api/containers");
    assert_eq!(status, 200, "{body}");
    alpha_is_fine(&body);
    refused(&body, &huge.address, "answer larger than 8388608 bytes");
    health_is_prompt(&api);
    assert!(refused_total(&api, "peer_answer_too_large") >= 1.0);
    // The reader stopped at the cap: the peer could write little more than that (the rest sat
    // in socket buffers) before the connection closed.
    std::thread::sleep(Duration::from_millis(500));
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 64 * 1024 * 1024,
        "{sent} bytes were taken from a peer capped at 8 MiB"
    );
}

#[test]
fn a_peer_trickling_its_answer_is_listed_unreachable_at_the_timeout() {
    testkit::docker::require_docker();
    let slow = FakePeer::start(|_, _, s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        );
        while s.write_all(b" ").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let api = alpha(&[&slow.address], &[]);
    let (status, body) = api.get_json("/api/stats/aggregate");
    assert_eq!(status, 200, "{body}");
    alpha_is_fine(&body);
    refused(&body, &slow.address, "no answer within 1s");
    health_is_prompt(&api);
}

#[test]
fn a_redirecting_peer_is_not_followed() {
    testkit::docker::require_docker();
    let target = honest("target");
    let location = format!(
        "Location: http://{}/api/containers?scope=local\r\n",
        target.address
    );
    let redirecting = FakePeer::start(move |_, _, s| respond(s, "302 Found", &location, b""));
    let api = alpha(&[&redirecting.address], &[]);
    let (status, body) = api.get_json("/api/containers");
    assert_eq!(status, 200, "{body}");
    alpha_is_fine(&body);
    refused(
        &body,
        &redirecting.address,
        "HTTP 302 (redirects are not followed)",
    );
    assert!(redirecting.requests() >= 1);
    assert_eq!(target.requests(), 0, "the redirect target was asked");
    health_is_prompt(&api);
}

#[test]
fn peers_claiming_this_nodes_name_another_peers_or_a_new_one_are_refused() {
    testkit::docker::require_docker();
    let impostor = honest("alpha");
    let gamma = honest("gamma");
    let twin = honest("gamma");
    // Answers as delta once, then as epsilon.
    let turncoat = FakePeer::start(|path, n, s| {
        let node = if n == 0 { "delta" } else { "epsilon" };
        respond(s, "200 OK", "", &answer(path, node, 1, 1.0));
    });
    let peers = [
        impostor.address.as_str(),
        gamma.address.as_str(),
        twin.address.as_str(),
        turncoat.address.as_str(),
    ];
    let api = alpha(&peers, &[]);
    let (status, first) = api.get_json("/api/containers");
    assert_eq!(status, 200, "{first}");
    alpha_is_fine(&first);
    refused(&first, &impostor.address, "claims to be this node");
    let g = entry(&first, "address", &gamma.address);
    assert_eq!(
        (g["node"].as_str(), g["reachable"].as_bool()),
        (Some("gamma"), Some(true))
    );
    refused(&first, &twin.address, "which");
    let d = entry(&first, "address", &turncoat.address);
    assert_eq!(
        (d["node"].as_str(), d["reachable"].as_bool()),
        (Some("delta"), Some(true))
    );
    // Only the accepted peers' containers are listed, each under its own node.
    let fakes: Vec<&str> = first["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "fake-container")
        .map(|c| c["node"].as_str().unwrap())
        .collect();
    assert_eq!(fakes, ["delta", "gamma"], "{first}");

    let (_, second) = api.get_json("/api/containers");
    refused(&second, &turncoat.address, "answered as \"delta\" before");
    let g = entry(&second, "address", &gamma.address);
    assert_eq!(g["reachable"], true, "{g}");
    refused(&second, &twin.address, "which");
    // ?node= cannot be steered to an impostor.
    let (status, only) = api.get_json("/api/containers?node=alpha");
    assert_eq!(status, 200, "{only}");
    assert!(only["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["node"] == "alpha" && c["name"] != "fake-container"));
    assert!(refused_total(&api, "peer_node_name") >= 3.0);
    health_is_prompt(&api);
}

#[test]
fn a_peer_reporting_u64_max_counters_saturates_the_sums() {
    testkit::docker::require_docker();
    let overflowing = FakePeer::start(|path, _, s| {
        respond(s, "200 OK", "", &answer(path, "big", u64::MAX, f64::MAX))
    });
    let honest_peer = honest("small");
    let api = alpha(&[&overflowing.address, &honest_peer.address], &[]);
    let (status, body) = api.get_json("/api/stats/aggregate");
    assert_eq!(status, 200, "{body}");
    alpha_is_fine(&body);
    assert_eq!(entry(&body, "node", "big")["reachable"], true, "{body}");
    for key in [
        "total_memory_usage_bytes",
        "total_memory_limit_bytes",
        "host_memory_bytes",
        "running",
        "total_containers",
    ] {
        assert_eq!(
            body[key].as_u64(),
            Some(u64::MAX),
            "{key} wrapped: {}",
            body[key]
        );
    }
    for key in ["rx_bytes", "tx_bytes"] {
        assert_eq!(
            body["network"][key].as_u64(),
            Some(u64::MAX),
            "network.{key}"
        );
    }
    for key in ["read_bytes", "write_bytes"] {
        assert_eq!(body["blkio"][key].as_u64(), Some(u64::MAX), "blkio.{key}");
    }
    // Rates stay numbers (an infinity would be written as null).
    assert_eq!(body["total_cpu_percent"].as_f64(), Some(f64::MAX));
    assert_eq!(body["network"]["rx_bytes_per_sec"].as_f64(), Some(f64::MAX));
    assert!(body["total_memory_percent"]
        .as_f64()
        .is_some_and(f64::is_finite));
    health_is_prompt(&api);
    let (status, _) = api.get_json("/api/containers");
    assert_eq!(status, 200);
}
