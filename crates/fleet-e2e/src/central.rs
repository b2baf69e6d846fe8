//! The central side of the fleet, run on this machine: Prometheus on the fleet part of the shipped
//! `prometheus/prometheus.yml`, and docker-api with the agents as static peers, asked as the
//! shipped `compose/docker-compose.yml` sets its cluster settings (HTTPS, the stack's CA, the
//! certificates' name, the user `peer`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_yaml::Value;
use testkit::prometheus::{start_prometheus, Prometheus};
use testkit::{free_port, ServiceProcess};

use crate::lab::{Host, Lab};

/// The jobs that scrape a fleet's agents (host-exporter, container-exporter, docker-api).
pub const FLEET_JOBS: [&str; 3] = ["node", "cadvisor", "docker-api"];

/// Where the compose stack mounts the CA, the scrape password and docker-api's peer password.
const CA_SECRET: &str = "/run/secrets/clustermon_ca";
const PASSWORD_SECRET: &str = "/run/secrets/web_prometheus_password";
const PEER_PASSWORD_SECRET: &str = "/run/secrets/web_peer_password";

/// The central docker-api's service in `compose/docker-compose.yml`, its cluster settings'
/// prefix, and the one of them a deployment fills in (the shipped file leaves it empty).
const DOCKER_API_SERVICE: &str = "cluster-docker-api";
const CLUSTER_PREFIX: &str = "DOCKER_API_CLUSTER__";
pub const PEERS_VARIABLE: &str = "DOCKER_API_CLUSTER__PEERS";

/// The port an agent's docker-api is published on (`compose/agent.yml`'s default).
pub const AGENT_DOCKER_API_PORT: u16 = 3001;

