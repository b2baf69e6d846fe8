//! Cluster mode with real docker-api processes on loopback, all reading the real Docker engine,
//! each with its own `--node.name` and `--cluster.peers` pointing at the others: containers are
//! tagged with their node, `?node=` narrows, the aggregate sums the nodes, a peer that accepts
//! but never answers or that was killed is listed unreachable and the answer still comes within
//! the peer timeout, a restarted peer is found again. The swarm endpoints are checked against
//! this engine as it is (it is not put into a swarm here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::Api;
use serde_json::Value;
use testkit::docker::Container;
use testkit::free_port;

const DOCKER: &str = "unix:///var/run/docker.sock";
const PEER_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on a loaded 2-core machine, on top of the peer timeout.
const MARGIN: Duration = Duration::from_millis(1500);

fn node(name: &str, port: u16, peers: &[String], extra: &[&str]) -> Api {
    let mut args = vec![
        format!("--node.name={name}"),
        format!("--cluster.peer-timeout={}ms", PEER_TIMEOUT.as_millis()),
    ];
    args.extend(peers.iter().map(|p| format!("--cluster.peers={p}")));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let api = Api::start_on(port, DOCKER, &args);
    api.wait_for("/health", Duration::from_secs(20), |s, _| s == 200);
    api
}

/// GETs `path`, returning the JSON and how long the answer took.
fn timed(api: &Api, path: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (status, body) = api.get_json(path);
    (status, body, started.elapsed())
}

fn node_entry<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes in {body}"))
        .iter()
        .find(|n| n["node"] == name)
        .unwrap_or_else(|| panic!("node {name} missing in {body}"))
}

