//! Cluster mode: finding the other nodes' docker-api (Swarm's `tasks.<service>` DNS name or a
//! static list) and asking each for its local view in parallel, each within the peer timeout.
//! A peer is always asked with `scope=local`, so it never fans out again; this node's own
//! address among the peers is skipped (it answers locally, without HTTP).

use std::collections::HashMap;
use std::error::Error as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::config::ClusterConfig;
use crate::model::ErrorBody;

/// How long a resolution of the peers is reused: new tasks are found within this.
const RESOLVE_TTL: Duration = Duration::from_secs(5);

/// A peer to ask, or one that could not even be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `host:port` as configured, or a resolved task's `ip:port`.
    pub address: String,
    /// Why the address could not be resolved.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the peer HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

pub struct Cluster {
    peers_dns: String,
    static_peers: Vec<String>,
    peer_port: u16,
    timeout: Duration,
    /// This service's port: a peer address on a local IP with this port is this node.
    listen_port: Option<u16>,
    client: reqwest::Client,
    resolved: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Peer>>)>>,
    /// Address → the node name it last answered with, to name a node that stopped answering.
    names: Mutex<HashMap<String, String>>,
}

impl Cluster {
    /// `None` when cluster mode is off.
    pub fn new(config: &ClusterConfig, listen_address: &str) -> Result<Option<Self>, ClientError> {
        if !config.enabled() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(config.peer_timeout)
            .timeout(config.peer_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Some(Self {
            peers_dns: config.peers_dns.clone(),
            static_peers: config.peers.clone(),
            peer_port: config.peer_port,
            timeout: config.peer_timeout,
            listen_port: listen_address
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok()),
            client,
            resolved: tokio::sync::Mutex::new(None),
            names: Mutex::new(HashMap::new()),
        }))
    }

    /// The peers other than this node, resolved at most [`RESOLVE_TTL`] ago. Concurrent
    /// requests share one resolution.
    pub async fn peers(&self) -> Arc<Vec<Peer>> {
        let mut cached = self.resolved.lock().await;
        if let Some((at, peers)) = cached.as_ref() {
            if at.elapsed() < RESOLVE_TTL {
                return peers.clone();
            }
        }
        let peers = Arc::new(self.resolve().await);
        *cached = Some((Instant::now(), peers.clone()));
        peers
    }

    async fn resolve(&self) -> Vec<Peer> {
        let mut out = Vec::new();
        if !self.peers_dns.is_empty() {
            let name = format!("{}:{}", self.peers_dns, self.peer_port);
            match self.lookup(&name).await {
                Ok(addrs) => {
                    for addr in addrs {
                        let address = addr.to_string();
                        if !self.is_self(addr) && !out.iter().any(|p: &Peer| p.address == address) {
                            out.push(Peer {
                                address,
                                error: None,
                            });
                        }
                    }
                }
                Err(error) => out.push(Peer {
                    address: name,
                    error: Some(error),
                }),
            }
        }
        for peer in &self.static_peers {
            match self.lookup(peer).await {
                // One peer is one node, whichever of its addresses answers.
                Ok(addrs) if addrs.iter().any(|a| self.is_self(*a)) => {}
                Ok(_) => out.push(Peer {
                    address: peer.clone(),
                    error: None,
                }),
                Err(error) => out.push(Peer {
                    address: peer.clone(),
                    error: Some(error),
                }),
            }
        }
        out
    }

    async fn lookup(&self, name: &str) -> Result<Vec<SocketAddr>, String> {
        match tokio::time::timeout(self.timeout, tokio::net::lookup_host(name)).await {
            Ok(Ok(addrs)) => Ok(addrs.collect()),
            Ok(Err(e)) => Err(format!("cannot resolve {name}: {e}")),
            Err(_) => Err(format!(
                "cannot resolve {name} within {}",
                humantime::format_duration(self.timeout)
            )),
        }
    }

    /// Whether `addr` is this service: our port on one of this machine's addresses.
    fn is_self(&self, addr: SocketAddr) -> bool {
        Some(addr.port()) == self.listen_port && is_local_ip(addr.ip())
    }

    /// Asks every peer for `path` (which carries `scope=local`) in parallel; each answer or
    /// error arrives within the peer timeout.
    pub async fn ask<T: DeserializeOwned>(
        &self,
        peers: &[Peer],
        path: &str,
    ) -> Vec<(Peer, Result<T, String>)> {
        let asks = peers.iter().map(|p| async move {
            let answer = match &p.error {
                Some(e) => Err(e.clone()),
                None => self.ask_one(&p.address, path).await,
            };
            (p.clone(), answer)
        });
        futures_util::future::join_all(asks).await
    }

    async fn ask_one<T: DeserializeOwned>(&self, address: &str, path: &str) -> Result<T, String> {
        let url = format!("http://{address}{path}");
        match tokio::time::timeout(self.timeout, self.fetch(&url)).await {
            Ok(answer) => answer,
            Err(_) => Err(self.timeout_message()),
        }
    }

    async fn fetch<T: DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self.client.get(url).send().await.map_err(|e| {
            if e.is_timeout() {
                self.timeout_message()
            } else {
                chain(&e)
            }
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| chain(&e))?;
        if !status.is_success() {
            let why = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| b.error)
                .unwrap_or_default();
            return Err(format!("HTTP {}: {why}", status.as_u16()));
        }
        serde_json::from_slice(&body).map_err(|e| format!("unexpected answer from {url}: {e}"))
    }

    fn timeout_message(&self) -> String {
        format!(
            "no answer within {}",
            humantime::format_duration(self.timeout)
        )
    }

    /// Notes the node name `address` answered with.
    pub fn remember(&self, address: &str, node: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.get(address).map(String::as_str) != Some(node) {
            names.insert(address.to_string(), node.to_string());
        }
    }

    /// The node name `address` last answered with.
    pub fn known_name(&self, address: &str) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.get(address).cloned()
    }

    /// The address `node` last answered from.
    pub fn address_of(&self, node: &str) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .find(|(_, n)| n.as_str() == node)
            .map(|(a, _)| a.clone())
    }
}

