//! The checks, in the order `swarm-check` runs them. Each returns what it saw, with timings,
//! or the reason it failed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};

use testkit::prometheus::{label_values, Target};
use testkit::wait::until_deadline;

use crate::clients;
use crate::lab::{Lab, Node};

/// The Prometheus jobs of the exporters that run on every node (`mode: global`).
pub const PER_NODE_JOBS: [&str; 3] = ["node", "cadvisor", "docker-api"];

/// The alert for a node whose exporters vanished (prometheus/alerts/swarm_alerts.yml).
pub const NODE_ALERT: &str = "NodeExportersDown";

/// How long after a cut the alert may take: its `for: 30s`, two scrapes to notice, one rule
/// evaluation and the push to Alertmanager.
const ALERT_WITHIN: Duration = Duration::from_secs(60);

/// How long a reconnected node's targets may take to be UP again, and Swarm to move replicas.
const RECOVERY_WITHIN: Duration = Duration::from_secs(90);

/// Slack on top of deadlines for this checker's own polling (every half second) and requests.
const POLL_SLACK: Duration = Duration::from_secs(1);

/// Within 60 s of `docker stack deploy`: every per-node exporter UP on every node, and
/// container_last_seen with containers of every node.
pub fn targets_up(lab: &Lab) -> anyhow::Result<String> {
    let deadline = deploy_time(lab) + Duration::from_secs(60);
    let nodes: BTreeSet<String> = lab.node_names().into_iter().collect();
    until_deadline(
        "every per-node target UP with node labels",
        deadline,
        || {
            let targets = targets(lab)?;
            for job in PER_NODE_JOBS {
                let up = up_nodes(&targets, job);
                ensure!(
                up == nodes && count(&targets, job) == nodes.len(),
                "job {job}: UP on {up:?} of {} targets, want exactly one UP on each of {nodes:?}; \
                 targets: {:?}",
                count(&targets, job),
                of_job(&targets, job)
            );
            }
            let seen = label_values(
                &query(lab, "count by (node) (container_last_seen)")?,
                "node",
            );
            ensure!(
                seen == nodes,
                "container_last_seen has containers of {seen:?}, want {nodes:?}"
            );
            let unlabelled = query(lab, r#"count by (job) ({job!="", node=""})"#)?;
            ensure!(
                unlabelled.is_empty(),
                "series without a node label, by job: {unlabelled:?}"
            );
            // host-exporter's container takes the node's hostname ({{.Node.Hostname}}).
            let uname = query(lab, "node_uname_info")?;
            for sample in &uname {
                let (node, nodename) = (&sample["metric"]["node"], &sample["metric"]["nodename"]);
                ensure!(
                    node == nodename,
                    "node_uname_info: node {node} but nodename {nodename}"
                );
            }
            Ok(())
        },
    )?;
    Ok(format!(
        "9 per-node targets UP with node labels {nodes:?}, containers seen on all, {:.1}s after deploy",
        since_deploy(lab).as_secs_f64()
    ))
}

/// docker-api's aggregate, asked on each node, covers every node and agrees with `docker ps`
/// on each engine (retried while Swarm is still starting or stopping containers), and its
/// container list has every node reachable with its containers: each task reached the other two
/// (over HTTPS as the web user peer in the secured stack, whose tasks answer nothing else).
pub fn aggregate_agrees(lab: &Lab) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut report = Vec::new();
    for asked in &lab.nodes {
        let url = lab.docker_api(asked, "/api/stats/aggregate");
        let summary = until_deadline("the aggregate to agree with docker ps", deadline, || {
            aggregate_matches_engines(lab, &url)
        })?;
        let url = lab.docker_api(asked, "/api/containers");
        let listed = until_deadline(
            "the container list to have every node reachable",
            deadline,
            || containers_of_every_node(lab, &url),
        )?;
        report.push(format!("on {}: {summary}; {listed}", asked.name));
    }
    Ok(report.join("; "))
}