fn nodes_of(body: &Value, container: &str) -> Vec<String> {
    let mut nodes: Vec<String> = body["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == container)
        .map(|c| c["node"].as_str().unwrap().to_string())
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn containers_are_tagged_narrowed_and_summed_across_nodes_while_a_silent_peer_times_out() {
    testkit::docker::require_docker();
    let c = Container::run(&[], "sleep 600");
    // Accepts connections (the kernel completes them into the backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let (pa, pb) = (free_port(), free_port());
    let alpha = node(
        "alpha",
        pa,
        // Itself (skipped), a peer by DNS name, the silent one.
        &[
            format!("127.0.0.1:{pa}"),
            format!("localhost:{pb}"),
            silent_addr.clone(),
        ],
        &[],
    );
    let beta = node("beta", pb, &[format!("127.0.0.1:{pa}")], &[]);

    let list = alpha.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && nodes_of(v, &c.name) == ["alpha", "beta"]
    });
    // Every container carries its node; the two nodes read the same engine here, so each
    // container appears once per node.
    assert!(list["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["node"] == "alpha" || c["node"] == "beta"));
    assert_eq!(list["node"], "alpha");
    assert_eq!(
        list["count"].as_u64().unwrap() as usize,
        list["containers"].as_array().unwrap().len()
    );

    let (status, list, took) = timed(&alpha, "/api/containers");
    assert_eq!(status, 200);
    assert!(
        took < PEER_TIMEOUT + MARGIN,
        "the answer took {took:?} with a silent peer (timeout {PEER_TIMEOUT:?})"
    );
    let nodes = list["nodes"].as_array().unwrap();
    assert_eq!(
        nodes.len(),
        3,
        "alpha once (not also as its own peer): {list}"
    );
    let a = node_entry(&list, "alpha");
    assert_eq!(
        (a["address"].as_str(), a["reachable"].as_bool()),
        (Some("local"), Some(true))
    );
    let b = node_entry(&list, "beta");
    assert_eq!(b["address"], format!("localhost:{pb}"));
    assert_eq!(b["reachable"], true);
    assert!(b.get("error").is_none());
    let s = node_entry(&list, &silent_addr);
    assert_eq!(s["reachable"], false);
    assert!(
        s["error"].as_str().unwrap().contains("no answer within 1s"),
        "{s}"
    );
    for n in [a, b] {
        let tagged = list["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["node"] == n["node"])
            .count();
        assert_eq!(n["containers"].as_u64().unwrap() as usize, tagged);
    }

    // Narrowed to one node, from either side.
    let (status, only_beta, took) = timed(&alpha, "/api/containers?node=beta");
    assert_eq!(status, 200, "{only_beta}");
    assert!(took < PEER_TIMEOUT + MARGIN, "{took:?}");
    assert_eq!(nodes_of(&only_beta, &c.name), ["beta"]);
    assert!(only_beta["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["node"] == "beta"));
    assert_eq!(only_beta["nodes"].as_array().unwrap().len(), 1);
    let (status, only_alpha) = beta.get_json("/api/containers?node=alpha&all=true");
    assert_eq!(status, 200);
    assert_eq!(nodes_of(&only_alpha, &c.name), ["alpha"]);
    // The local view is this node's alone, in the single-node shape.
    let (status, local) = alpha.get_json("/api/containers?scope=local");
    assert_eq!(status, 200);
    assert!(local.get("nodes").is_none(), "{local}");
    assert_eq!(nodes_of(&local, &c.name), ["alpha"]);
    let (status, unknown) = alpha.get_json("/api/containers?node=gamma");
    assert_eq!(
        (status, &unknown["error"]),
        (404, &Value::from("no such node: gamma"))
    );
    assert_eq!(
        alpha.get_json("/api/containers?scope=local&node=beta").0,
        404
    );
    for bad in ["node=a/b", "node=-x", "scope=all", "scope=", "node="] {
        let (status, body) = alpha.get_json(&format!("/api/containers?{bad}"));
        assert_eq!(
            (status, body["status"].as_u64()),
            (400, Some(400)),
            "{bad}: {body}"
        );
        assert_eq!(
            alpha.get_json(&format!("/api/stats/aggregate?{bad}")).0,
            400,
            "{bad}"
        );
    }

    // The aggregate: totals over the reachable nodes, each node's own, the silent one left out.
    let agg = alpha.wait_for("/api/stats/aggregate", Duration::from_secs(20), |s, v| {
        s == 200 && nodes_of(v, &c.name) == ["alpha", "beta"]
    });
    let (status, agg2, took) = timed(&alpha, "/api/stats/aggregate");
    assert_eq!(status, 200);
    assert!(took < PEER_TIMEOUT + MARGIN, "{took:?}");
    for agg in [&agg, &agg2] {
        assert_eq!(agg["unreachable_nodes"], serde_json::json!([silent_addr]));
        let nodes = agg["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 3);
        let reachable: Vec<&Value> = nodes.iter().filter(|n| n["reachable"] == true).collect();
        let sum_u = |key: &str| {
            reachable
                .iter()
                .map(|n| n[key].as_u64().unwrap())
                .sum::<u64>()
        };
        let sum_f = |key: &str| {
            reachable
                .iter()
                .map(|n| n[key].as_f64().unwrap())
                .sum::<f64>()
        };
        assert_eq!(
            agg["running"].as_u64().unwrap(),
            sum_u("containers_running")
        );
        assert_eq!(
            agg["total_containers"].as_u64().unwrap(),
            sum_u("total_containers")
        );
        assert_eq!(
            agg["total_memory_usage_bytes"].as_u64().unwrap(),
            sum_u("memory_usage_bytes")
        );
        assert_eq!(
            agg["host_memory_bytes"].as_u64().unwrap(),
            sum_u("host_memory_bytes")
        );
        assert!((agg["total_cpu_percent"].as_f64().unwrap() - sum_f("cpu_percent")).abs() < 0.02);
        // Each container's figures are in the node total they are tagged with.
        for n in &reachable {
            let mem: u64 = agg["containers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["node"] == n["node"])
                .map(|c| c["memory"]["usage_bytes"].as_u64().unwrap())
                .sum();
            assert_eq!(mem, n["memory_usage_bytes"].as_u64().unwrap(), "{n}");
        }
        assert!(
            node_entry(agg, "beta")["containers_running"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
    let (status, narrowed) = alpha.get_json("/api/stats/aggregate?node=beta");
    assert_eq!(status, 200);
    assert_eq!(narrowed["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(narrowed["unreachable_nodes"], serde_json::json!([]));
    assert!(narrowed["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["node"] == "beta"));
    let (status, local) = beta.get_json("/api/stats/aggregate?scope=local");
    assert_eq!(status, 200);
    assert_eq!(local["node"], "beta");
    assert!(local.get("nodes").is_none());
    drop(silent);
}

#[test]
fn a_killed_peer_is_listed_unreachable_by_name_and_found_again_after_a_restart() {
    testkit::docker::require_docker();
    let (pa, pb) = (free_port(), free_port());
    let alpha = node("alpha", pa, &[format!("127.0.0.1:{pb}")], &[]);
    let beta = node("beta", pb, &[format!("127.0.0.1:{pa}")], &[]);
    alpha.wait_for("/api/stats/aggregate", Duration::from_secs(30), |s, v| {
        s == 200 && v["unreachable_nodes"] == serde_json::json!([])
    });

    drop(beta);
    let (status, agg, took) = timed(&alpha, "/api/stats/aggregate");
    assert_eq!(status, 200, "{agg}");
    assert!(took < PEER_TIMEOUT + MARGIN, "{took:?}");
    // Named by the name it last answered with.
    assert_eq!(agg["unreachable_nodes"], serde_json::json!(["beta"]));
    let b = node_entry(&agg, "beta");
    assert_eq!(b["reachable"], false);
    assert_eq!(b["address"], format!("127.0.0.1:{pb}"));
    assert!(
        b["error"].as_str().unwrap().contains("onnection refused"),
        "{b}"
    );
    assert!(agg["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["node"] == "alpha"));
    let (status, list) = alpha.get_json("/api/containers");
    assert_eq!(status, 200);
    assert_eq!(node_entry(&list, "beta")["reachable"], false);
    // Narrowing to the missing node lists it unreachable rather than unknown.
    let (status, only) = alpha.get_json("/api/containers?node=beta");
    assert_eq!(status, 200, "{only}");
    assert_eq!(only["count"], 0);
    assert_eq!(node_entry(&only, "beta")["reachable"], false);

    let _beta = node("beta", pb, &[format!("127.0.0.1:{pa}")], &[]);
    let back = alpha.wait_for("/api/stats/aggregate", Duration::from_secs(30), |s, v| {
        s == 200 && v["unreachable_nodes"] == serde_json::json!([])
    });
    assert_eq!(node_entry(&back, "beta")["reachable"], true);
}

#[test]
fn peers_are_found_through_dns_and_the_own_address_is_answered_locally() {
    testkit::docker::require_docker();
    let (pa, pb) = (free_port(), free_port());
    let pb_text = pb.to_string();
    let _beta = node("beta", pb, &[], &[]);
    // `localhost` stands in for `tasks.docker-api`: every address it resolves to is a peer.
    let alpha = node(
        "alpha",
        pa,
        &[],
        &[
            "--cluster.peers-dns=localhost",
            &format!("--cluster.peer-port={pb_text}"),
        ],
    );
    let list = alpha.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200
            && v["nodes"].as_array().is_some_and(|n| {
                n.iter()
                    .any(|n| n["node"] == "beta" && n["reachable"] == true)
            })
    });
    assert_eq!(
        node_entry(&list, "beta")["address"],
        format!("127.0.0.1:{pb}")
    );
    // Resolving to its own address and port: nothing to ask but itself, answered locally.
    let pc = free_port();
    let gamma = node(
        "gamma",
        pc,
        &[],
        &[
            "--cluster.peers-dns=localhost",
            &format!("--cluster.peer-port={pc}"),
        ],
    );
    let (status, own) = gamma.get_json("/api/containers");
    assert_eq!(status, 200);
    let nodes = own["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{own}");
    assert_eq!(
        (nodes[0]["node"].as_str(), nodes[0]["address"].as_str()),
        (Some("gamma"), Some("local"))
    );
    // No request reached gamma's own API besides the one above.
    let metrics = gamma.get("/metrics").body;
    let families = testkit::parse_exposition(&metrics).unwrap();
    let served: f64 = families["http_requests_total"]
        .samples
        .iter()
        .filter(|s| s.labels.get("route").map(String::as_str) == Some("/api/containers"))
        .map(|s| s.value)
        .sum();
    assert_eq!(served, 1.0, "gamma asked itself over HTTP:\n{metrics}");
}

#[test]
fn without_peers_every_container_and_the_aggregate_carry_the_engine_name() {
    testkit::docker::require_docker();
    let c = Container::run(&[], "sleep 600");
    let engine_name = common::docker(&["info", "--format", "{{.Name}}"]);
    let api = Api::start(DOCKER, &[]);
    let list = api.wait_for("/api/containers", Duration::from_secs(30), |s, v| {
        s == 200 && !nodes_of(v, &c.name).is_empty()
    });
    assert_eq!(nodes_of(&list, &c.name), vec![engine_name.clone()]);
    assert!(list.get("nodes").is_none());
    let agg = api.wait_for("/api/stats/aggregate", Duration::from_secs(20), |s, v| {
        s == 200 && !nodes_of(v, &c.name).is_empty()
    });
    assert_eq!(agg["node"], engine_name.as_str());
    assert!(agg.get("unreachable_nodes").is_none());
    let (status, narrowed) = api.get_json(&format!("/api/containers?node={engine_name}"));
    assert_eq!(
        (status, nodes_of(&narrowed, &c.name)),
        (200, vec![engine_name.clone()])
    );
    assert_eq!(api.get_json("/api/stats/aggregate?node=elsewhere").0, 404);
}

#[test]
fn swarm_endpoints_follow_the_engines_swarm_role() {
    testkit::docker::require_docker();
    let manager = common::docker(&["info", "--format", "{{.Swarm.ControlAvailable}}"]) == "true";
    let api = Api::start(DOCKER, &[]);
    api.wait_for("/health", Duration::from_secs(20), |s, _| s == 200);
    for path in ["/api/nodes", "/api/services"] {
        let (status, body) = api.get_json(path);
        if manager {
            // Only when someone else made this engine a manager; these tests never do.
            assert_eq!(status, 200, "{path}: {body}");
            let what = if path == "/api/nodes" {
                "node"
            } else {
                "service"
            };
            let listed = common::docker(&[what, "ls", "-q"]).lines().count();
            assert_eq!(body["count"].as_u64().unwrap() as usize, listed, "{path}");
        } else {
            assert_eq!(
                (status, body),
                (
                    409,
                    serde_json::json!({"error": "this engine is not a swarm manager", "status": 409})
                ),
                "{path}"
            );
        }
    }
}
