//! Cluster-wide answers from every node's local one: pure functions over what each node
//! returned (or why it did not), so they are tested on fixtures without a cluster.

use crate::model::{self, Aggregate, ContainerList, NodeStatus, NodeSummary};

/// One node's answer, or why there is none.
#[derive(Debug, Clone)]
pub struct NodeAnswer<T> {
    /// The node's name (for a node that did not answer: its last known name, or its address).
    pub node: String,
    /// `local`, or the peer's `host:port`.
    pub address: String,
    pub body: Result<T, String>,
}

/// Keeps one answer per node: a node reached under two addresses (its own address among the
/// peers, a name and an IP of the same peer, an old task's address and its replacement's)
/// counts once, by its first answer, or its first error when it never answered.
fn first_per_node<T>(answers: Vec<NodeAnswer<T>>) -> Vec<NodeAnswer<T>> {
    let mut out: Vec<NodeAnswer<T>> = Vec::with_capacity(answers.len());
    for a in answers {
        match out.iter_mut().find(|o| o.node == a.node) {
            None => out.push(a),
            Some(kept) if kept.body.is_err() && a.body.is_ok() => *kept = a,
            Some(_) => {}
        }
    }
    out.sort_by(|a, b| a.node.cmp(&b.node));
    out
}

/// Every reachable node's containers, sorted by node and name, and each node's status.
pub fn containers(local_node: &str, answers: Vec<NodeAnswer<ContainerList>>) -> ContainerList {
    let mut containers = Vec::new();
    let mut nodes = Vec::new();
    for a in first_per_node(answers) {
        match a.body {
            Ok(mut list) => {
                // A peer speaks for itself only: its containers carry the name it was
                // accepted under, whatever they say.
                for c in &mut list.containers {
                    c.node.clone_from(&a.node);
                }
                nodes.push(NodeStatus {
                    node: a.node,
                    address: a.address,
                    reachable: true,
                    error: None,
                    containers: list.containers.len(),
                });
                containers.extend(list.containers);
            }
            Err(error) => nodes.push(NodeStatus {
                node: a.node,
                address: a.address,
                reachable: false,
                error: Some(error),
                containers: 0,
            }),
        }
    }
    containers.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
    ContainerList {
        node: local_node.to_string(),
        count: containers.len(),
        containers,
        nodes: Some(nodes),
    }
}

/// Totals over every reachable node, each node's own totals, and the nodes left out.
/// `timestamp` is used when no node answered.
pub fn aggregate(
    local_node: &str,
    answers: Vec<NodeAnswer<Aggregate>>,
    timestamp: String,
) -> Aggregate {
    let mut total = empty_aggregate(local_node, timestamp);
    let mut nodes = Vec::new();
    let mut unreachable = Vec::new();
    let mut latest: Option<String> = None;
    for a in first_per_node(answers) {
        match a.body {
            Ok(mut node) => {
                for c in &mut node.containers {
                    c.node.clone_from(&a.node);
                }
                nodes.push(summary(&a.node, &a.address, &node));
                if latest.as_ref().is_none_or(|t| *t < node.timestamp) {
                    latest = Some(node.timestamp.clone());
                }
                add(&mut total, node);
            }
            Err(error) => {
                nodes.push(NodeSummary {
                    node: a.node.clone(),
                    address: a.address,
                    reachable: false,
                    error: Some(error),
                    containers_running: 0,
                    total_containers: 0,
                    cpu_percent: 0.0,
                    memory_usage_bytes: 0,
                    memory_percent: 0.0,
                    host_memory_bytes: 0,
                });
                unreachable.push(a.node);
            }
        }
    }
    total.total_cpu_percent = round2(total.total_cpu_percent);
    total.total_memory_percent = if total.host_memory_bytes > 0 {
        round2(total.total_memory_usage_bytes as f64 / total.host_memory_bytes as f64 * 100.0)
    } else {
        0.0
    };
    total
        .containers
        .sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
    if let Some(t) = latest {
        total.timestamp = t;
    }
    total.nodes = Some(nodes);
    total.unreachable_nodes = Some(unreachable);
    total
}

fn summary(node: &str, address: &str, a: &Aggregate) -> NodeSummary {
    NodeSummary {
        node: node.to_string(),
        address: address.to_string(),
        reachable: true,
        error: None,
        containers_running: a.running,
        total_containers: a.total_containers,
        cpu_percent: a.total_cpu_percent,
        memory_usage_bytes: a.total_memory_usage_bytes,
        memory_percent: a.total_memory_percent,
        host_memory_bytes: a.host_memory_bytes,
    }
}

