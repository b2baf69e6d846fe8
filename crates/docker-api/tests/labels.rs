//! The label allow-list against the real Docker engine: a running and a stopped container carry
//! a secret label, an allowed key and a compose key; the secret is absent from every endpoint
//! (list, local and cluster scope, aggregate, stats, history, the event stream, /metrics), in
//! a cluster merge whose peer serves every label too; allowed keys are present.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::Api;
use serde_json::Value;
use testkit::docker::Container;
use testkit::free_port;

const DOCKER: &str = "unix:///var/run/docker.sock";
const SECRET: &str = "s3cret-basic-auth-hash-5f2c9";

fn find<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

fn labelled(verb_run: bool) -> Container {
    let args = [
        "--label",
        &format!("traefik.http.middlewares.auth.basicauth.users=admin:{SECRET}"),
        "--label",
        "team.name=ops",
        "--label",
        "com.docker.compose.project=cm-labels",
    ];
    if verb_run {
        Container::run(&args, "sleep 600")
    } else {
        Container::create(&args, "true")
    }
}

/// The first `seconds` of the event stream, starting a container once it is open (so a
/// `container` event with its fields is sent).
fn stream_text(api: &Api, seconds: u64) -> (String, Container) {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", api.process.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    conn.write_all(
        b"GET /api/stats/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let started = Instant::now();
    let mut text = String::new();
    let mut line = String::new();
    let mut late = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if late.is_none() && line.starts_with("event: stats") {
            late = Some(labelled(true));
        }
        text.push_str(&line);
    }
    (text, late.expect("no stats event on the stream"))
}

#[test]
fn docker_secret_labels_are_served_nowhere_and_allowed_ones_are() {
    testkit::docker::require_docker();
    testkit::docker::test_image();
    let running = labelled(true);
    let stopped = labelled(false);
    let (port_a, port_b) = (free_port(), free_port());
    // Node b would serve every label: the merge on node a must still drop the secret.
    let b = Api::start_on(
        port_b,
        DOCKER,
        &["--node.name=node-b", "--api.allowed-label=*"],
    );
    let a = Api::start_on(
        port_a,
        DOCKER,
        &[
            "--node.name=node-a",
            &format!("--cluster.peers=127.0.0.1:{port_b}"),
            "--api.allowed-label=com.docker.compose.*",
            "--api.allowed-label=team.name",
        ],
    );
    // Node b serves the secret (so the merge below has one to drop).
    let b_list = b.wait_for(
        "/api/containers?all=true",
        Duration::from_secs(30),
        |s, v| s == 200 && find(v, &stopped.name).is_some() && find(v, &running.name).is_some(),
    );
    assert!(
        b_list.to_string().contains(SECRET),
        "node b (allow *) should serve the label"
    );

    let list = a.wait_for(
        "/api/containers?all=true",
        Duration::from_secs(30),
        |s, v| {
            s == 200
                && v["nodes"]
                    .as_array()
                    .is_some_and(|n| n.len() == 2 && n.iter().all(|n| n["reachable"] == true))
                && v["containers"].as_array().is_some_and(|c| {
                    c.iter()
                        .filter(|c| c["name"] == running.name.as_str())
                        .count()
                        == 2
                })
        },
    );
    for c in list["containers"].as_array().unwrap() {
        if c["name"] == running.name.as_str() || c["name"] == stopped.name.as_str() {
            assert_eq!(c["labels"]["team.name"], "ops", "{c}");
            assert_eq!(
                c["labels"]["com.docker.compose.project"], "cm-labels",
                "{c}"
            );
            assert_eq!(c["labels"].as_object().unwrap().len(), 2, "{c}");
        }
    }
    let id = &running.id;
    let mut bodies = vec![list.to_string()];
    for path in [
        "/api/containers",
        "/api/containers?scope=local&all=true",
        "/api/containers?node=node-b&all=true",
        "/api/stats/aggregate",
        "/api/stats/history?window=1m",
        "/metrics",
        "/openapi.json",
        "/health",
    ]
    .into_iter()
    .map(String::from)
    .chain([
        format!("/api/containers/{id}/stats"),
        format!("/api/containers/{id}/history?window=1m"),
    ]) {
        let r = a.get(&path);
        assert!(r.status < 500, "{path}: {} {}", r.status, r.body);
        bodies.push(r.body);
    }
    let (stream, late) = stream_text(&a, 4);
    assert!(
        stream.contains(&late.name),
        "no event for the new container:\n{stream}"
    );
    bodies.push(stream);
    for body in &bodies {
        assert!(
            !body.contains(SECRET),
            "the secret label was served: {body}"
        );
        assert!(
            !body.contains("traefik."),
            "a label off the allow-list was served: {body}"
        );
    }
}
