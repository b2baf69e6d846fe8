//! The fleet checks. Each returns a line of detail on success; waits are bounded polls whose
//! timeout says what was last seen.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::anyhow;
use testkit::wait;

use crate::central::{write_fleet_file, Central, FLEET_JOBS};
use crate::lab::{Host, Lab};

/// Every fleet job's target of every host in `hosts`, as `up` or not, and any target without a
/// `node` label: `Ok` when each host's three are in `health` (and no others in the way).
fn targets_in(central: &Central, hosts: &[&Host], health: &str) -> Result<String, String> {
    let targets = central.prometheus().targets()?;
    let mut missing = Vec::new();
    for h in hosts {
        for job in FLEET_JOBS {
            let found = targets
                .iter()
                .find(|t| t.label("job") == job && t.label("node") == h.name);
            match found {
                Some(t) if t.health == health => {}
                Some(t) => missing.push(format!(
                    "{job}@{} is {} ({})",
                    h.name, t.health, t.last_error
                )),
                None => missing.push(format!("no {job} target with node={}", h.name)),
            }
        }
    }
    let unlabelled: Vec<String> = targets
        .iter()
        .filter(|t| t.label("node").is_empty())
        .map(|t| format!("{}@{}", t.label("job"), t.label("instance")))
        .collect();
    if !unlabelled.is_empty() {
        missing.push(format!("targets without a node label: {unlabelled:?}"));
    }
    if missing.is_empty() {
        Ok(format!("{} targets", hosts.len() * FLEET_JOBS.len()))
    } else {
        Err(missing.join("; "))
    }
}

/// The listed hosts' targets UP; then a host added to `targets/fleet.yml` (one more line, the
/// file re-read by Prometheus) gets its three targets UP too.
pub fn targets_up_and_a_host_added(
    lab: &Lab,
    central: &Central,
    added: &Host,
) -> anyhow::Result<String> {
    let listed: Vec<&Host> = lab.hosts.iter().filter(|h| h.name != added.name).collect();
    let limit = Duration::from_secs(90);
    let (first, took) = timed(|| {
        wait::until("the listed hosts' targets UP", limit, || {
            targets_in(central, &listed, "up")
        })
    })?;
    let all: Vec<&Host> = lab.hosts.iter().collect();
    write_fleet_file(&central.config_dir, &lab.hosts)?;
    let (_, added_took) = timed(|| {
        wait::until(
            &format!("{}'s targets UP after its line was added", added.name),
            limit,
            || targets_in(central, &all, "up"),
        )
    })?;
    Ok(format!(
        "{first} UP in {took:.1}s; {} added: all {} UP {added_took:.1}s after the file changed",
        added.name,
        all.len() * FLEET_JOBS.len()
    ))
}

/// docker-api's `nodes[]` (name -> reachable) and the running containers' names under each node.
fn docker_api_view(central: &Central) -> Result<(BTreeMap<String, bool>, Containers), String> {
    let list = central.docker_api("/api/containers")?;
    let nodes = list["nodes"]
        .as_array()
        .ok_or_else(|| format!("no nodes[] in {list}"))?
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap_or_default().to_string(),
                n["reachable"] == true,
            )
        })
        .collect();
    let mut containers: Containers = BTreeMap::new();
    for c in list["containers"].as_array().into_iter().flatten() {
        containers
            .entry(c["node"].as_str().unwrap_or_default().to_string())
            .or_default()
            .insert(c["name"].as_str().unwrap_or_default().to_string());
    }
    Ok((nodes, containers))
}

type Containers = BTreeMap<String, BTreeSet<String>>;

/// The names compared on a host: all of a lab engine's; on the machine's own engine (shared
/// with whatever else runs here, whose containers come and go) only the lab's agents.
fn compared(host: &Host, names: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    names
        .into_iter()
        .filter(|n| host.veth.is_some() || n.starts_with(LAB_PROJECT))
        .collect()
}

