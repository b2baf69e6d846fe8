//! Cluster mode: finding the other nodes' docker-api (Swarm's `tasks.<service>` DNS name or a
//! static list) and asking each for its local view in parallel, each within the peer timeout.
//! A peer is always asked with `scope=local`, so it never fans out again; this node's own
//! address among the peers is skipped (it answers locally, without HTTP). Requests that arrive
//! while the same peers are being asked the same thing share that round instead of piling up.
//! The fan-out itself, [`gather`], is here too: the handlers pass their local answer and get
//! every node's.

use std::collections::HashMap;
use std::error::Error as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use serde::de::DeserializeOwned;

use crate::config::ClusterConfig;
use crate::merge::NodeAnswer;
use crate::model::{self, ErrorBody};

/// How long a resolution of the peers is reused: new tasks are found within this.
const RESOLVE_TTL: Duration = Duration::from_secs(5);

/// How long a peer that answered once is still asked after the DNS name stopped listing it
/// (Swarm drops a dead node's task from `tasks.<service>`): meanwhile it is listed
/// unreachable instead of vanishing. Forgotten at once when its node answers from elsewhere.
pub const FORGET_AFTER: Duration = Duration::from_secs(300);

/// The node name an address last answered with, and when.
#[derive(Debug, Clone)]
struct Seen {
    node: String,
    at: Instant,
}

/// Distinct (path, peers) rounds remembered for sharing; the set changes only as tasks come
/// and go, and is simply forgotten past this.
const MAX_SHARED_ROUNDS: usize = 64;

/// Every asked peer's raw answer.
type Round = Arc<Vec<(Peer, Result<Bytes, String>)>>;

/// The latest round of one (path, peers) and when it ended.
type SharedRound = Arc<tokio::sync::Mutex<Option<(Instant, Round)>>>;

/// A peer to ask, or one that could not even be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `host:port` as configured, or a resolved task's `ip:port`.
    pub address: String,
    /// Why the address could not be resolved.
    pub error: Option<String>,
}

/// Why the peers' client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the peer HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    /// The CA file or the password file (`key` names the setting).
    #[error("{key}: {error}")]
    File {
        key: &'static str,
        error: metrics_core::client::FileError,
    },
    #[error("cluster.peers: {0}")]
    Peers(String),
    /// `cluster.peer_server_name` is not a DNS name or an address (the message names it).
    #[error("{0}")]
    ServerName(String),
}

/// The basic-auth credentials sent to every peer; the password is never shown.
struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    fn from_file(username: &str, password_file: &str) -> Result<Self, ClientError> {
        let password =
            metrics_core::client::read_password(Path::new(password_file)).map_err(|error| {
                ClientError::File {
                    key: "cluster.peer_password_file",
                    error,
                }
            })?;
        Ok(Self {
            username: username.to_string(),
            password,
        })
    }
}

pub struct Cluster {
    peers_dns: String,
    static_peers: Vec<String>,
    /// Static peers' fixed node names: address → name.
    pinned: HashMap<String, String>,
    /// `http` or `https`.
    scheme: String,
    credentials: Option<Credentials>,
    peer_port: u16,
    timeout: Duration,
    /// The largest answer read from a peer; a longer one is cut off and the peer listed
    /// unreachable.
    max_answer_bytes: usize,
    /// This service's port: a peer address on a local IP with this port is this node.
    listen_port: Option<u16>,
    client: reqwest::Client,
    resolved: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Peer>>)>>,
    /// Address → the node name it last answered with, to name a node that stopped answering.
    names: Mutex<HashMap<String, Seen>>,
    rounds: Mutex<HashMap<String, SharedRound>>,
}

