//! Settings, with every default in one place, and the flags that set them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction};
use metrics_core::client::ServerName;
use metrics_core::{LogConfig, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

use crate::history::Limits;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub docker: DockerConfig,
    pub stats: StatsConfig,
    pub path: PathConfig,
    pub history: HistoryConfig,
    pub api: ApiConfig,
    pub node: NodeConfig,
    pub cluster: ClusterConfig,
}

impl Default for Config {
    fn default() -> Self {
        let mut web = WebConfig::on_port(3001);
        // Handlers only read memory; a few workers serve hundreds of connections.
        web.workers = 2;
        Self {
            web,
            log: LogConfig::default(),
            docker: DockerConfig::default(),
            stats: StatsConfig::default(),
            path: PathConfig::default(),
            history: HistoryConfig::default(),
            api: ApiConfig::default(),
            node: NodeConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl ServiceConfig for Config {
    fn web(&self) -> &WebConfig {
        &self.web
    }
    fn log(&self) -> &LogConfig {
        &self.log
    }

    fn validate(&self) -> Result<(), metrics_core::ConfigError> {
        self.check()
            .map_err(|why| metrics_core::ConfigError::Invalid {
                key: "configuration".into(),
                why,
            })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// `unix:///var/run/docker.sock`, a socket path, or `tcp://host:2375`.
    pub host: String,
    /// How often the full container list (stopped ones too) is refreshed besides on events. Every
    /// start, stop and health change already triggers a refresh; this only catches containers
    /// created or removed without ever running.
    #[serde(with = "humantime_serde")]
    pub list_refresh: Duration,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: "unix:///var/run/docker.sock".into(),
            list_refresh: Duration::from_secs(60),
        }
    }
}

/// Where stats come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsSource {
    /// cgroupfs when it can be read, else the daemon.
    Auto,
    /// cgroupfs and `/proc` only: the daemon sees no stats requests.
    Cgroupfs,
    /// The daemon's stats API, one stream per running container.
    Daemon,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    pub source: StatsSource,
    /// One sample of every running container per interval.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            source: StatsSource::Auto,
            interval: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathConfig {
    pub sysfs: PathBuf,
    pub procfs: PathBuf,
}

impl Default for PathConfig {
    fn default() -> Self {
        Self {
            sysfs: "/sys".into(),
            procfs: "/proc".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// History at the sample interval.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// History at one point per `long_step`.
    #[serde(with = "humantime_serde")]
    pub long_window: Duration,
    #[serde(with = "humantime_serde")]
    pub long_step: Duration,
    /// How long a removed container's history stays available.
    #[serde(with = "humantime_serde")]
    pub keep_removed: Duration,
    /// How many removed containers keep their history at once (those gone longest go first).
    pub max_removed: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            window: l.window,
            long_window: l.long_window,
            long_step: l.long_step,
            keep_removed: l.keep_removed,
            max_removed: l.max_removed,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Origins allowed by CORS; `*` allows any (only when configured).
    pub cors_origins: Vec<String>,
    /// Longest time one request may take (the event stream excepted).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Requests served at once; more get 503.
    pub max_concurrent_requests: usize,
    /// Event-stream clients at once; more get 503.
    pub max_stream_clients: usize,
    /// Event-stream clients at once from one remote address; more get 429. A client dropped
    /// for not reading still counts here until its connection closes. Keep it at least the
    /// dashboard's `docker_api.max_streams`: every browser it relays comes from its address.
    pub max_stream_clients_per_address: usize,
    /// A stream client that has not taken a frame (or a heartbeat) for this long is dropped and
    /// its slot freed: the frames it left unread stop piling up anywhere.
    #[serde(with = "humantime_serde")]
    pub stream_write_deadline: Duration,
    /// A comment line on the event stream this often keeps proxies from closing it.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Container label keys served (`prefix*` for a prefix, `*` for all); every other label is
    /// dropped when read. A comma-separated string in the environment.
    #[serde(deserialize_with = "metrics_core::config::one_or_many")]
    pub allowed_labels: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            cors_origins: vec!["http://localhost:3000".into()],
            request_timeout: Duration::from_secs(10),
            max_concurrent_requests: 512,
            max_stream_clients: 256,
            max_stream_clients_per_address: 32,
            stream_write_deadline: Duration::from_secs(30),
            heartbeat: Duration::from_secs(15),
            allowed_labels: crate::labels::DEFAULT_ALLOWED
                .iter()
                .map(|p| (*p).to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// The name containers are tagged with; empty means the engine's `Name` (the host name).
    pub name: String,
}

/// Where the other nodes' docker-api instances are. Cluster mode is on when either is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// A name resolving to every docker-api task, e.g. `tasks.docker-api` in a swarm stack.
    pub peers_dns: String,
    /// Static peers (a fleet of plain Docker hosts, tests): `host:port`, or `name=host:port` to
    /// fix the node name the peer must answer with (and that no other peer may take); a
    /// comma-separated string in the environment.
    #[serde(deserialize_with = "metrics_core::config::one_or_many")]
    pub peers: Vec<String>,
    /// `http` or `https`, for every peer (static and DNS).
    pub peer_scheme: String,
    /// The CA file peers' certificates are checked against (needed with `https`: only it is
    /// trusted).
    pub peer_ca_file: String,
    /// The name every peer's certificate is checked against instead of the address it is
    /// reached on (with `https`; empty: the address). DNS-found peers are task addresses that
    /// no certificate names, so a Swarm stack gives its service's name here.
    pub peer_server_name: String,
    /// Basic-auth user sent to every peer, with the password read from `peer_password_file`
    /// (both or neither).
    pub peer_username: String,
    pub peer_password_file: String,
    /// The port of the tasks `peers_dns` resolves to.
    pub peer_port: u16,
    /// How long one node may take to answer before it is listed unreachable.
    #[serde(with = "humantime_serde")]
    pub peer_timeout: Duration,
    /// The largest answer read from a peer, in bytes; a peer answering more is listed
    /// unreachable.
    pub max_answer_bytes: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            peers_dns: String::new(),
            peers: Vec::new(),
            peer_scheme: "http".into(),
            peer_ca_file: String::new(),
            peer_server_name: String::new(),
            peer_username: String::new(),
            peer_password_file: String::new(),
            peer_port: 3001,
            peer_timeout: Duration::from_secs(2),
            max_answer_bytes: 8 * 1024 * 1024,
        }
    }
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.peers_dns.is_empty() || !self.peers.is_empty()
    }

    /// The static peers, each with the node name it is pinned to, if any.
    pub fn static_peers(&self) -> Result<Vec<StaticPeer>, String> {
        let mut out: Vec<StaticPeer> = Vec::with_capacity(self.peers.len());
        for entry in &self.peers {
            let peer = StaticPeer::parse(entry)?;
            if let Some(name) = &peer.name {
                if out.iter().any(|p| p.name.as_ref() == Some(name)) {
                    return Err(format!(
                        "cluster.peers: the node name {name:?} is given twice"
                    ));
                }
            }
            out.push(peer);
        }
        Ok(out)
    }

    /// The name peers' certificates are checked against, when one is set.
    pub fn server_name(&self) -> Result<Option<ServerName<'static>>, String> {
        if self.peer_server_name.is_empty() {
            return Ok(None);
        }
        ServerName::try_from(self.peer_server_name.clone())
            .map(Some)
            .map_err(|e| format!("cluster.peer_server_name {:?}: {e}", self.peer_server_name))
    }

