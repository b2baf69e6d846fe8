//! What the checks ask beyond testkit's Prometheus and Alertmanager clients: docker-api's
//! aggregate, Alertmanager's alerting nodes, and each node's engine through the `docker` CLI.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use testkit::prometheus::Alertmanager;
use testkit::Client;

/// GETs `url` with the lab's client and parses its JSON body; any status but 200 is an error.
pub fn get_json(client: &Client, url: &str) -> anyhow::Result<Value> {
    let response = client
        .get(url)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("GET {url}"))?;
    if response.status != 200 {
        bail!("GET {url}: status {}: {}", response.status, response.body);
    }
    serde_json::from_str(&response.body).with_context(|| format!("GET {url}: body is not JSON"))
}

/// The `node` labels of the active alerts named `alertname` in Alertmanager.
pub fn alerting_nodes(
    alertmanager: &Alertmanager,
    alertname: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let alerts = alertmanager
        .alerts(&[("alertname", alertname)])
        .map_err(anyhow::Error::msg)?;
    Ok(alerts
        .iter()
        .map(|a| string(&a["labels"]["node"]))
        .collect())
}

/// docker-api's `/api/stats/aggregate` on one node, and how long it took.
pub fn aggregate(client: &Client, url: &str) -> anyhow::Result<(Value, Duration)> {
    let started = Instant::now();
    let body = get_json(client, url)?;
    Ok((body, started.elapsed()))
}

/// One node's entry in a cluster-wide aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTotals {
    pub node: String,
    pub reachable: bool,
    pub running: u64,
    pub total: u64,
}

pub fn node_totals(aggregate: &Value) -> anyhow::Result<Vec<NodeTotals>> {
    let nodes = aggregate["nodes"]
        .as_array()
        .context("the aggregate has no `nodes` (docker-api not in cluster mode?)")?;
    Ok(nodes
        .iter()
        .map(|n| NodeTotals {
            node: string(&n["node"]),
            reachable: n["reachable"].as_bool().unwrap_or(false),
            running: n["containers_running"].as_u64().unwrap_or(0),
            total: n["total_containers"].as_u64().unwrap_or(0),
        })
        .collect())
}

pub fn unreachable_nodes(aggregate: &Value) -> BTreeSet<String> {
    aggregate["unreachable_nodes"]
        .as_array()
        .map(|a| a.iter().map(string).collect())
        .unwrap_or_default()
}

/// Runs `docker -H <socket> ARGS` and returns its standard output.
pub fn docker(socket: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .arg("-H")
        .arg(socket)
        .args(args)
        .output()
        .with_context(|| format!("running docker -H {socket} {args:?}"))?;
    if !out.status.success() {
        bail!(
            "docker -H {socket} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Running and total containers on one engine, as `docker ps` counts them.
pub fn docker_ps_counts(socket: &str) -> anyhow::Result<(u64, u64)> {
    let running = docker(socket, &["ps", "-q"])?.lines().count() as u64;
    let total = docker(socket, &["ps", "-aq"])?.lines().count() as u64;
    Ok((running, total))
}

/// Runs a command (the lab's network and process controls).
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} {args:?}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}
