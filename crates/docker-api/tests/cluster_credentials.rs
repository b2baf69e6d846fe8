//! Static peers protected as a fleet's agents are: real docker-api processes serving HTTPS with
//! basic auth from a web-config file (a test CA's certificate, a bcrypt user), asked by another
//! docker-api with `--cluster.peer-scheme=https`, the CA file and a password file, and with a
//! node name fixed per peer (`name=host:port`). Needs the Docker engine (each instance lists it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::Api;
use serde_json::Value;
use testkit::tls::ProtectedService;

const DOCKER: &str = "unix:///var/run/docker.sock";
const USER: &str = "central";
const PASSWORD: &str = "peer-s3cret-9f2c";
const WRONG_PASSWORD: &str = "not-the-peer-s3cret-77a1";

/// A CA, a certificate for 127.0.0.1 and localhost signed by it, a web-config file with TLS and
/// the central node's bcrypt user, and its password file.
fn make_pki() -> ProtectedService {
    ProtectedService::new("peer", USER, PASSWORD)
}

/// A protected agent named `name`.
fn agent(pki: &ProtectedService, name: &str) -> Api {
    Api::start(
        DOCKER,
        &[
            &format!("--web.config.file={}", pki.web_config.display()),
            &format!("--node.name={name}"),
        ],
    )
}

/// The central node asking `peers` over HTTPS with `password_file`.
fn central(pki: &ProtectedService, peers: &[String], password_file: &Path) -> Api {
    central_with(pki, peers, password_file, &[])
}

/// [`central`] with `extra` flags.
fn central_with(
    pki: &ProtectedService,
    peers: &[String],
    password_file: &Path,
    extra: &[&str],
) -> Api {
    let mut args = vec![
        "--node.name=central".to_string(),
        "--cluster.peer-scheme=https".to_string(),
        format!("--cluster.peer-ca-file={}", pki.ca.display()),
        format!("--cluster.peer-username={USER}"),
        format!("--cluster.peer-password-file={}", password_file.display()),
    ];
    args.extend(peers.iter().map(|p| format!("--cluster.peers={p}")));
    args.extend(extra.iter().map(|e| e.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let api = Api::start(DOCKER, &args);
    api.wait_for("/health", Duration::from_secs(20), |s, _| s == 200);
    api
}

fn node<'a>(list: &'a Value, address: &str) -> Option<&'a Value> {
    list["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["address"] == address)
}

#[test]
fn docker_peers_over_https_with_credentials_and_pinned_names() {
    testkit::docker::require_docker();
    let pki = make_pki();
    let b = agent(&pki, "node-b");
    let c = agent(&pki, "node-c");
    let b_address = format!("localhost:{}", b.process.port);
    let c_address = format!("localhost:{}", c.process.port);
    // node-c is pinned to a name it does not answer with.
    let peers = [format!("node-b={b_address}"), format!("node-x={c_address}")];
    let a = central(&pki, &peers, &pki.password_file);
    let list = a.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200
            && node(v, &b_address).is_some_and(|n| n["reachable"] == true)
            && node(v, &c_address).is_some_and(|n| n["error"].to_string().contains("names it"))
    });
    assert_eq!(node(&list, &b_address).unwrap()["node"], "node-b", "{list}");
    let refused = node(&list, &c_address).unwrap();
    assert_eq!(refused["reachable"], false, "{refused}");
    // Listed under its pinned name, with the reason.
    assert_eq!(refused["node"], "node-x", "{refused}");
    let why = refused["error"].as_str().unwrap();
    assert!(
        why.contains("\"node-c\"") && why.contains("names it \"node-x\""),
        "{why}"
    );
    // ?node= finds a pinned peer by its name.
    let (status, only_b) = a.get_json("/api/containers?node=node-b");
    assert_eq!(status, 200, "{only_b}");
    assert!(
        only_b["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["node"] == "node-b"),
        "{only_b}"
    );

    // Wrong credentials: the peer is unreachable, and says why.
    let wrong_password_file = pki.file("wrong-password", WRONG_PASSWORD);
    let d = central(&pki, &[format!("node-b={b_address}")], &wrong_password_file);
    let list = d.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && node(v, &b_address).is_some_and(|n| n["error"].to_string().contains("401"))
    });
    let denied = node(&list, &b_address).unwrap();
    assert_eq!(denied["reachable"], false, "{denied}");
    assert_eq!(denied["node"], "node-b", "{denied}");
    let why = denied["error"].as_str().unwrap();
    assert!(
        why.contains("HTTP 401") && why.contains("cluster.peer_password_file"),
        "{why}"
    );
    let (_, aggregate) = d.get_json("/api/stats/aggregate");
    assert_eq!(
        aggregate["unreachable_nodes"],
        serde_json::json!(["node-b"])
    );

    // The password is in no answer and no log (nor the start-up line naming the peers).
    for api in [&a, &d] {
        let mut seen = api.process.logs();
        for path in [
            "/api/containers",
            "/api/stats/aggregate",
            "/metrics",
            "/health",
        ] {
            seen.push_str(&api.get(path).body);
        }
        for secret in [PASSWORD, WRONG_PASSWORD] {
            assert!(!seen.contains(secret), "the password shows");
        }
    }
}

#[test]
fn docker_peer_with_a_certificate_from_another_ca_is_unreachable() {
    testkit::docker::require_docker();
    let pki = make_pki();
    let other = make_pki();
    let b = agent(&pki, "node-b");
    let b_address = format!("localhost:{}", b.process.port);
    // Checked against another CA: the handshake fails, and says so.
    let a = central(&other, std::slice::from_ref(&b_address), &pki.password_file);
    let list = a.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && node(v, &b_address).is_some()
    });
    let peer = node(&list, &b_address).unwrap();
    assert_eq!(peer["reachable"], false, "{peer}");
    let why = peer["error"].as_str().unwrap().to_lowercase();
    assert!(why.contains("certificate"), "{why}");
}

/// Peers found by address (a Swarm task's, a fleet host's) whose certificates name the service
/// alone: with `--cluster.peer-server-name` they are checked against that name and answer; without
/// it the address is checked and the handshake fails.
#[test]
fn docker_peer_certificate_checked_against_the_configured_server_name() {
    testkit::docker::require_docker();
    let pki = ProtectedService::for_names("swarm", USER, PASSWORD, "DNS:cluster-docker-api");
    let b = agent(&pki, "node-b");
    let b_address = format!("127.0.0.1:{}", b.process.port);
    let peers = std::slice::from_ref(&b_address);

    let by_address = central(&pki, peers, &pki.password_file);
    let list = by_address.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && node(v, &b_address).is_some()
    });
    let peer = node(&list, &b_address).unwrap();
    assert_eq!(peer["reachable"], false, "{peer}");
    let why = peer["error"].as_str().unwrap().to_lowercase();
    assert!(why.contains("certificate"), "{why}");

    let by_name = central_with(
        &pki,
        peers,
        &pki.password_file,
        &["--cluster.peer-server-name=cluster-docker-api"],
    );
    let list = by_name.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && node(v, &b_address).is_some_and(|n| n["reachable"] == true)
    });
    assert_eq!(node(&list, &b_address).unwrap()["node"], "node-b", "{list}");

    // A name the certificate does not carry is refused like an address it does not carry.
    let other_name = central_with(
        &pki,
        peers,
        &pki.password_file,
        &["--cluster.peer-server-name=cluster-dashboard"],
    );
    let list = other_name.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && node(v, &b_address).is_some()
    });
    let peer = node(&list, &b_address).unwrap();
    assert_eq!(peer["reachable"], false, "{peer}");
}