/// The error's causes on one line ("client error (Connect): tcp connect error: Connection
/// refused"), without the URL the node's entry already shows.
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !parts.iter().any(|p| p.contains(&part)) {
            parts.push(part);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// Whether `ip` belongs to this machine: loopback, or the source address the kernel picks to
/// reach it is itself (a connected UDP socket sends nothing).
pub fn is_local_ip(ip: IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    let bind: SocketAddr = match ip {
        IpAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    UdpSocket::bind(bind)
        .and_then(|s| s.connect((ip, 9)).and_then(|()| s.local_addr()))
        .is_ok_and(|local| local.ip() == ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(peers: &[&str], listen: &str) -> Cluster {
        let config = ClusterConfig {
            peers: peers.iter().map(|p| p.to_string()).collect(),
            ..ClusterConfig::default()
        };
        Cluster::new(&config, listen).unwrap().unwrap()
    }

    #[test]
    fn cluster_mode_is_off_without_peers() {
        assert!(Cluster::new(&ClusterConfig::default(), ":3001")
            .unwrap()
            .is_none());
    }

    #[test]
    fn loopback_and_unroutable_addresses() {
        assert!(is_local_ip("127.0.0.1".parse().unwrap()));
        assert!(is_local_ip("::1".parse().unwrap()));
        // TEST-NET-1 is never configured on a host.
        assert!(!is_local_ip("192.0.2.1".parse().unwrap()));
    }

    #[tokio::test]
    async fn own_address_is_skipped_and_unresolvable_peers_carry_the_error() {
        let c = cluster(
            &[
                "127.0.0.1:4001",
                "localhost:4002",
                "no-such-host.invalid:4003",
            ],
            "127.0.0.1:4001",
        );
        let peers = c.peers().await;
        let addresses: Vec<&str> = peers.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(addresses, ["localhost:4002", "no-such-host.invalid:4003"]);
        assert!(peers[0].error.is_none());
        assert!(peers[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot resolve no-such-host.invalid")));
    }

    #[test]
    fn names_are_remembered_per_address() {
        let c = cluster(&["a:1"], ":3001");
        c.remember("10.0.0.1:3001", "n1");
        assert_eq!(c.known_name("10.0.0.1:3001").as_deref(), Some("n1"));
        assert_eq!(c.address_of("n1").as_deref(), Some("10.0.0.1:3001"));
        assert_eq!(c.address_of("n2"), None);
    }
}