    fn check(&self, own_name: &str) -> Result<(), String> {
        let peers = self.static_peers()?;
        if let Some(p) = peers.iter().find(|p| p.name.as_deref() == Some(own_name)) {
            return Err(format!(
                "cluster.peers: {} is named after this node ({own_name:?})",
                p.address
            ));
        }
        match self.peer_scheme.as_str() {
            "http" => {}
            "https" if self.peer_ca_file.is_empty() => {
                return Err("cluster.peer_scheme https needs cluster.peer_ca_file".into())
            }
            "https" => {}
            _ => return Err("cluster.peer_scheme must be http or https".into()),
        }
        if !self.peer_server_name.is_empty() {
            if self.peer_scheme != "https" {
                return Err("cluster.peer_server_name needs cluster.peer_scheme https".into());
            }
            self.server_name()?;
        }
        if self.peer_username.is_empty() != self.peer_password_file.is_empty() {
            return Err("cluster.peer_username and cluster.peer_password_file go together".into());
        }
        Ok(())
    }
}

/// One `--cluster.peers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPeer {
    /// The node name it must answer with, when given as `name=host:port`.
    pub name: Option<String>,
    pub address: String,
}

impl StaticPeer {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (name, address) = match entry.split_once('=') {
            Some((name, address)) => (Some(name.to_string()), address),
            None => (None, entry),
        };
        if !is_host_port(address) {
            // The entry may hold a password: not shown.
            return Err(format!(
                "cluster.peers: {:?} is not host:port or name=host:port",
                metrics_core::secret::redact_url(entry)
            ));
        }
        if let Some(name) = name
            .as_deref()
            .filter(|n| !crate::validate::is_valid_node(n))
        {
            return Err(format!(
                "cluster.peers: the node name {name:?} is not a host name"
            ));
        }
        Ok(Self {
            name,
            address: address.to_string(),
        })
    }
}