impl Cluster {
    /// `None` when cluster mode is off.
    pub fn new(config: &ClusterConfig, listen_address: &str) -> Result<Option<Self>, ClientError> {
        if !config.enabled() {
            return Ok(None);
        }
        // No proxy, no redirect followed (a peer answers itself or not at all: a redirect could
        // point this service, and its credentials, at any address).
        let mut builder =
            metrics_core::client::builder(config.peer_timeout).timeout(config.peer_timeout);
        if config.peer_scheme == "https" {
            let ca_file = Path::new(&config.peer_ca_file);
            let trusted = match config.server_name().map_err(ClientError::ServerName)? {
                Some(name) => metrics_core::client::trust_only_as(builder, ca_file, name),
                None => metrics_core::client::trust_only(builder, ca_file),
            };
            builder = trusted
                .map_err(|error| ClientError::File {
                    key: "cluster.peer_ca_file",
                    error,
                })?
                .https_only(true);
        }
        let client = builder.build()?;
        let credentials = match config.peer_username.as_str() {
            "" => None,
            user => Some(Credentials::from_file(user, &config.peer_password_file)?),
        };
        let static_peers = config.static_peers().map_err(ClientError::Peers)?;
        Ok(Some(Self {
            peers_dns: config.peers_dns.clone(),
            pinned: static_peers
                .iter()
                .filter_map(|p| Some((p.address.clone(), p.name.clone()?)))
                .collect(),
            static_peers: static_peers.into_iter().map(|p| p.address).collect(),
            scheme: config.peer_scheme.clone(),
            credentials,
            peer_port: config.peer_port,
            timeout: config.peer_timeout,
            max_answer_bytes: usize::try_from(config.max_answer_bytes).unwrap_or(usize::MAX),
            listen_port: listen_address
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok()),
            client,
            resolved: tokio::sync::Mutex::new(None),
            names: Mutex::new(HashMap::new()),
            rounds: Mutex::new(HashMap::new()),
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
            for address in self.recently_seen() {
                if !out.iter().any(|p| p.address == address)
                    && !self.static_peers.contains(&address)
                {
                    out.push(Peer {
                        address,
                        error: None,
                    });
                }
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
    /// error arrives within the peer timeout. A request that arrives while the same round is
    /// in flight waits for it and takes its answers.
    pub async fn ask<T: DeserializeOwned>(
        &self,
        peers: &[Peer],
        path: &str,
    ) -> Vec<(Peer, Result<T, String>)> {
        let round = self.shared_round(peers, path).await;
        round
            .iter()
            .map(|(peer, raw)| {
                let body = raw.as_ref().map_err(Clone::clone).and_then(|b| {
                    decode_answer(b)
                        .map_err(|e| format!("unexpected answer from {}{path}: {e}", peer.address))
                });
                (peer.clone(), body)
            })
            .collect()
    }

    async fn shared_round(&self, peers: &[Peer], path: &str) -> Round {
        let asked = Instant::now();
        let key = peers.iter().fold(path.to_string(), |mut k, p| {
            k.push(' ');
            k.push_str(&p.address);
            k
        });
        let slot = {
            let mut rounds = self.rounds.lock().unwrap_or_else(|p| p.into_inner());
            if rounds.len() >= MAX_SHARED_ROUNDS && !rounds.contains_key(&key) {
                rounds.clear();
            }
            rounds.entry(key).or_default().clone()
        };
        let mut latest = slot.lock().await;
        if let Some((ended, round)) = latest.as_ref() {
            // Ended after this request came: it was in flight meanwhile.
            if *ended >= asked {
                return round.clone();
            }
        }
        let asks = peers.iter().map(|p| async move {
            let answer = match &p.error {
                Some(e) => Err(e.clone()),
                None => self.ask_one(&p.address, path).await,
            };
            (p.clone(), answer)
        });
        let round: Round = Arc::new(futures_util::future::join_all(asks).await);
        *latest = Some((Instant::now(), round.clone()));
        round
    }

    async fn ask_one(&self, address: &str, path: &str) -> Result<Bytes, String> {
        let url = format!("{}://{address}{path}", self.scheme);
        match tokio::time::timeout(self.timeout, self.fetch(&url)).await {
            Ok(answer) => answer,
            Err(_) => Err(self.timeout_message()),
        }
    }

    async fn fetch(&self, url: &str) -> Result<Bytes, String> {
        let mut request = self.client.get(url);
        if let Some(c) = &self.credentials {
            // reqwest marks the header sensitive: it is never logged.
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                self.timeout_message()
            } else {
                chain(&e)
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = read_capped(response, MAX_ERROR_BYTES, self.timeout)
                .await
                .unwrap_or_default();
            let why = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| shorten(&b.error, MAX_ERROR_CHARS))
                .unwrap_or_default();
            let redirect = if status.is_redirection() {
                " (redirects are not followed)"
            } else if status == reqwest::StatusCode::UNAUTHORIZED {
                " (check cluster.peer_username and cluster.peer_password_file)"
            } else {
                ""
            };
            return Err(format!("HTTP {}{redirect}: {why}", status.as_u16()));
        }
        read_capped(response, self.max_answer_bytes, self.timeout).await
    }

    fn timeout_message(&self) -> String {
        timeout_message(self.timeout)
    }

    /// Notes the node name `address` answered with; other addresses of that node (a task
    /// replaced by one with a new address) are forgotten.
    pub fn remember(&self, address: &str, node: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.retain(|a, seen| seen.node != node || a == address);
        names.insert(
            address.to_string(),
            Seen {
                node: node.to_string(),
                at: Instant::now(),
            },
        );
    }

    /// The node name `address` last answered with.
    pub fn known_name(&self, address: &str) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.get(address).map(|s| s.node.clone())
    }

    /// The node name the static peer at `address` is pinned to.
    pub fn pinned_name(&self, address: &str) -> Option<&str> {
        self.pinned.get(address).map(String::as_str)
    }

    /// The static peer's address `node` is pinned to.
    pub fn pinned_address(&self, node: &str) -> Option<&str> {
        self.pinned
            .iter()
            .find(|(_, name)| name.as_str() == node)
            .map(|(address, _)| address.as_str())
    }

    /// The address `node` is pinned to, or last answered from.
    pub fn address_of(&self, node: &str) -> Option<String> {
        if let Some(address) = self.pinned_address(node) {
            return Some(address.to_string());
        }
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .find(|(_, s)| s.node == node)
            .map(|(a, _)| a.clone())
    }

    /// Addresses that answered within [`FORGET_AFTER`]; older ones are forgotten.
    fn recently_seen(&self) -> Vec<String> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.retain(|_, seen| seen.at.elapsed() < FORGET_AFTER);
        names.keys().cloned().collect()
    }
}

/// What a node's answer says about it.
pub trait NodeBody: DeserializeOwned {
    fn node(&self) -> &str;
}

impl NodeBody for model::ContainerList {
    fn node(&self) -> &str {
        &self.node
    }
}

impl NodeBody for model::Aggregate {
    fn node(&self) -> &str {
        &self.node
    }
}

/// This node's answer (under `own`) and every peer's to `path` (which asks for
/// `scope=local`), narrowed to `wanted` when given. Answers within the peer timeout whatever
/// the peers do.
pub async fn gather<T: NodeBody>(
    cluster: Option<&Cluster>,
    own: String,
    local: Result<T, String>,
    path: &str,
    wanted: Option<&str>,
) -> Vec<NodeAnswer<T>> {
    let mut answers = vec![NodeAnswer {
        node: own.clone(),
        address: "local".into(),
        body: local,
    }];
    let Some(cluster) = cluster else {
        return answers;
    };
    if wanted != Some(own.as_str()) {
        let peers = cluster.peers().await;
        // A node that answered before is asked alone; otherwise every peer is.
        let known = wanted
            .and_then(|w| cluster.address_of(w))
            .and_then(|a| peers.iter().find(|p| p.address == a).cloned());
        let asked = match known {
            Some(p) => vec![p],
            None => peers.to_vec(),
        };
        let mut round = cluster.ask::<T>(&asked, path).await;
        // Addresses answering with the name they answered with before claim it first, so a
        // newcomer cannot take a known node's name by coming earlier in the list.
        round.sort_by_key(|(peer, body)| {
            let consistent = body
                .as_ref()
                .is_ok_and(|b| cluster.known_name(&peer.address).as_deref() == Some(b.node()));
            !consistent
        });
        let mut claimed = HashMap::from([(own.clone(), "this node".to_string())]);
        for (peer, body) in round {
            let pinned = cluster.pinned_name(&peer.address);
            let known = pinned
                .map(str::to_string)
                .or_else(|| cluster.known_name(&peer.address));
            let body = body.and_then(|b| {
                let pinned_elsewhere = cluster
                    .pinned_address(b.node())
                    .filter(|a| *a != peer.address);
                let checked = check_pinned(pinned, pinned_elsewhere, b.node())
                    .and_then(|()| check_claim(&own, known.as_deref(), &claimed, b.node()));
                match checked {
                    Ok(()) => Ok(b),
                    Err(why) => {
                        metrics_core::refused::count("peer_node_name");
                        tracing::debug!(peer = %peer.address, error = %why, "peer answer refused");
                        Err(why)
                    }
                }
            });
            let node = match &body {
                Ok(b) => {
                    cluster.remember(&peer.address, b.node());
                    claimed.insert(b.node().to_string(), peer.address.clone());
                    b.node().to_string()
                }
                Err(_) => known.unwrap_or_else(|| peer.address.clone()),
            };
            answers.push(NodeAnswer {
                node,
                address: peer.address,
                body,
            });
        }
    }
    if let Some(w) = wanted {
        answers.retain(|a| a.node == w || a.address == w);
    }
    answers
}

/// How much of a peer's error answer is read, and how much of its message is shown.
const MAX_ERROR_BYTES: usize = 64 * 1024;
const MAX_ERROR_CHARS: usize = 300;

/// The body, read through metrics-core's capped reader (chunk by chunk, given up as soon as
/// it passes `max` bytes; a declared length over `max` is refused before reading), its errors
/// in this module's words.
async fn read_capped(
    response: reqwest::Response,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, String> {
    use metrics_core::client::ReadError;
    metrics_core::client::read_capped(response, max)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge { max } => {
                metrics_core::refused::count("peer_answer_too_large");
                format!("answer larger than {max} bytes (cluster.max_answer_bytes)")
            }
            ReadError::TimedOut => timeout_message(timeout),
            ReadError::Transport(why) => why,
        })
}