/// Adds a node's totals: counts and bytes saturate (a peer may claim `u64::MAX`), rates and
/// percentages stay finite and never go below zero.
fn add(total: &mut Aggregate, node: Aggregate) {
    total.total_containers = total.total_containers.saturating_add(node.total_containers);
    total.running = total.running.saturating_add(node.running);
    total.paused = total.paused.saturating_add(node.paused);
    total.stopped = total.stopped.saturating_add(node.stopped);
    total.unhealthy = total.unhealthy.saturating_add(node.unhealthy);
    total.total_cpu_percent = add_rate(total.total_cpu_percent, node.total_cpu_percent);
    total.total_memory_usage_bytes = total
        .total_memory_usage_bytes
        .saturating_add(node.total_memory_usage_bytes);
    total.total_memory_limit_bytes = total
        .total_memory_limit_bytes
        .saturating_add(node.total_memory_limit_bytes);
    total.host_memory_bytes = total
        .host_memory_bytes
        .saturating_add(node.host_memory_bytes);
    let (n, t) = (&node.network, &mut total.network);
    t.rx_bytes = t.rx_bytes.saturating_add(n.rx_bytes);
    t.tx_bytes = t.tx_bytes.saturating_add(n.tx_bytes);
    t.rx_bytes_per_sec = add_rate(t.rx_bytes_per_sec, n.rx_bytes_per_sec);
    t.tx_bytes_per_sec = add_rate(t.tx_bytes_per_sec, n.tx_bytes_per_sec);
    let (b, t) = (&node.blkio, &mut total.blkio);
    t.read_bytes = t.read_bytes.saturating_add(b.read_bytes);
    t.write_bytes = t.write_bytes.saturating_add(b.write_bytes);
    t.read_bytes_per_sec = add_rate(t.read_bytes_per_sec, b.read_bytes_per_sec);
    t.write_bytes_per_sec = add_rate(t.write_bytes_per_sec, b.write_bytes_per_sec);
    total.containers.extend(node.containers);
}

/// `total + x` for a rate or percentage from outside: a negative `x` counts as 0 and a sum too
/// large for an `f64` stays at `f64::MAX` (JSON has no infinity).
pub fn add_rate(total: f64, x: f64) -> f64 {
    let sum = total + x.max(0.0);
    if sum.is_finite() {
        sum
    } else {
        f64::MAX
    }
}

fn empty_aggregate(node: &str, timestamp: String) -> Aggregate {
    Aggregate {
        node: node.to_string(),
        total_containers: 0,
        running: 0,
        paused: 0,
        stopped: 0,
        unhealthy: 0,
        total_cpu_percent: 0.0,
        total_memory_usage_bytes: 0,
        total_memory_limit_bytes: 0,
        total_memory_percent: 0.0,
        host_memory_bytes: 0,
        network: model::Network::default(),
        blkio: model::Blkio::default(),
        containers: Vec::new(),
        timestamp,
        nodes: None,
        unreachable_nodes: None,
    }
}