impl Config {
    pub fn limits(&self) -> Limits {
        Limits {
            interval: self.stats.interval,
            window: self.history.window,
            long_window: self.history.long_window,
            long_step: self.history.long_step,
            keep_removed: self.history.keep_removed,
            max_removed: self.history.max_removed,
        }
    }

    /// Rejects settings that cannot work, naming the key.
    pub fn check(&self) -> Result<(), String> {
        let s = Duration::from_secs;
        if self.stats.interval < Duration::from_millis(500) || self.stats.interval > s(60) {
            return Err("stats.interval must be between 500ms and 60s".into());
        }
        if self.history.window < self.stats.interval || self.history.window > s(24 * 3600) {
            return Err("history.window must be between stats.interval and 24h".into());
        }
        if self.history.long_step < s(1) || self.history.long_window < self.history.long_step {
            return Err(
                "history.long_step must be at least 1s and at most history.long_window".into(),
            );
        }
        if self.history.long_window > s(7 * 24 * 3600) {
            return Err("history.long_window must be at most 7 days".into());
        }
        if self.api.max_concurrent_requests == 0
            || self.api.max_stream_clients == 0
            || self.api.max_stream_clients_per_address == 0
        {
            return Err("api.max_concurrent_requests, api.max_stream_clients and api.max_stream_clients_per_address must be above 0".into());
        }
        if self.api.stream_write_deadline < Duration::from_millis(100) {
            return Err("api.stream_write_deadline must be at least 100ms".into());
        }
        if self.cluster.peer_timeout < Duration::from_millis(50)
            || self.cluster.peer_timeout >= self.api.request_timeout
        {
            return Err(
                "cluster.peer_timeout must be at least 50ms and below api.request_timeout".into(),
            );
        }
        if self.cluster.max_answer_bytes < 1024 {
            return Err("cluster.max_answer_bytes must be at least 1024".into());
        }
        if self.cluster.peer_port == 0 {
            return Err("cluster.peer_port must be above 0".into());
        }
        self.cluster.check(&self.node.name)?;
        for pattern in &self.api.allowed_labels {
            crate::labels::check_pattern(pattern)
                .map_err(|e| format!("api.allowed_labels: {e}"))?;
        }
        if !self.node.name.is_empty() && !crate::validate::is_valid_node(&self.node.name) {
            return Err("node.name must be a host name (letters, digits, '.', '_', '-')".into());
        }
        Ok(())
    }
}

