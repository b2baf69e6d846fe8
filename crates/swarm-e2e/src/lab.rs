//! The lab `scripts/swarm-test` builds, as it describes it in `lab.json`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use testkit::prometheus::{Alertmanager, Prometheus};
use testkit::{Client, Credentials};

#[derive(Debug, Clone, Deserialize)]
pub struct Lab {
    /// The stack's name in `docker stack deploy`.
    pub stack: String,
    /// Prometheus' URL, published on the manager.
    pub prometheus: String,
    /// Alertmanager's URL, published on the manager.
    pub alertmanager: String,
    /// docker-api's port, published on every node.
    pub docker_api_port: u16,
    /// The test's Prometheus scrape interval.
    pub scrape_interval_seconds: u64,
    /// docker-api's per-node timeout (`DOCKER_API_CLUSTER__PEER_TIMEOUT`).
    pub peer_timeout_seconds: u64,
    /// When `docker stack deploy` returned (Unix seconds).
    pub deployed_at: u64,
    pub nodes: Vec<Node>,
    /// A secured stack: the CA its `https://` URLs are checked against (absent: plain HTTP).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A secured stack: the web user every request logs in as, and its password file.
    #[serde(default)]
    pub web_user: Option<String>,
    #[serde(default)]
    pub web_password_file: Option<PathBuf>,
    /// How requests reach the lab, made from the three fields above by [`Lab::load`].
    #[serde(skip)]
    pub client: Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    /// The node's hostname, as Swarm and the `node` label know it.
    pub name: String,
    /// Its address on the lab's bridge.
    pub address: String,
    /// Its engine's socket (`unix://...`).
    pub socket: String,
    pub role: String,
    /// Workers: the host end of its link to the bridge.
    #[serde(default)]
    pub veth: Option<String>,
    /// Workers: its dockerd's pid file.
    #[serde(default)]
    pub dockerd_pid_file: Option<String>,
}

impl Lab {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the lab description {}", path.display()))?;
        let mut lab: Self =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        lab.client = lab.make_client()?;
        Ok(lab)
    }

    fn make_client(&self) -> anyhow::Result<Client> {
        let auth = match (&self.web_user, &self.web_password_file) {
            (Some(user), Some(file)) => {
                Some(Credentials::from_file(user, file).map_err(anyhow::Error::msg)?)
            }
            (None, None) => None,
            _ => anyhow::bail!("the lab names web_user or web_password_file without the other"),
        };
        Ok(match &self.ca_file {
            Some(ca) => Client::new(ca, auth).map_err(anyhow::Error::msg)?,
            None => Client::plain().with_auth(auth),
        })
    }

    /// The lab's Prometheus, asked through its client.
    pub fn prometheus_api(&self) -> Prometheus {
        Prometheus::new(&self.prometheus, self.client.clone())
    }

    /// The lab's Alertmanager, asked through its client.
    pub fn alertmanager_api(&self) -> Alertmanager {
        Alertmanager::new(&self.alertmanager, self.client.clone())
    }

    pub fn manager(&self) -> anyhow::Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.role == "manager")
            .context("the lab has no manager")
    }

    pub fn workers(&self) -> Vec<&Node> {
        self.nodes.iter().filter(|n| n.role == "worker").collect()
    }

    pub fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        names.sort();
        names
    }

    /// docker-api's URL on `node`.
    pub fn docker_api(&self, node: &Node, path: &str) -> String {
        format!("http://{}:{}{}", node.address, self.docker_api_port, path)
    }
}