fn timeout_message(timeout: Duration) -> String {
    format!("no answer within {}", humantime::format_duration(timeout))
}

/// At most `max` characters of `text` (cut on a character boundary).
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A peer's answer to `/api/containers` or `/api/stats/aggregate` (`T`), decoded from its JSON
/// body; the node name it claims is checked separately ([`check_claim`]).
pub fn decode_answer<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Whether a peer at an address may go by `name`: it must be a valid node name, not this
/// node's (`own`), not one another address already answered with in this round (`claimed`:
/// name → address, this node's included), and the name this address answered with before
/// (`known`), if any. `Err` says why not.
pub fn check_claim(
    own: &str,
    known: Option<&str>,
    claimed: &HashMap<String, String>,
    name: &str,
) -> Result<(), String> {
    if !crate::validate::is_valid_node(name) {
        return Err(format!(
            "refused: its node name {:?} is not a host name",
            shorten(name, 64)
        ));
    }
    if name == own {
        return Err(format!("refused: it claims to be this node ({name:?})"));
    }
    if let Some(other) = claimed.get(name) {
        return Err(format!(
            "refused: it claims the node name {name:?}, which {other} answered with"
        ));
    }
    match known {
        Some(known) if known != name => Err(format!(
            "refused: it claims the node name {name:?} but answered as {known:?} before"
        )),
        _ => Ok(()),
    }
}