/// `host:port` or `[v6]:port`, with nothing that would make a URL of it more than an address
/// (no userinfo, path, query or whitespace).
fn is_host_port(peer: &str) -> bool {
    let plain = peer
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    plain
        && peer.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

/// The service's own flags; each id is its config key.
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new("docker.host")
            .long("docker.host")
            .env("DOCKER_HOST")
            .value_name("URL")
            .help("Docker endpoint: unix:///path/to/docker.sock or tcp://host:port"),
        Arg::new("docker.list_refresh")
            .long("docker.list-refresh")
            .value_name("DURATION")
            .help("How often the full container list is refreshed besides on Docker events"),
        Arg::new("stats.source")
            .long("stats.source")
            .value_parser(["auto", "cgroupfs", "daemon"])
            .help("Where stats come from: cgroupfs and /proc (no daemon load), the daemon's stats API, or auto (cgroupfs when readable)"),
        Arg::new("stats.interval")
            .long("stats.interval")
            .value_name("DURATION")
            .help("How often every running container is sampled"),
        Arg::new("path.sysfs")
            .long("path.sysfs")
            .value_name("PATH")
            .help("The host's /sys (e.g. /host/sys inside a container)"),
        Arg::new("path.procfs")
            .long("path.procfs")
            .value_name("PATH")
            .help("The host's /proc (e.g. /host/proc inside a container)"),
        Arg::new("history.window")
            .long("history.window")
            .value_name("DURATION")
            .help("History kept at the sample interval"),
        Arg::new("history.long_window")
            .long("history.long-window")
            .value_name("DURATION")
            .help("History kept at one point per history.long-step"),
        Arg::new("history.long_step")
            .long("history.long-step")
            .value_name("DURATION")
            .help("Spacing of the long history's points"),
        Arg::new("history.keep_removed")
            .long("history.keep-removed")
            .value_name("DURATION")
            .help("How long a removed container's history stays available"),
        Arg::new("history.max_removed")
            .long("history.max-removed")
            .value_name("N")
            .help("Removed containers whose history is kept at once (those gone longest go first)"),
        Arg::new("api.cors_origins")
            .long("api.cors-origin")
            .value_name("ORIGIN")
            .action(ArgAction::Append)
            .help("An origin allowed to call the API from a browser (repeatable; * allows any)"),
        Arg::new("api.allowed_labels")
            .long("api.allowed-label")
            .value_name("KEY")
            .action(ArgAction::Append)
            .help("A container label key served (repeatable; `prefix*` for a prefix, `*` for all); default: com.docker.compose.*, com.docker.stack.*, com.docker.swarm.service.name, com.docker.swarm.task.name. Other labels are never served")
            .hide_default_value(true),
        Arg::new("api.request_timeout")
            .long("api.request-timeout")
            .value_name("DURATION")
            .help("Longest time one request may take (the event stream excepted)"),
        Arg::new("api.max_concurrent_requests")
            .long("api.max-concurrent-requests")
            .value_name("N")
            .help("Requests served at once; more are answered 503"),
        Arg::new("api.max_stream_clients")
            .long("api.max-stream-clients")
            .value_name("N")
            .help("Event-stream clients at once; more are answered 503"),
        Arg::new("api.max_stream_clients_per_address")
            .long("api.max-stream-clients-per-address")
            .value_name("N")
            .help("Event-stream clients at once from one remote address; more are answered 429"),
        Arg::new("api.stream_write_deadline")
            .long("api.stream-write-deadline")
            .value_name("DURATION")
            .help("Drop an event-stream client that has not taken a frame or heartbeat for this long"),
        Arg::new("api.heartbeat")
            .long("api.heartbeat")
            .value_name("DURATION")
            .help("Interval of keep-alive comments on the event stream"),
        Arg::new("node.name")
            .long("node.name")
            .value_name("NAME")
            .help("This node's name in cluster answers (default: the engine's Name, i.e. the host name)"),
        Arg::new("cluster.peers_dns")
            .long("cluster.peers-dns")
            .value_name("NAME")
            .help("A DNS name resolving to every docker-api task, e.g. tasks.docker-api (turns cluster mode on)"),
        Arg::new("cluster.peers")
            .long("cluster.peers")
            .value_name("HOST:PORT")
            .action(ArgAction::Append)
            .help("A peer docker-api as host:port, or name=host:port to fix the node name it must answer with (repeatable; turns cluster mode on)"),
        Arg::new("cluster.peer_scheme")
            .long("cluster.peer-scheme")
            .value_parser(["http", "https"])
            .help("How every peer is asked"),
        Arg::new("cluster.peer_ca_file")
            .long("cluster.peer-ca-file")
            .value_name("PATH")
            .help("The CA file the peers' certificates are checked against (with https; the only CA trusted)"),
        Arg::new("cluster.peer_server_name")
            .long("cluster.peer-server-name")
            .value_name("NAME")
            .help("The name the peers' certificates are checked against instead of their addresses (with https; e.g. the Swarm service's name)"),
        Arg::new("cluster.peer_username")
            .long("cluster.peer-username")
            .value_name("USER")
            .help("Basic-auth user sent to every peer (with cluster.peer-password-file)"),
        Arg::new("cluster.peer_password_file")
            .long("cluster.peer-password-file")
            .value_name("PATH")
            .help("File holding the peers' basic-auth password (read at start; never logged)"),
        Arg::new("cluster.peer_port")
            .long("cluster.peer-port")
            .value_name("PORT")
            .help("Port of the tasks cluster.peers-dns resolves to"),
        Arg::new("cluster.peer_timeout")
            .long("cluster.peer-timeout")
            .value_name("DURATION")
            .help("How long one node may take to answer before it is listed unreachable"),
        Arg::new("cluster.max_answer_bytes")
            .long("cluster.max-answer-bytes")
            .value_name("BYTES")
            .help("The largest answer read from a peer; a peer answering more is listed unreachable"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_come_as_a_list_or_one_comma_separated_string() {
        let from_env: ClusterConfig =
            serde_json::from_value(serde_json::json!({"peers": "a:1, b:2,"})).unwrap();
        assert_eq!(from_env.peers, ["a:1", "b:2"]);
        let from_file: ClusterConfig =
            serde_json::from_value(serde_json::json!({"peers": ["a:1"], "peer_timeout": "750ms"}))
                .unwrap();
        assert_eq!(from_file.peers, ["a:1"]);
        assert_eq!(from_file.peer_timeout, Duration::from_millis(750));
        assert!(from_file.enabled());
        assert!(!ClusterConfig::default().enabled());
    }

    #[test]
    fn cluster_settings_that_cannot_work_are_rejected() {
        let with = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.check()
        };
        assert!(with(&|_| {}).is_ok());
        assert!(with(&|c| c.cluster.peers = vec!["10.0.0.2:3001".into()]).is_ok());
        assert!(with(&|c| c.cluster.peers = vec!["10.0.0.2".into()]).is_err());
        assert!(with(&|c| c.cluster.peers = vec![":3001".into()]).is_err());
        assert!(with(&|c| c.cluster.peers = vec!["[::1]:3001".into()]).is_ok());
        assert!(with(&|c| c.cluster.peers = vec!["node-2=10.0.0.2:3001".into()]).is_ok());
        assert!(with(&|c| c.cluster.peers = vec!["a/b=10.0.0.2:3001".into()]).is_err());
        assert!(with(
            &|c| c.cluster.peers = vec!["n=10.0.0.2:3001".into(), "n=10.0.0.3:3001".into()]
        )
        .is_err());
        assert!(with(&|c| {
            c.node.name = "me".into();
            c.cluster.peers = vec!["me=10.0.0.2:3001".into()];
        })
        .is_err());
        assert!(with(&|c| c.cluster.peer_scheme = "https".into()).is_err());
        assert!(with(&|c| {
            c.cluster.peer_scheme = "https".into();
            c.cluster.peer_ca_file = "/ca.pem".into();
        })
        .is_ok());
        assert!(with(&|c| c.cluster.peer_scheme = "ftp".into()).is_err());
        assert!(with(&|c| c.cluster.peer_server_name = "cluster-docker-api".into()).is_err());
        assert!(with(&|c| {
            c.cluster.peer_scheme = "https".into();
            c.cluster.peer_ca_file = "/ca.pem".into();
            c.cluster.peer_server_name = "not a name".into();
        })
        .is_err());
        assert!(with(&|c| {
            c.cluster.peer_scheme = "https".into();
            c.cluster.peer_ca_file = "/ca.pem".into();
            c.cluster.peer_server_name = "cluster-docker-api".into();
        })
        .is_ok());
        assert!(with(&|c| c.cluster.peer_username = "u".into()).is_err());
        for bad in [
            "user:pw@host:3001",
            "host/x:3001",
            "host :3001",
            "host:3001?a",
        ] {
            assert!(
                with(&|c| c.cluster.peers = vec![bad.into()]).is_err(),
                "{bad}"
            );
        }
        assert!(with(&|c| c.cluster.peer_timeout = Duration::from_secs(10)).is_err());
        assert!(with(&|c| c.cluster.peer_timeout = Duration::from_millis(10)).is_err());
        assert!(with(&|c| c.node.name = "node-1.example".into()).is_ok());
        assert!(with(&|c| c.node.name = "a/b".into()).is_err());
    }
}