/// `/api/containers` in cluster mode: `nodes[]` lists every node of the lab reachable, and the
/// containers carry every node's name.
fn containers_of_every_node(lab: &Lab, url: &str) -> anyhow::Result<String> {
    let list = clients::get_json(&lab.docker_api_client(), url)?;
    let entries = list["nodes"]
        .as_array()
        .with_context(|| format!("{url}: no nodes[] (docker-api not in cluster mode?)"))?;
    let wanted: BTreeSet<String> = lab.node_names().into_iter().collect();
    let reachable: BTreeSet<String> = entries
        .iter()
        .filter(|n| n["reachable"] == true)
        .filter_map(|n| n["node"].as_str().map(str::to_string))
        .collect();
    ensure!(
        reachable == wanted,
        "{url}: reachable nodes {reachable:?}, want {wanted:?}; nodes[]: {entries:?}"
    );
    let tagged = container_nodes(&list);
    ensure!(
        tagged == wanted,
        "{url}: containers carry nodes {tagged:?}, want {wanted:?}"
    );
    Ok(format!(
        "/api/containers: {} containers, all {} nodes reachable",
        list["containers"].as_array().map_or(0, Vec::len),
        wanted.len()
    ))
}

/// The nodes that an answer's `containers[]` carry.
fn container_nodes(answer: &serde_json::Value) -> BTreeSet<String> {
    answer["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["node"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn aggregate_matches_engines(lab: &Lab, url: &str) -> anyhow::Result<String> {
    let (aggregate, _) = clients::aggregate(&lab.docker_api_client(), url)?;
    let totals = clients::node_totals(&aggregate)?;
    let mut parts = Vec::new();
    for node in &lab.nodes {
        let entry = totals
            .iter()
            .find(|t| t.node == node.name)
            .with_context(|| format!("{url}: no entry for node {} in {totals:?}", node.name))?;
        ensure!(entry.reachable, "{url}: node {} unreachable", node.name);
        let (running, total) = clients::docker_ps_counts(&node.socket)?;
        ensure!(
            (entry.running, entry.total) == (running, total),
            "{url}: node {} has {} running / {} containers, docker ps says {running} / {total}",
            node.name,
            entry.running,
            entry.total
        );
        parts.push(format!("{} {running}/{total}", node.name));
    }
    let sum_running: u64 = totals.iter().map(|t| t.running).sum();
    let running = aggregate["running"].as_u64().unwrap_or(u64::MAX);
    ensure!(
        running == sum_running,
        "{url}: running {running} is not the nodes' sum {sum_running}"
    );
    let listed = container_nodes(&aggregate);
    let nodes: BTreeSet<String> = lab.node_names().into_iter().collect();
    ensure!(
        listed == nodes,
        "{url}: containers carry nodes {listed:?}, want {nodes:?}"
    );
    Ok(format!("running/total {}", parts.join(", ")))
}

/// docker-api's Swarm views on the manager: `/api/nodes` lists the three nodes with
/// `docker ps`'s running counts, `/api/services` every service of the stack converged,
/// `?node=` narrows the container list to one node's; a worker's `/api/nodes` is 409.
pub fn swarm_views(lab: &Lab) -> anyhow::Result<String> {
    let manager = lab.manager()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    until_deadline(
        "/api/nodes and /api/services to agree with the engines",
        deadline,
        || {
            let nodes = clients::get_json(
                &lab.docker_api_client(),
                &lab.docker_api(manager, "/api/nodes"),
            )?;
            let listed = nodes["nodes"]
                .as_array()
                .context("no nodes[] in /api/nodes")?;
            let names: Vec<String> = listed
                .iter()
                .map(|n| n["hostname"].as_str().unwrap_or_default().to_string())
                .collect();
            ensure!(
                names == lab.node_names(),
                "/api/nodes lists {names:?}, want {:?}",
                lab.node_names()
            );
            for node in &lab.nodes {
                let entry = listed
                    .iter()
                    .find(|n| n["hostname"] == node.name.as_str())
                    .context("node vanished")?;
                ensure!(
                    entry["role"] == node.role.as_str(),
                    "{}: role {}",
                    node.name,
                    entry["role"]
                );
                ensure!(
                    entry["state"] == "ready",
                    "{}: state {}",
                    node.name,
                    entry["state"]
                );
                let (running, _) = clients::docker_ps_counts(&node.socket)?;
                ensure!(
                    entry["containers_running"].as_u64() == Some(running),
                    "{}: /api/nodes says {} running, docker ps {running}",
                    node.name,
                    entry["containers_running"]
                );
            }
            let services = clients::get_json(
                &lab.docker_api_client(),
                &lab.docker_api(manager, "/api/services"),
            )?;
            let stack_services: Vec<&serde_json::Value> = services["services"]
                .as_array()
                .context("no services[] in /api/services")?
                .iter()
                .filter(|s| {
                    s["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(&format!("{}_", lab.stack)))
                })
                .collect();
            ensure!(
                stack_services.len() >= 11,
                "/api/services lists {} of the stack's services",
                stack_services.len()
            );
            for service in &stack_services {
                ensure!(
                    service["running_tasks"] == service["desired_tasks"],
                    "{}: {} of {} tasks running",
                    service["name"],
                    service["running_tasks"],
                    service["desired_tasks"]
                );
            }
            Ok(())
        },
    )?;
    let worker = lab.workers().first().copied().context("no worker")?;
    let narrowed = until_deadline(
        "?node= to list only that node's containers",
        deadline,
        || {
            let list = clients::get_json(
                &lab.docker_api_client(),
                &lab.docker_api(manager, &format!("/api/containers?node={}", worker.name)),
            )?;
            let containers = list["containers"].as_array().context("no containers[]")?;
            let others: Vec<&serde_json::Value> = containers
                .iter()
                .filter(|c| c["node"] != worker.name.as_str())
                .collect();
            ensure!(
                others.is_empty(),
                "?node={} also lists {others:?}",
                worker.name
            );
            let (running, _) = clients::docker_ps_counts(&worker.socket)?;
            ensure!(
                containers.len() as u64 == running,
                "?node={}: {} containers, docker ps {running}",
                worker.name,
                containers.len()
            );
            Ok(running)
        },
    )?;
    let on_worker = lab
        .docker_api_client()
        .get(&lab.docker_api(worker, "/api/nodes"))
        .map_err(anyhow::Error::msg)?;
    ensure!(
        on_worker.status == 409,
        "/api/nodes on a worker: status {}, want 409",
        on_worker.status
    );
    Ok(format!(
        "/api/nodes and /api/services agree with the engines; ?node={} lists its {narrowed} containers; a worker answers 409"
    , worker.name))
}

/// One worker's link goes down, then up again.
pub fn partition(lab: &Lab, worker: &Node) -> anyhow::Result<String> {
    let veth = worker.veth.as_deref().context("the worker has no link")?;
    let mut report = Vec::new();
    clients::run("ip", &["link", "set", veth, "down"])?;
    let cut = Instant::now();
    // docker-api's peer still in Swarm's DNS but silent: it must time out, not hang.
    report.push(docker_api_without(lab, worker, true)?);
    report.push(targets_gone(lab, worker, cut)?);
    report.push(alert_reaches_alertmanager(lab, worker, cut)?);
    report.push(docker_api_without(lab, worker, false)?);

    clients::run("ip", &["link", "set", veth, "up"])?;
    let healed = Instant::now();
    let all: BTreeSet<String> = lab.node_names().into_iter().collect();
    until_deadline(
        "every target UP and every node reachable after the link came back",
        healed + RECOVERY_WITHIN,
        || {
            let targets = targets(lab)?;
            for job in PER_NODE_JOBS {
                let up = up_nodes(&targets, job);
                ensure!(up == all, "job {job} UP on {up:?} only");
            }
            let (aggregate, _) = clients::aggregate(
                &lab.docker_api_client(),
                &lab.docker_api(lab.manager()?, "/api/stats/aggregate"),
            )?;
            let reachable: BTreeSet<String> = clients::node_totals(&aggregate)?
                .into_iter()
                .filter(|t| t.reachable)
                .map(|t| t.node)
                .collect();
            ensure!(reachable == all, "docker-api reaches {reachable:?} only");
            Ok(())
        },
    )?;
    report.push(format!(
        "link up: all targets UP and docker-api reaches every node after {:.1}s",
        healed.elapsed().as_secs_f64()
    ));
    Ok(report.join("; "))
}

/// The other worker's engine stops.
pub fn node_loss(lab: &Lab, worker: &Node) -> anyhow::Result<String> {
    let pid_file = worker
        .dockerd_pid_file
        .as_deref()
        .context("the worker has no dockerd")?;
    let pid = std::fs::read_to_string(pid_file)
        .with_context(|| format!("reading {pid_file}"))?
        .trim()
        .to_string();
    let mut report = Vec::new();
    let stop = Instant::now();
    clients::run("kill", &["-TERM", &pid])?;
    until_deadline("dockerd to exit", stop + Duration::from_secs(60), || {
        ensure!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "dockerd {pid} still running"
        );
        Ok(())
    })?;
    let stopped = Instant::now();
    report.push(format!(
        "dockerd stopped in {:.1}s",
        stopped.duration_since(stop).as_secs_f64()
    ));
    report.push(targets_gone(lab, worker, stopped)?);
    report.push(alert_reaches_alertmanager(lab, worker, stopped)?);
    report.push(docker_api_without(lab, worker, false)?);
    report.push(replicas_elsewhere(lab, worker, stopped)?);
    Ok(report.join("; "))
}

/// Within two scrape intervals of `since`, none of the node's per-node targets is UP.
fn targets_gone(lab: &Lab, node: &Node, since: Instant) -> anyhow::Result<String> {
    let within = Duration::from_secs(2 * lab.scrape_interval_seconds);
    until_deadline(
        "the node's per-node targets to go DOWN",
        since + within + POLL_SLACK,
        || {
            let targets = targets(lab)?;
            let still_up: Vec<&Target> = targets
                .iter()
                .filter(|t| t.label("node") == node.name && PER_NODE_JOBS.contains(&t.job()))
                .filter(|t| t.is_up())
                .collect();
            ensure!(still_up.is_empty(), "still UP: {still_up:?}");
            Ok(())
        },
    )?;
    Ok(format!(
        "{}'s targets DOWN after {:.1}s (limit {}s)",
        node.name,
        since.elapsed().as_secs_f64(),
        within.as_secs()
    ))
}

fn alert_reaches_alertmanager(lab: &Lab, node: &Node, since: Instant) -> anyhow::Result<String> {
    until_deadline(
        "the node's alert in Alertmanager",
        since + ALERT_WITHIN,
        || {
            let nodes = clients::alerting_nodes(&lab.alertmanager_api(), NODE_ALERT)?;
            ensure!(
                nodes.contains(&node.name),
                "{NODE_ALERT} active in Alertmanager for {nodes:?}, not {}",
                node.name
            );
            Ok(())
        },
    )?;
    Ok(format!(
        "{NODE_ALERT}{{node={}}} in Alertmanager after {:.1}s",
        node.name,
        since.elapsed().as_secs_f64()
    ))
}

/// docker-api on the manager answers 200 within its per-node timeout without `node`: marked
/// unreachable (`must_mark`), or, once Swarm has dropped the node's task from its DNS, either
/// that or simply absent; never counted as reachable.
fn docker_api_without(lab: &Lab, node: &Node, must_mark: bool) -> anyhow::Result<String> {
    let url = lab.docker_api(lab.manager()?, "/api/stats/aggregate");
    let (aggregate, took) = clients::aggregate(&lab.docker_api_client(), &url)?;
    let limit = Duration::from_secs(lab.peer_timeout_seconds) + POLL_SLACK;
    ensure!(
        took <= limit,
        "{url} took {:.2}s, more than the per-node timeout and {}s",
        took.as_secs_f64(),
        POLL_SLACK.as_secs()
    );
    let totals = clients::node_totals(&aggregate)?;
    let marked = clients::unreachable_nodes(&aggregate).contains(&node.name)
        || totals.iter().any(|t| t.node == node.name && !t.reachable);
    if totals.iter().any(|t| t.node == node.name && t.reachable) {
        bail!("{url}: {} still reachable: {totals:?}", node.name);
    }
    if must_mark && !marked {
        bail!(
            "{url}: {} not marked unreachable (unreachable_nodes {:?}, nodes {totals:?})",
            node.name,
            clients::unreachable_nodes(&aggregate)
        );
    }
    Ok(format!(
        "docker-api on the manager: 200 in {:.2}s, {} {}",
        took.as_secs_f64(),
        node.name,
        if marked {
            "unreachable"
        } else {
            "left out (no longer in Swarm's DNS)"
        }
    ))
}

/// Every replicated service runs all its replicas on the other nodes. (Swarm keeps counting
/// the tasks of a node that went down as running, so `docker service ls` may say 2/1: count
/// the running tasks elsewhere instead.)
fn replicas_elsewhere(lab: &Lab, lost: &Node, since: Instant) -> anyhow::Result<String> {
    let manager = lab.manager()?;
    until_deadline(
        "the replicas to run on the other nodes",
        since + RECOVERY_WITHIN,
        || {
            let services = clients::docker(
                &manager.socket,
                &[
                    "service",
                    "ls",
                    "--filter",
                    &format!("label=com.docker.stack.namespace={}", lab.stack),
                    "--filter",
                    "mode=replicated",
                    "--format",
                    "{{.Name}} {{.Replicas}}",
                ],
            )?;
            for line in services.lines() {
                let (name, replicas) = line.split_once(' ').context("bad service line")?;
                let wanted: usize = replicas
                    .split(['/', ' '])
                    .nth(1)
                    .and_then(|w| w.parse().ok())
                    .with_context(|| format!("{name}: replicas {replicas}"))?;
                let tasks = clients::docker(
                    &manager.socket,
                    &[
                        "service",
                        "ps",
                        "--filter",
                        "desired-state=running",
                        "--format",
                        "{{.Node}} {{.CurrentState}}",
                        name,
                    ],
                )?;
                let elsewhere = tasks
                    .lines()
                    .filter(|l| l.contains("Running"))
                    .filter(|l| l.split(' ').next() != Some(lost.name.as_str()))
                    .count();
                ensure!(
                    elsewhere >= wanted,
                    "{name}: {elsewhere} of {wanted} replicas running off {}: {tasks}",
                    lost.name
                );
            }
            Ok(())
        },
    )?;
    Ok(format!(
        "every replicated service runs its replicas on the other nodes {:.1}s after the loss",
        since.elapsed().as_secs_f64()
    ))
}

fn targets(lab: &Lab) -> anyhow::Result<Vec<Target>> {
    lab.prometheus_api().targets().map_err(anyhow::Error::msg)
}

fn query(lab: &Lab, promql: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    lab.prometheus_api()
        .query(promql)
        .map_err(anyhow::Error::msg)
}

fn up_nodes(targets: &[Target], job: &str) -> BTreeSet<String> {
    targets
        .iter()
        .filter(|t| t.job() == job && t.is_up())
        .map(|t| t.label("node").to_string())
        .collect()
}

fn count(targets: &[Target], job: &str) -> usize {
    of_job(targets, job).len()
}

fn of_job<'a>(targets: &'a [Target], job: &str) -> Vec<&'a Target> {
    targets.iter().filter(|t| t.job() == job).collect()
}

/// `deployed_at` as an `Instant`.
fn deploy_time(lab: &Lab) -> Instant {
    Instant::now() - since_deploy(lab)
}

fn since_deploy(lab: &Lab) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(now.saturating_sub(lab.deployed_at))
}