/// Rounded to two decimals; values too large to scale are returned as they are.
fn round2(x: f64) -> f64 {
    let scaled = (x * 100.0).round();
    if scaled.is_finite() {
        scaled / 100.0
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(node: &str, names: &[&str]) -> ContainerList {
        let json = serde_json::json!({
            "node": node,
            "count": names.len(),
            "containers": names.iter().map(|n| serde_json::json!({
                "node": node, "id": format!("{n}-id"), "name": n, "image": "img",
                "state": "running", "status": "Up 1 second", "health": "none",
                "created": "2026-01-01T00:00:00Z", "started_at": null, "restart_count": 0,
                "ports": [], "labels": {}
            })).collect::<Vec<_>>(),
        });
        serde_json::from_value(json).unwrap()
    }

    fn agg(node: &str, cpu: &[f64], mem: &[u64], host: u64, stopped: usize) -> Aggregate {
        let containers: Vec<_> = cpu
            .iter()
            .zip(mem)
            .enumerate()
            .map(|(i, (c, m))| serde_json::json!({
                "node": node, "id": format!("{node}-{i}"), "name": format!("c{i}"),
                "cpu": {"percent": c, "online_cpus": 2, "usage_seconds": 1.0},
                "memory": {"usage_bytes": m, "working_set_bytes": m, "limit_bytes": host,
                           "percent": 0.0, "cache_bytes": 0},
                "network": {"rx_bytes": 100, "tx_bytes": 10, "rx_bytes_per_sec": 1.5, "tx_bytes_per_sec": 0.5},
                "blkio": {"read_bytes": 0, "write_bytes": 0, "read_bytes_per_sec": 0.0, "write_bytes_per_sec": 0.0},
                "pids": 1, "timestamp": "2026-01-01T00:00:00Z"
            }))
            .collect();
        let json = serde_json::json!({
            "node": node,
            "total_containers": cpu.len() + stopped, "running": cpu.len(), "paused": 0,
            "stopped": stopped, "unhealthy": 0,
            "total_cpu_percent": cpu.iter().sum::<f64>(),
            "total_memory_usage_bytes": mem.iter().sum::<u64>(),
            "total_memory_limit_bytes": host,
            "total_memory_percent": mem.iter().sum::<u64>() as f64 / host as f64 * 100.0,
            "host_memory_bytes": host,
            "network": {"rx_bytes": 100 * cpu.len(), "tx_bytes": 10 * cpu.len(),
                        "rx_bytes_per_sec": 1.5 * cpu.len() as f64, "tx_bytes_per_sec": 0.5 * cpu.len() as f64},
            "blkio": {"read_bytes": 0, "write_bytes": 0, "read_bytes_per_sec": 0.0, "write_bytes_per_sec": 0.0},
            "containers": containers,
            "timestamp": format!("2026-01-01T00:00:0{}Z", cpu.len()),
        });
        serde_json::from_value(json).unwrap()
    }

    fn ok<T>(node: &str, address: &str, body: T) -> NodeAnswer<T> {
        NodeAnswer {
            node: node.into(),
            address: address.into(),
            body: Ok(body),
        }
    }

    fn down<T>(node: &str, address: &str, why: &str) -> NodeAnswer<T> {
        NodeAnswer {
            node: node.into(),
            address: address.into(),
            body: Err(why.into()),
        }
    }

    #[test]
    fn container_lists_are_united_with_each_node_status() {
        let merged = containers(
            "b",
            vec![
                ok("b", "local", list("b", &["web", "db"])),
                ok("a", "10.0.0.1:3001", list("a", &["web"])),
                down("10.0.0.9:3001", "10.0.0.9:3001", "no answer within 2s"),
            ],
        );
        assert_eq!(merged.node, "b");
        assert_eq!(merged.count, 3);
        let tagged: Vec<(&str, &str)> = merged
            .containers
            .iter()
            .map(|c| (c.node.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(tagged, [("a", "web"), ("b", "db"), ("b", "web")]);
        let nodes = merged.nodes.unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(
            (
                nodes[0].node.as_str(),
                nodes[0].reachable,
                nodes[0].containers
            ),
            ("10.0.0.9:3001", false, 0)
        );
        assert_eq!(nodes[0].error.as_deref(), Some("no answer within 2s"));
        assert_eq!((nodes[1].node.as_str(), nodes[1].containers), ("a", 1));
        assert_eq!(
            (nodes[2].node.as_str(), nodes[2].address.as_str()),
            ("b", "local")
        );
        assert!(nodes[2].error.is_none());
    }

    #[test]
    fn a_node_reached_twice_counts_once_and_the_first_answer_wins() {
        let merged = containers(
            "a",
            vec![
                ok("a", "local", list("a", &["x"])),
                ok("a", "127.0.0.1:3001", list("a", &["x"])),
            ],
        );
        assert_eq!(merged.count, 1);
        let nodes = merged.nodes.unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].address, "local");
        // An old address that no longer answers does not hide the node's new one.
        let merged = containers(
            "a",
            vec![
                down("b", "10.0.0.1:3001", "no answer within 2s"),
                ok("b", "10.0.0.2:3001", list("b", &["y"])),
            ],
        );
        let nodes = merged.nodes.unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(
            (nodes[0].address.as_str(), nodes[0].reachable),
            ("10.0.0.2:3001", true)
        );
        assert_eq!(merged.count, 1);
    }

    #[test]
    fn aggregate_sums_reachable_nodes_and_lists_the_others() {
        let gib = 1u64 << 30;
        let merged = aggregate(
            "n1",
            vec![
                ok("n1", "local", agg("n1", &[10.0, 20.5], &[100, 200], gib, 1)),
                ok(
                    "n2",
                    "10.0.0.2:3001",
                    agg("n2", &[50.25], &[700], 3 * gib, 0),
                ),
                down("n3", "10.0.0.3:3001", "HTTP 503: docker daemon unreachable"),
            ],
            "2026-01-01T00:00:09Z".into(),
        );
        assert_eq!(merged.node, "n1");
        assert_eq!(merged.running, 3);
        assert_eq!(merged.total_containers, 4);
        assert_eq!(merged.stopped, 1);
        assert_eq!(merged.total_cpu_percent, 80.75);
        assert_eq!(merged.total_memory_usage_bytes, 1000);
        assert_eq!(merged.host_memory_bytes, 4 * gib);
        assert_eq!(merged.total_memory_limit_bytes, 4 * gib);
        assert_eq!(
            merged.total_memory_percent,
            round2(1000.0 / (4 * gib) as f64 * 100.0)
        );
        assert_eq!(merged.network.rx_bytes, 300);
        assert_eq!(merged.network.rx_bytes_per_sec, 4.5);
        assert_eq!(merged.containers.len(), 3);
        assert!(merged.containers.iter().all(|c| !c.node.is_empty()));
        assert_eq!(merged.containers[2].node, "n2");
        // The newest node timestamp, not the fallback.
        assert_eq!(merged.timestamp, "2026-01-01T00:00:02Z");
        assert_eq!(
            merged.unreachable_nodes.as_deref(),
            Some(&["n3".to_string()][..])
        );
        let nodes = merged.nodes.unwrap();
        let n1 = &nodes[0];
        assert_eq!((n1.containers_running, n1.total_containers), (2, 3));
        assert_eq!(n1.cpu_percent, 30.5);
        assert_eq!(n1.memory_usage_bytes, 300);
        let n3 = &nodes[2];
        assert!(!n3.reachable);
        assert_eq!(
            n3.error.as_deref(),
            Some("HTTP 503: docker daemon unreachable")
        );
    }

    #[test]
    fn an_aggregate_with_no_node_answering_is_empty_with_the_fallback_time() {
        let merged = aggregate(
            "n1",
            vec![down("n1", "local", "docker daemon unreachable")],
            "2026-01-01T00:00:09Z".into(),
        );
        assert_eq!(merged.running, 0);
        assert_eq!(merged.total_memory_percent, 0.0);
        assert_eq!(merged.timestamp, "2026-01-01T00:00:09Z");
        assert_eq!(merged.unreachable_nodes.unwrap(), ["n1"]);
    }

    #[test]
    fn sums_of_huge_peer_figures_saturate_instead_of_wrapping() {
        let mut huge = agg("liar", &[f64::MAX], &[u64::MAX], u64::MAX, 0);
        huge.running = usize::MAX;
        huge.network.rx_bytes = u64::MAX;
        huge.network.rx_bytes_per_sec = f64::MAX;
        huge.total_cpu_percent = f64::MAX;
        let merged = aggregate(
            "n1",
            vec![
                ok("n1", "local", agg("n1", &[10.0], &[100], 1 << 30, 0)),
                ok("liar", "10.0.0.9:3001", huge),
            ],
            "2026-01-01T00:00:09Z".into(),
        );
        assert_eq!(merged.running, usize::MAX);
        assert_eq!(merged.total_memory_usage_bytes, u64::MAX);
        assert_eq!(merged.host_memory_bytes, u64::MAX);
        assert_eq!(merged.network.rx_bytes, u64::MAX);
        assert_eq!(merged.network.rx_bytes_per_sec, f64::MAX);
        assert_eq!(merged.total_cpu_percent, f64::MAX);
        assert!(merged.total_memory_percent.is_finite());
        // Serialisable: no infinity turned into null.
        let json = serde_json::to_value(&merged).unwrap();
        assert!(json["total_cpu_percent"].is_f64());
    }

    #[test]
    fn a_peers_containers_carry_the_name_it_was_accepted_under() {
        let mut from_liar = list("b", &["x"]);
        from_liar.containers[0].node = "a".into();
        let merged = containers("a", vec![ok("b", "10.0.0.2:3001", from_liar)]);
        assert_eq!(merged.containers[0].node, "b");
    }
}
