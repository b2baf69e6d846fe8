//! The central side of the fleet, run on this machine: Prometheus on the fleet part of the shipped
//! `prometheus/prometheus.yml`, and docker-api with the agents as static peers.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_yaml::Value;
use testkit::prometheus::{start_prometheus, Prometheus};
use testkit::{free_port, ServiceProcess};

use crate::lab::{Host, Lab};

/// The jobs that scrape a fleet's agents (host-exporter, container-exporter, docker-api).
pub const FLEET_JOBS: [&str; 3] = ["node", "cadvisor", "docker-api"];

/// Where the compose stack mounts the CA and the scrape password.
const CA_SECRET: &str = "/run/secrets/clustermon_ca";
const PASSWORD_SECRET: &str = "/run/secrets/web_prometheus_password";

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

/// The running central side; stopped when dropped.
pub struct Central {
    pub prometheus: ServiceProcess,
    pub docker_api: ServiceProcess,
    pub config_dir: PathBuf,
}

impl Central {
    /// Prometheus with the fleet file listing `listed`, and docker-api as the first host's
    /// engine's view with every other host's agent as a static peer.
    pub fn start(lab: &Lab, listed: &[Host]) -> anyhow::Result<Self> {
        let config_dir = lab.dir.join("central");
        std::fs::create_dir_all(&config_dir)?;
        let config = config_dir.join("prometheus.yml");
        std::fs::write(&config, prometheus_config(lab)?)?;
        write_fleet_file(&config_dir, listed)?;
        let prometheus = start_prometheus(&config, &config_dir.join("data"));

        let binary = &lab.docker_api_binary;
        if !binary.is_file() {
            bail!("no docker-api binary at {}", binary.display());
        }
        let port = free_port();
        let mut args = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--node.name={}", lab.hosts[0].name),
            "--stats.interval=1s".to_string(),
        ];
        for h in &lab.hosts[1..] {
            args.push(format!("--cluster.peers={}:3001", h.address));
        }
        let docker_api = ServiceProcess::start(binary, &args, port);
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
        let r = testkit::http::get_with(
            &self.docker_api.url(path),
            &[],
            std::time::Duration::from_secs(10),
        )?;
        if r.status != 200 {
            return Err(format!("GET {path}: {} {}", r.status, r.body));
        }
        serde_json::from_str(&r.body).map_err(|e| format!("GET {path}: {e}: {}", r.body))
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
    }
}
