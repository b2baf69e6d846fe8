//! The lab `scripts/swarm-test` builds, as it describes it in `lab.json`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use testkit::prometheus::{Alertmanager, Prometheus};
use testkit::{Client, Credentials};

/// The names the stack's certificates carry (`scripts/stack secrets`: `cluster-<service>`), which
/// the lab's addresses are checked against, as Prometheus does with `server_name`.
pub const TLS_PROMETHEUS: &str = "cluster-prometheus";
pub const TLS_ALERTMANAGER: &str = "cluster-alertmanager";
pub const TLS_DOCKER_API: &str = "cluster-docker-api";
pub const TLS_DASHBOARD: &str = "cluster-dashboard";

#[derive(Debug, Clone, Deserialize)]
pub struct Lab {
    /// The stack's name in `docker stack deploy`.
    pub stack: String,
    /// Prometheus' URL, published on the manager (an address: its certificate is checked
    /// against [`TLS_PROMETHEUS`]).
    pub prometheus: String,
    /// Alertmanager's URL, published on the manager.
    pub alertmanager: String,
    /// docker-api's port, published by the stack on every node.
    pub docker_api_port: u16,
    /// The dashboard's port, published on the manager.
    #[serde(default)]
    pub dashboard_port: Option<u16>,
    /// Whether the stack's overlay network was deployed with IPsec encryption (the lab turns it
    /// off on a kernel without ESP, saying so).
    #[serde(default)]
    pub overlay_encrypted: bool,
    /// How the lab is asked: `https` (secured stack) or `http` (`CLUSTERMON_SWARM_INSECURE=1`,
    /// whose security checks must then fail). Default: `https` when there is a `ca_file`.
    #[serde(default)]
    pub scheme: Option<String>,
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

    /// The lab's client for the service whose certificate carries `tls_name`.
    pub fn client_for(&self, tls_name: &str) -> Client {
        self.client.with_server_name(tls_name)
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &str {
        match (&self.scheme, &self.ca_file) {
            (Some(scheme), _) => scheme,
            (None, Some(_)) => "https",
            (None, None) => "http",
        }
    }

    /// The lab's Prometheus, asked through its client.
    pub fn prometheus_api(&self) -> Prometheus {
        Prometheus::new(&self.prometheus, self.client_for(TLS_PROMETHEUS))
    }

    /// The lab's Alertmanager, asked through its client.
    pub fn alertmanager_api(&self) -> Alertmanager {
        Alertmanager::new(&self.alertmanager, self.client_for(TLS_ALERTMANAGER))
    }

    /// The client for docker-api on any node.
    pub fn docker_api_client(&self) -> Client {
        self.client_for(TLS_DOCKER_API)
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

    /// docker-api's URL on `node` (its port is published on every node; an address, so its
    /// certificate is checked against [`TLS_DOCKER_API`] by [`Lab::docker_api_client`]).
    pub fn docker_api(&self, node: &Node, path: &str) -> String {
        format!(
            "{}://{}:{}{}",
            self.scheme(),
            node.address,
            self.docker_api_port,
            path
        )
    }
}