/// The shipped configuration's fleet jobs, with the lab's intervals and secret paths and without
/// the compose stack's own (static) targets: everything else is as shipped.
pub fn prometheus_config(lab: &Lab) -> anyhow::Result<String> {
    let path = lab.repo.join("prometheus/prometheus.yml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let shipped: Value = serde_yaml::from_str(&text).context("parse prometheus.yml")?;
    let mut jobs = Vec::new();
    for job in shipped["scrape_configs"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let name = job["job_name"].as_str().unwrap_or_default();
        if !FLEET_JOBS.contains(&name) {
            continue;
        }
        if job["file_sd_configs"]
            .as_sequence()
            .is_none_or(|s| s.is_empty())
        {
            bail!("job {name} of prometheus.yml has no file_sd_configs for the fleet");
        }
        let mut job = job.clone();
        if let Some(map) = job.as_mapping_mut() {
            map.remove("static_configs");
        }
        let text = serde_yaml::to_string(&job)?
            .replace(CA_SECRET, &lab.ca_file.display().to_string())
            .replace(
                PASSWORD_SECRET,
                &lab.prometheus_password_file.display().to_string(),
            );
        jobs.push(serde_yaml::from_str::<Value>(&text)?);
    }
    if jobs.len() != FLEET_JOBS.len() {
        bail!(
            "prometheus.yml has {} of the jobs {FLEET_JOBS:?}",
            jobs.len()
        );
    }
    let interval = format!("{}s", lab.scrape_interval_seconds);
    let timeout = format!("{}s", lab.scrape_timeout_seconds);
    for job in &mut jobs {
        if let Some(map) = job.as_mapping_mut() {
            map.insert("scrape_interval".into(), interval.clone().into());
        }
    }
    let mut config = serde_yaml::Mapping::new();
    let mut global = serde_yaml::Mapping::new();
    global.insert("scrape_interval".into(), interval.into());
    global.insert("scrape_timeout".into(), timeout.into());
    config.insert("global".into(), Value::Mapping(global));
    config.insert("scrape_configs".into(), Value::Sequence(jobs));
    Ok(serde_yaml::to_string(&config)?)
}

/// `targets/fleet.yml` in the shipped format: one line per host. Written whole and renamed into
/// place, as an editor saving it would, so Prometheus never reads half a file.
pub fn write_fleet_file(config_dir: &Path, hosts: &[Host]) -> anyhow::Result<()> {
    let dir = config_dir.join("targets");
    std::fs::create_dir_all(&dir)?;
    let mut text = String::from("# The lab's fleet (scripts/fleet-test).\n");
    for h in hosts {
        text.push_str(&format!(
            "- {{targets: [\"{}\"], labels: {{node: {}}}}}\n",
            h.address, h.name
        ));
    }
    let tmp = dir.join(".fleet.yml.new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join("fleet.yml"))?;
    Ok(())
}

/// The shipped central docker-api's cluster settings (the `DOCKER_API_CLUSTER__*` variables of
/// `compose/docker-compose.yml`) with the lab's CA, `password_file` for the peer password, and
/// `peers` as `name=address:3001` (names fixed, as the README suggests). A setting that still
/// names a compose secret the lab does not map is an error, not passed on silently.
pub fn docker_api_env(
    lab: &Lab,
    peers: &[Host],
    password_file: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let path = lab.repo.join("compose/docker-compose.yml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let compose: Value = serde_yaml::from_str(&text).context("parse docker-compose.yml")?;
    let environment = compose["services"][DOCKER_API_SERVICE]["environment"]
        .as_mapping()
        .with_context(|| {
            format!("docker-compose.yml: {DOCKER_API_SERVICE} has no environment mapping")
        })?;
    let peers = peers
        .iter()
        .map(|h| format!("{}={}:{AGENT_DOCKER_API_PORT}", h.name, h.address))
        .collect::<Vec<_>>()
        .join(",");
    let mut env = Vec::new();
    for (key, value) in environment {
        let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else {
            bail!("docker-compose.yml: {DOCKER_API_SERVICE}: a non-string variable {key:?}");
        };
        if !key.starts_with(CLUSTER_PREFIX) {
            continue;
        }
        let value = if key == PEERS_VARIABLE {
            peers.clone()
        } else {
            value
                .replace(CA_SECRET, &lab.ca_file.display().to_string())
                .replace(PEER_PASSWORD_SECRET, &password_file.display().to_string())
        };
        if value.contains("/run/secrets/") {
            bail!("docker-compose.yml: {DOCKER_API_SERVICE}'s {key}={value}: a secret the lab does not have");
        }
        env.push((key.to_string(), value));
    }
    if !env.iter().any(|(k, _)| k == PEERS_VARIABLE) {
        bail!("docker-compose.yml: {DOCKER_API_SERVICE} does not set {PEERS_VARIABLE}");
    }
    Ok(env)
}

/// A docker-api on this machine's engine, named after the lab's first host, asking `peers` with
/// the shipped cluster settings and the peer password in `password_file`.
pub fn start_docker_api(
    lab: &Lab,
    peers: &[Host],
    password_file: &Path,
    extra_args: &[&str],
) -> anyhow::Result<ServiceProcess> {
    let binary = &lab.docker_api_binary;
    if !binary.is_file() {
        bail!("no docker-api binary at {}", binary.display());
    }
    let env = docker_api_env(lab, peers, password_file)?;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let port = free_port();
    let mut args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--node.name={}", lab.hosts[0].name),
        "--stats.interval=1s".to_string(),
    ];
    args.extend(extra_args.iter().map(|a| a.to_string()));
    Ok(ServiceProcess::start_with_env(binary, &args, &env, port))
}

/// A docker-api's answer to `GET path`, whatever its status.
pub fn docker_api_answer(
    docker_api: &ServiceProcess,
    path: &str,
) -> Result<testkit::http::Response, String> {
    testkit::http::get_with(
        &docker_api.url(path),
        &[],
        std::time::Duration::from_secs(10),
    )
}

/// A docker-api's JSON answer for `path`, which must be a 200.
pub fn docker_api_json(
    docker_api: &ServiceProcess,
    path: &str,
) -> Result<serde_json::Value, String> {
    let r = docker_api_answer(docker_api, path)?;
    if r.status != 200 {
        return Err(format!("GET {path}: {} {}", r.status, r.body));
    }
    serde_json::from_str(&r.body).map_err(|e| format!("GET {path}: {e}: {}", r.body))
}

/// The running central side; stopped when dropped.
pub struct Central {
    pub prometheus: ServiceProcess,
    pub docker_api: ServiceProcess,
    pub config_dir: PathBuf,
}

impl Central {
    /// Prometheus with the fleet file listing `listed`, and docker-api as the first host's
    /// engine's view with every other host's agent as a static peer, asked over HTTPS as `peer`.
    pub fn start(lab: &Lab, listed: &[Host]) -> anyhow::Result<Self> {
        let config_dir = lab.dir.join("central");
        std::fs::create_dir_all(&config_dir)?;
        let config = config_dir.join("prometheus.yml");
        std::fs::write(&config, prometheus_config(lab)?)?;
        write_fleet_file(&config_dir, listed)?;
        let prometheus = start_prometheus(&config, &config_dir.join("data"));
        let docker_api = start_docker_api(lab, &lab.hosts[1..], &lab.peer_password_file, &[])?;
        Ok(Self {
            prometheus,
            docker_api,
            config_dir,
        })
    }

    pub fn prometheus(&self) -> Prometheus {
        Prometheus::plain(self.prometheus.url(""))
    }

    /// docker-api's JSON answer for `path`.
    pub fn docker_api(&self, path: &str) -> Result<serde_json::Value, String> {
        docker_api_json(&self.docker_api, path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lab() -> Lab {
        Lab {
            dir: "/tmp/lab".into(),
            repo: testkit::workspace::workspace_root(),
            ca_file: "/lab/ca.pem".into(),
            prometheus_password_file: "/lab/password".into(),
            peer_password_file: "/lab/peer_password".into(),
            docker_api_binary: "/lab/docker-api".into(),
            scrape_interval_seconds: 5,
            scrape_timeout_seconds: 4,
            hosts: Vec::new(),
        }
    }

    #[test]
    fn shipped_fleet_jobs_keep_file_sd_relabelling_tls_and_auth_with_the_labs_paths() {
        let config: Value = serde_yaml::from_str(&prometheus_config(&lab()).unwrap()).unwrap();
        let jobs = config["scrape_configs"].as_sequence().unwrap();
        let names: Vec<&str> = jobs
            .iter()
            .map(|j| j["job_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["cadvisor", "node", "docker-api"]);
        for job in jobs {
            assert!(job["static_configs"].is_null(), "{job:?}");
            assert_eq!(
                job["file_sd_configs"][0]["files"][0].as_str(),
                Some("targets/fleet*.yml")
            );
            assert_eq!(job["scrape_interval"].as_str(), Some("5s"));
            assert_eq!(
                job["basic_auth"]["password_file"].as_str(),
                Some("/lab/password")
            );
            // The rule that gives a fleet host (listed without a port) the job's port.
            let port = job["relabel_configs"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|r| r["target_label"].as_str() == Some("__address__"))
                .and_then(|r| r["replacement"].as_str())
                .unwrap_or_else(|| panic!("no __address__ rule in {job:?}"));
            assert!(port.starts_with("${1}:"), "{port}");
        }
        assert_eq!(
            jobs[0]["tls_config"]["ca_file"].as_str(),
            Some("/lab/ca.pem")
        );
        assert_eq!(
            jobs[1]["tls_config"]["server_name"].as_str(),
            Some("cluster-host-exporter")
        );
        // The agents' docker-api serve HTTPS with basic auth like the exporters: no rule may
        // turn a fleet host's scrape back to plain HTTP, and the certificates (reached by
        // address) are checked under the name they carry.
        for job in jobs {
            assert_eq!(job["scheme"].as_str(), Some("https"), "{job:?}");
            let rules = job["relabel_configs"].as_sequence().unwrap();
            assert!(
                rules
                    .iter()
                    .all(|r| r["target_label"].as_str() != Some("__scheme__")),
                "{job:?}"
            );
        }
        assert_eq!(
            jobs[2]["tls_config"]["server_name"].as_str(),
            Some("cluster-docker-api")
        );
        assert_eq!(
            jobs[2]["tls_config"]["ca_file"].as_str(),
            Some("/lab/ca.pem")
        );
    }

    #[test]
    fn shipped_central_docker_api_asks_peers_over_https_as_peer_with_the_labs_paths() {
        let mut lab = lab();
        for (name, address) in [("a", "10.0.0.1"), ("b", "10.0.0.2"), ("c", "10.0.0.3")] {
            lab.hosts.push(Host {
                name: name.into(),
                address: address.into(),
                socket: String::new(),
                veth: None,
            });
        }
        let env = docker_api_env(&lab, &lab.hosts[1..], Path::new("/lab/other")).unwrap();
        let get = |key: &str| {
            env.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {key} in {env:?}"))
        };
        assert_eq!(get(PEERS_VARIABLE), "b=10.0.0.2:3001,c=10.0.0.3:3001");
        assert_eq!(get("DOCKER_API_CLUSTER__PEER_SCHEME"), "https");
        assert_eq!(get("DOCKER_API_CLUSTER__PEER_CA_FILE"), "/lab/ca.pem");
        assert_eq!(
            get("DOCKER_API_CLUSTER__PEER_SERVER_NAME"),
            "cluster-docker-api"
        );
        assert_eq!(get("DOCKER_API_CLUSTER__PEER_USERNAME"), "peer");
        assert_eq!(get("DOCKER_API_CLUSTER__PEER_PASSWORD_FILE"), "/lab/other");
        assert!(env.iter().all(|(k, _)| k.starts_with(CLUSTER_PREFIX)));
    }

    /// The README tells a user to set CLUSTERMON_FLEET_PEERS: the shipped file must read it,
    /// and leave the peers empty (no cluster mode) without it.
    #[test]
    fn shipped_central_docker_api_takes_its_peers_from_clustermon_fleet_peers() {
        let path = testkit::workspace::workspace_root().join("compose/docker-compose.yml");
        let compose: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            compose["services"][DOCKER_API_SERVICE]["environment"][PEERS_VARIABLE].as_str(),
            Some("${CLUSTERMON_FLEET_PEERS:-}")
        );
        let secrets: Vec<&str> = compose["services"][DOCKER_API_SERVICE]["secrets"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for secret in ["clustermon_ca", "web_peer_password"] {
            assert!(secrets.contains(&secret), "{secrets:?}");
            assert!(!compose["secrets"][secret]["file"].is_null(), "{secret}");
        }
    }
}