/// The compose project of the lab's agents (`scripts/fleet-test`): their container names' prefix.
const LAB_PROJECT: &str = "cmfleet-";

/// Each host's running containers (its agent's among them) under its name in the central
/// docker-api, the same names as `docker ps` on that host's engine.
pub fn containers_under_each_host(lab: &Lab, central: &Central) -> anyhow::Result<String> {
    let mut expected: Containers = BTreeMap::new();
    for h in &lab.hosts {
        expected.insert(h.name.clone(), compared(h, h.docker_ps()?));
    }
    if expected.values().any(|c| c.len() < 3) {
        anyhow::bail!("a host runs fewer than its three agent containers: {expected:?}");
    }
    let limit = Duration::from_secs(30);
    let seen = wait::until("docker-api listing each host's containers", limit, || {
        let (nodes, listed) = docker_api_view(central)?;
        let mut containers: Containers = BTreeMap::new();
        for (node, names) in listed {
            let host = lab.hosts.iter().find(|h| h.name == node);
            let Some(host) = host else {
                return Err(format!(
                    "containers under an unknown node {node}: {names:?}"
                ));
            };
            containers.insert(node, compared(host, names));
        }
        let unreachable: Vec<&String> =
            nodes.iter().filter(|(_, r)| !**r).map(|(n, _)| n).collect();
        if !unreachable.is_empty() {
            return Err(format!("unreachable: {unreachable:?}"));
        }
        if containers != expected {
            return Err(format!("docker-api {containers:?}, docker ps {expected:?}"));
        }
        Ok(containers)
    })?;
    let counts: Vec<String> = seen
        .iter()
        .map(|(n, c)| format!("{n}: {}", c.len()))
        .collect();
    Ok(format!(
        "containers per node as docker ps: {}",
        counts.join(", ")
    ))
}

/// `host`'s link cut: its targets DOWN and docker-api listing it unreachable within two scrape
/// intervals plus the scrape timeout (a scrape in flight when the link goes down fails only when
/// it times out); then, with the link back, everything UP and reachable again.
pub fn cut_off_and_back(lab: &Lab, central: &Central, host: &Host) -> anyhow::Result<String> {
    let others: Vec<&Host> = lab.hosts.iter().filter(|h| h.name != host.name).collect();
    let limit = Duration::from_secs(2 * lab.scrape_interval_seconds + lab.scrape_timeout_seconds);
    host.set_link(false)?;
    let down = timed(|| {
        wait::until(&format!("{} shown unreachable", host.name), limit, || {
            targets_in(central, &[host], "down")?;
            targets_in(central, &others, "up")?;
            let (nodes, _) = docker_api_view(central)?;
            match nodes.get(&host.name) {
                Some(false) => Ok(()),
                other => Err(format!("docker-api lists {}: {other:?}", host.name)),
            }
        })
    });
    // The link comes back whatever happened above.
    host.set_link(true)?;
    let ((), down_took) = down?;
    let all: Vec<&Host> = lab.hosts.iter().collect();
    let back_limit = Duration::from_secs(60);
    let ((), back_took) = timed(|| {
        wait::until(&format!("{} back", host.name), back_limit, || {
            targets_in(central, &all, "up")?;
            let (nodes, _) = docker_api_view(central)?;
            match nodes.get(&host.name) {
                Some(true) => Ok(()),
                other => Err(format!("docker-api lists {}: {other:?}", host.name)),
            }
        })
    })?;
    Ok(format!(
        "unreachable {down_took:.1}s after the cut (limit {}s), back {back_took:.1}s after the link returned",
        limit.as_secs()
    ))
}

/// Runs `f`, returning its value and how long it took, in seconds.
fn timed<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> anyhow::Result<(T, f64)> {
    let started = std::time::Instant::now();
    let value = f().map_err(|e| anyhow!("{e}"))?;
    Ok((value, started.elapsed().as_secs_f64()))
}