/// Whether a peer may answer as `name` given the static peers' fixed names: as the name its
/// own address is pinned to (`pinned`), if any, and never as a name pinned to another address
/// (`pinned_elsewhere`).
pub fn check_pinned(
    pinned: Option<&str>,
    pinned_elsewhere: Option<&str>,
    name: &str,
) -> Result<(), String> {
    if let Some(pinned) = pinned.filter(|p| *p != name) {
        return Err(format!(
            "refused: it answers as {:?} but cluster.peers names it {pinned:?}",
            shorten(name, 64)
        ));
    }
    if let Some(address) = pinned_elsewhere {
        return Err(format!(
            "refused: it claims the node name {name:?}, which cluster.peers gives {address}"
        ));
    }
    Ok(())
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

    /// A peer that answers `{"n":1}` after `delay`, counting the requests it got.
    async fn slow_peer(delay: Duration) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let body = br#"{"n":1}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.write_all(body).await;
                });
            }
        });
        (address, served)
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_round_of_asking() {
        let (address, served) = slow_peer(Duration::from_millis(300)).await;
        let c = cluster(&[&address], ":3001");
        let peers = c.peers().await;
        let path = "/api/stats/aggregate?scope=local";
        let (a, b) = tokio::join!(c.ask::<serde_json::Value>(&peers, path), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c.ask::<serde_json::Value>(&peers, path).await
        });
        assert_eq!(a[0].1.as_ref().unwrap()["n"], 1);
        assert_eq!(b[0].1.as_ref().unwrap()["n"], 1);
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A request after the round ended asks again.
        let later = c.ask::<serde_json::Value>(&peers, path).await;
        assert!(later[0].1.is_ok());
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_silent_peer_is_an_error_within_the_timeout() {
        // Connections complete into the backlog; nothing ever answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = silent.local_addr().unwrap().to_string();
        let config = ClusterConfig {
            peers: vec![address],
            peer_timeout: Duration::from_millis(300),
            ..ClusterConfig::default()
        };
        let c = Cluster::new(&config, ":3001").unwrap().unwrap();
        let peers = c.peers().await;
        let started = Instant::now();
        let answers = c.ask::<serde_json::Value>(&peers, "/x").await;
        assert!(started.elapsed() < Duration::from_millis(800));
        assert_eq!(answers[0].1.as_ref().unwrap_err(), "no answer within 300ms");
    }

    #[test]
    fn names_are_remembered_per_address_and_a_new_address_replaces_the_old() {
        let c = cluster(&["a:1"], ":3001");
        c.remember("10.0.0.1:3001", "n1");
        c.remember("10.0.0.2:3001", "n2");
        assert_eq!(c.known_name("10.0.0.1:3001").as_deref(), Some("n1"));
        assert_eq!(c.address_of("n1").as_deref(), Some("10.0.0.1:3001"));
        assert_eq!(c.address_of("n3"), None);
        // n1's task came back with another address.
        c.remember("10.0.0.9:3001", "n1");
        assert_eq!(c.known_name("10.0.0.1:3001"), None);
        assert_eq!(c.address_of("n1").as_deref(), Some("10.0.0.9:3001"));
        let mut seen = c.recently_seen();
        seen.sort();
        assert_eq!(seen, ["10.0.0.2:3001", "10.0.0.9:3001"]);
    }

    #[tokio::test]
    async fn a_peer_the_dns_name_stopped_listing_is_still_asked_for_a_while() {
        // `localhost` stands in for `tasks.<service>`; 10.0.0.7 answered once and is gone.
        let config = ClusterConfig {
            peers_dns: "localhost".into(),
            peer_port: 4100,
            ..ClusterConfig::default()
        };
        let c = Cluster::new(&config, ":3001").unwrap().unwrap();
        c.remember("10.0.0.7:3001", "gone");
        let peers = c.peers().await;
        assert!(peers.iter().any(|p| p.address == "127.0.0.1:4100"));
        assert!(peers.iter().any(|p| p.address == "10.0.0.7:3001"));
    }

    #[test]
    fn a_peer_may_not_claim_this_nodes_name_another_nodes_or_a_new_one() {
        let claimed = HashMap::from([
            ("alpha".to_string(), "this node".to_string()),
            ("beta".to_string(), "10.0.0.2:3001".to_string()),
        ]);
        assert!(check_claim("alpha", None, &claimed, "gamma").is_ok());
        assert!(check_claim("alpha", Some("gamma"), &claimed, "gamma").is_ok());
        for (known, name, why) in [
            (None, "alpha", "claims to be this node"),
            (None, "beta", "which 10.0.0.2:3001 answered with"),
            (Some("gamma"), "delta", "answered as \"gamma\" before"),
            (None, "a/b", "not a host name"),
            (None, "", "not a host name"),
        ] {
            let e = check_claim("alpha", known, &claimed, name).unwrap_err();
            assert!(e.contains(why), "{name:?}: {e}");
        }
    }

    #[test]
    fn a_pinned_peer_must_answer_with_its_name_and_no_other_may_take_it() {
        assert!(check_pinned(Some("node-b"), None, "node-b").is_ok());
        assert!(check_pinned(None, None, "anything").is_ok());
        let e = check_pinned(Some("node-b"), None, "node-c").unwrap_err();
        assert!(e.contains("cluster.peers names it \"node-b\""), "{e}");
        let e = check_pinned(None, Some("10.0.0.2:3001"), "node-b").unwrap_err();
        assert!(e.contains("10.0.0.2:3001"), "{e}");
        let config = ClusterConfig {
            peers: vec!["node-b=127.0.0.1:4002".into(), "127.0.0.1:4003".into()],
            ..ClusterConfig::default()
        };
        let c = Cluster::new(&config, ":4001").unwrap().unwrap();
        assert_eq!(c.pinned_name("127.0.0.1:4002"), Some("node-b"));
        assert_eq!(c.pinned_name("127.0.0.1:4003"), None);
        assert_eq!(c.address_of("node-b").as_deref(), Some("127.0.0.1:4002"));
    }

    #[test]
    fn peer_answers_decode_or_say_why_not() {
        assert!(decode_answer::<model::ContainerList>(
            b"{\"node\":\"a\",\"count\":0,\"containers\":[]}"
        )
        .is_ok());
        assert!(decode_answer::<model::ContainerList>(b"[]").is_err());
        assert!(decode_answer::<model::Aggregate>(b"{\"node\":1}").is_err());
    }
}
