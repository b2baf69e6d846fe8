//! The fleet checks. Each returns a line of detail on success; waits are bounded polls whose
//! timeout says what was last seen.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::anyhow;
use testkit::client::{Client, Credentials};
use testkit::wait;

use crate::central::{
    docker_api_answer, docker_api_env, docker_api_json, start_docker_api, write_fleet_file,
    Central, AGENT_DOCKER_API_PORT, FLEET_JOBS,
};
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

/// The name every docker-api certificate carries (`scripts/stack secrets`): the agents are
/// reached by address, so their certificates are checked against it, as the central side does.
const DOCKER_API_TLS_NAME: &str = "cluster-docker-api";
/// The web user the central docker-api asks the agents as.
const PEER_USER: &str = "peer";

/// The peer password of the lab, and a wrong one that shares nothing with it (so a leak of one
/// is never found as part of the other).
fn peer_credentials(lab: &Lab) -> anyhow::Result<(Credentials, Credentials)> {
    let right =
        Credentials::from_file(PEER_USER, &lab.peer_password_file).map_err(anyhow::Error::msg)?;
    let wrong = Credentials {
        user: PEER_USER.to_string(),
        password: format!("fleet-check-wrong-peer-password-{}", std::process::id()),
    };
    if right.password.is_empty() || right.password.contains(&wrong.password) {
        anyhow::bail!(
            "the peer password in {} is empty or contains the wrong one",
            lab.peer_password_file.display()
        );
    }
    Ok((right, wrong))
}

/// Every agent's docker-api, straight from here: plain HTTP gets no answer of the service,
/// HTTPS (certificate checked against the stack's CA under `cluster-docker-api`) without
/// credentials and with a wrong password 401, as `peer` 200 with its own node name. First it
/// waits until the service answers (200 over HTTPS as `peer`, or anything over plain HTTP),
/// since the published port accepts connections before the process inside listens, and an early
/// refusal would prove nothing.
pub fn agents_docker_api_protected(lab: &Lab) -> anyhow::Result<String> {
    let (right, wrong) = peer_credentials(lab)?;
    let https = Client::new(&lab.ca_file, None)
        .map_err(anyhow::Error::msg)?
        .with_server_name(DOCKER_API_TLS_NAME);
    let plain = Client::plain().with_timeout(Duration::from_secs(5));
    let mut report = Vec::new();
    for h in &lab.hosts {
        let base = format!("{}:{AGENT_DOCKER_API_PORT}/api/containers", h.address);
        let (http_url, https_url) = (format!("http://{base}"), format!("https://{base}"));
        let as_peer = https.with_auth(Some(right.clone()));
        wait::until(
            &format!("{}'s docker-api answering", h.name),
            Duration::from_secs(60),
            || match as_peer.get(&https_url) {
                Ok(r) if r.status == 200 => Ok(()),
                // TLS is up, docker-api not ready yet (503 until its first listing).
                Ok(r) => Err(format!("https as {PEER_USER}: status {}", r.status)),
                Err(tls) => match plain.get(&http_url) {
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("https: {tls}; http: {e}")),
                },
            },
        )?;
        match plain.get(&http_url) {
            Err(_) => {}
            // A TLS server may answer a plain request with a bare 400 (Go's do), never the API.
            Ok(r) if r.status == 400 && !r.body.contains("\"containers\"") => {}
            Ok(r) => anyhow::bail!(
                "{}: plain {http_url} answered {} (a TLS port must not answer plain HTTP): {}",
                h.name,
                r.status,
                r.body.chars().take(200).collect::<String>()
            ),
        }
        for (how, auth) in [
            ("no credentials", None),
            ("a wrong password", Some(wrong.clone())),
        ] {
            let r = https
                .with_auth(auth)
                .get(&https_url)
                .map_err(|e| anyhow!("{}: GET {https_url} with {how}: {e}", h.name))?;
            anyhow::ensure!(
                r.status == 401,
                "{}: GET {https_url} with {how}: status {}, want 401",
                h.name,
                r.status
            );
        }
        let r = as_peer
            .get(&https_url)
            .map_err(|e| anyhow!("{}: GET {https_url} as {PEER_USER}: {e}", h.name))?;
        anyhow::ensure!(
            r.status == 200,
            "{}: GET {https_url} as {PEER_USER}: status {}, want 200: {}",
            h.name,
            r.status,
            r.body
        );
        let body: serde_json::Value = serde_json::from_str(&r.body)
            .map_err(|e| anyhow!("{}: {https_url}: {e}: {}", h.name, r.body))?;
        anyhow::ensure!(
            body["node"] == h.name.as_str(),
            "{}: {https_url} answers as node {}",
            h.name,
            body["node"]
        );
        report.push(h.name.clone());
    }
    Ok(format!(
        "plain HTTP refused, 401 without and with a wrong password, 200 as {PEER_USER} (TLS \
         checked as {DOCKER_API_TLS_NAME}): {}",
        report.join(", ")
    ))
}

