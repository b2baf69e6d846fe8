//! The lab `scripts/fleet-test` built, as it describes it in its `lab.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::Deserialize;

/// One monitored host.
#[derive(Debug, Clone, Deserialize)]
pub struct Host {
    /// Its name in the fleet (`node` label, docker-api's node name).
    pub name: String,
    /// Where the central side reaches its agent.
    pub address: String,
    /// Its engine's socket, `unix://...`.
    pub socket: String,
    /// The bridge end of its link (absent for the host's own engine, which is never cut off).
    #[serde(default)]
    pub veth: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lab {
    /// Where the central side keeps its files.
    pub dir: PathBuf,
    /// The repository, for `prometheus/prometheus.yml`.
    pub repo: PathBuf,
    /// The stack's CA, the `prometheus` user's password file and the `peer` user's (the central
    /// docker-api asking the agents' docker-api), as `scripts/stack secrets` made them.
    pub ca_file: PathBuf,
    pub prometheus_password_file: PathBuf,
    pub peer_password_file: PathBuf,
    /// The docker-api binary to run as the central one (the script built it).
    pub docker_api_binary: PathBuf,
    pub scrape_interval_seconds: u64,
    pub scrape_timeout_seconds: u64,
    pub hosts: Vec<Host>,
}

impl Lab {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let lab: Lab =
            serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        if lab.hosts.len() < 2 {
            bail!(
                "the lab has {} hosts; the checks want at least two",
                lab.hosts.len()
            );
        }
        Ok(lab)
    }

    pub fn names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }
}

impl Host {
    /// The running containers' names on its engine, as `docker ps` lists them.
    pub fn docker_ps(&self) -> anyhow::Result<Vec<String>> {
        let out = Command::new("docker")
            .args(["-H", &self.socket, "ps", "--format", "{{.Names}}"])
            .output()
            .context("run docker ps")?;
        if !out.status.success() {
            bail!(
                "docker -H {} ps: {}",
                self.socket,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Takes its link down (`false`) or up (`true`).
    pub fn set_link(&self, up: bool) -> anyhow::Result<()> {
        let veth = self
            .veth
            .as_deref()
            .with_context(|| format!("{} has no link to cut", self.name))?;
        let state = if up { "up" } else { "down" };
        let status = Command::new("ip")
            .args(["link", "set", veth, state])
            .status()
            .context("run ip link")?;
        if !status.success() {
            bail!("ip link set {veth} {state} failed");
        }
        Ok(())
    }
}