/// The central docker-api lists every host reachable, in `/api/containers` and
/// `/api/stats/aggregate`: since it runs with the shipped `cluster.peer_scheme` (checked here to
/// be https) and the agents refuse plain HTTP (the check before), reachable means over TLS, with
/// the certificate checked and the password accepted.
pub fn central_asks_agents_over_tls(lab: &Lab, central: &Central) -> anyhow::Result<String> {
    let env = docker_api_env(lab, &lab.hosts[1..], &lab.peer_password_file)?;
    let scheme = env
        .iter()
        .find(|(k, _)| k == "DOCKER_API_CLUSTER__PEER_SCHEME")
        .map(|(_, v)| v.as_str());
    anyhow::ensure!(
        scheme == Some("https"),
        "the shipped central docker-api asks its peers over {scheme:?}, not https"
    );
    let names: BTreeSet<String> = lab.names().into_iter().collect();
    wait::until(
        "the central docker-api listing every host reachable",
        Duration::from_secs(30),
        || {
            let (nodes, _) = docker_api_view(central)?;
            let reachable: BTreeSet<String> = nodes
                .iter()
                .filter(|(_, r)| **r)
                .map(|(n, _)| n.clone())
                .collect();
            if reachable != names {
                return Err(format!(
                    "/api/containers: reachable {reachable:?} of {nodes:?}"
                ));
            }
            let aggregate = central.docker_api("/api/stats/aggregate")?;
            let unreachable = &aggregate["unreachable_nodes"];
            let listed = aggregate["nodes"].as_array().map_or(0, Vec::len);
            if unreachable.as_array().is_none_or(|u| !u.is_empty()) || listed != names.len() {
                return Err(format!(
                    "/api/stats/aggregate: {listed} nodes, unreachable {unreachable}"
                ));
            }
            Ok(())
        },
    )?;
    Ok(format!(
        "{} reachable over https as {PEER_USER}",
        names.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

/// Which of `secrets` (raw, or as the base64 of a basic-auth header's `user:password`) occur in
/// `text`; only their descriptions are returned, never the values.
pub fn leaks(text: &str, secrets: &[(&str, &Credentials)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, c) in secrets {
        if text.contains(&c.password) {
            found.push(format!("{what} in clear"));
        }
        if text.contains(&base64(format!("{}:{}", c.user, c.password).as_bytes())) {
            found.push(format!("{what} as a basic-auth token"));
        }
    }
    found
}

/// Standard base64 with padding (RFC 4648), for [`leaks`]: the one use does not warrant a
/// dependency.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Neither the peer password nor a wrong one shows in the central docker-api's log or answers:
/// the running one (which asked over TLS all along, and through the cut-off host's errors), and
/// one more started with a wrong password file, which must list its agent unreachable with the
/// 401 named.
pub fn no_password_in_central(lab: &Lab, central: &Central) -> anyhow::Result<String> {
    let (right, wrong) = peer_credentials(lab)?;
    let mut paths = vec![
        "/health".to_string(),
        "/api/containers".to_string(),
        "/api/containers?all=true".to_string(),
        "/api/stats/aggregate".to_string(),
        "/api/nodes".to_string(),
        "/metrics".to_string(),
        "/api/containers?node=no-such-node".to_string(),
    ];
    paths.extend(
        lab.names()
            .iter()
            .map(|n| format!("/api/containers?node={n}")),
    );
    let mut seen = Vec::new();
    for path in &paths {
        let r = docker_api_answer(&central.docker_api, path).map_err(anyhow::Error::msg)?;
        seen.push((format!("the answer to {path}"), r.body));
    }

    // One agent asked with a wrong password, from a file in the lab's directory.
    let agent = &lab.hosts[1];
    let file = lab.dir.join("central/wrong_peer_password");
    std::fs::write(&file, format!("{}\n", wrong.password))?;
    let refused = start_docker_api(
        lab,
        std::slice::from_ref(agent),
        &file,
        &["--log.level=debug"],
    )?;
    let error = wait::until(
        &format!("{} listed unreachable with a wrong password", agent.name),
        Duration::from_secs(30),
        || {
            let list = docker_api_json(&refused, "/api/containers")?;
            let node = list["nodes"]
                .as_array()
                .and_then(|n| n.iter().find(|n| n["node"] == agent.name.as_str()))
                .ok_or_else(|| format!("{} not in {list}", agent.name))?;
            let error = node["error"].as_str().unwrap_or_default();
            if node["reachable"] == false && error.contains("401") {
                Ok(error.to_string())
            } else {
                Err(format!("{node}"))
            }
        },
    )?;
    for path in ["/api/containers", "/api/stats/aggregate", "/metrics"] {
        let r = docker_api_answer(&refused, path).map_err(anyhow::Error::msg)?;
        seen.push((
            format!("the wrong-password docker-api's answer to {path}"),
            r.body,
        ));
    }
    seen.push((
        "the central docker-api's log".into(),
        central.docker_api.logs(),
    ));
    seen.push((
        "the wrong-password docker-api's log (debug)".into(),
        refused.logs(),
    ));
    let secrets = [
        ("the peer password", &right),
        ("the wrong password", &wrong),
    ];
    let found: Vec<String> = seen
        .iter()
        .flat_map(|(where_, text)| {
            leaks(text, &secrets)
                .into_iter()
                .map(move |l| format!("{l} in {where_}"))
        })
        .collect();
    anyhow::ensure!(found.is_empty(), "password shown: {}", found.join("; "));
    Ok(format!(
        "none in {} answers and 2 logs; a wrong password: {} unreachable, {error:?}",
        seen.len() - 2,
        agent.name
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_as_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn leaks_finds_a_password_in_clear_and_in_a_basic_auth_header_and_names_no_value() {
        let c = Credentials {
            user: "peer".into(),
            password: "s3cret".into(),
        };
        let secrets = [("the peer password", &c)];
        assert!(leaks("nodes: fine", &secrets).is_empty());
        assert_eq!(
            leaks("password=s3cret", &secrets),
            ["the peer password in clear"]
        );
        // base64("peer:s3cret")
        let found = leaks("authorization: Basic cGVlcjpzM2NyZXQ=", &secrets);
        assert_eq!(found, ["the peer password as a basic-auth token"]);
        assert!(found.iter().all(|f| !f.contains("s3cret")));
    }
}
