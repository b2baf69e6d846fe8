//! The JSON bodies of the API. Field names are a contract with the dashboard and with users'
//! scripts (`containers[].name/state/status/id`, `cpu.percent`, `memory.percent`,
//! `total_cpu_percent`, `total_containers`); the OpenAPI document is generated from these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::history::Window;

/// An error: 400 for bad input, 404 for unknown things, 405 for a method other than GET, HEAD
/// or OPTIONS, 503 when the daemon or the service cannot answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
}

/// One container as `docker ps` knows it, with what the dashboard's alerts need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Container {
    /// The node (host name) the container runs on.
    pub node: String,
    pub id: String,
    pub name: String,
    pub image: String,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub state: String,
    /// Human status as `docker ps` shows it, e.g. `Up 5 minutes (healthy)`.
    pub status: String,
    /// `healthy`, `unhealthy`, `starting` or `none`.
    pub health: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339; absent when it never started.
    pub started_at: Option<String>,
    pub restart_count: u64,
    /// Whether the kernel's OOM killer killed a process of the container in its last run
    /// (the daemon's `State.OOMKilled`, read when it stopped); false while it runs.
    #[serde(default)]
    pub oom_killed: bool,
    pub ports: Vec<Port>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Port {
    pub private_port: u16,
    pub public_port: Option<u16>,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "type")]
    pub kind: String,
    pub ip: Option<String>,
}

/// The containers; in cluster mode every node's, with each node's answer in `nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContainerList {
    /// The node that answered.
    pub node: String,
    pub count: usize,
    pub containers: Vec<Container>,
    /// Cluster mode only: every node asked, reachable or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeStatus>>,
}

/// One node's answer to a cluster-wide container list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeStatus {
    /// The node's name; its address while it has never answered.
    pub node: String,
    /// `local` for the node that answered the request, else the peer's `host:port`.
    pub address: String,
    pub reachable: bool,
    /// Why the node is unreachable (timeout, refused, its HTTP error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Containers listed from this node.
    pub containers: usize,
}

/// One node's totals in a cluster-wide aggregate (zero when unreachable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeSummary {
    /// The node's name; its address while it has never answered.
    pub node: String,
    /// `local` for the node that answered the request, else the peer's `host:port`.
    pub address: String,
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub containers_running: usize,
    pub total_containers: usize,
    pub cpu_percent: f64,
    pub memory_usage_bytes: u64,
    pub memory_percent: f64,
    pub host_memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cpu {
    /// As `docker stats` shows it: 100 is one full core.
    pub percent: f64,
    pub online_cpus: u32,
    /// CPU time consumed since the container started.
    pub usage_seconds: f64,
    /// The container's CPU limit (CFS quota over period) in `percent`'s unit: `--cpus 0.5` is
    /// 50. Absent without a limit, and with the daemon stats source (its stats carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_percent: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Memory {
    /// As `docker stats` shows it: usage less inactive file pages.
    pub usage_bytes: u64,
    /// cAdvisor's working set (the same figure, floored at 0).
    pub working_set_bytes: u64,
    /// The container's limit, or the host's memory when it has none.
    pub limit_bytes: u64,
    pub percent: f64,
    pub cache_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Network {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Blkio {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
}

/// One running container's figures from the latest sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContainerStats {
    /// The node (host name) the container runs on.
    pub node: String,
    pub id: String,
    pub name: String,
    pub cpu: Cpu,
    pub memory: Memory,
    pub network: Network,
    pub blkio: Blkio,
    /// Tasks in the container's cgroup.
    pub pids: u64,
    /// When the sample was taken, RFC 3339.
    pub timestamp: String,
}

/// Totals over every running container, and each one's figures; in cluster mode over every
/// reachable node, with each node's totals in `nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Aggregate {
    /// The node that answered.
    pub node: String,
    /// Containers of every state.
    pub total_containers: usize,
    pub running: usize,
    pub paused: usize,
    /// Created, exited or dead.
    pub stopped: usize,
    pub unhealthy: usize,
    pub total_cpu_percent: f64,
    pub total_memory_usage_bytes: u64,
    pub total_memory_limit_bytes: u64,
    /// Total usage over the host's memory (over every reachable host's in cluster mode).
    pub total_memory_percent: f64,
    /// The host's memory (summed over reachable hosts in cluster mode); 0 when unknown.
    #[serde(default)]
    pub host_memory_bytes: u64,
    pub network: Network,
    pub blkio: Blkio,
    pub containers: Vec<ContainerStats>,
    pub timestamp: String,
    /// Cluster mode only: every node asked, with its totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeSummary>>,
    /// Cluster mode only: the nodes (names, or addresses never answered) left out of the totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_nodes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct History {
    /// The container's id, or `aggregate`.
    pub id: String,
    #[serde(flatten)]
    pub window: Window,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ContainerCounts {
    pub total: u64,
    pub running: u64,
    pub paused: u64,
    pub stopped: u64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SystemInfo {
    pub name: String,
    pub engine_version: String,
    pub api_version: String,
    pub operating_system: String,
    pub os_type: String,
    pub architecture: String,
    pub kernel_version: String,
    pub cpus: u64,
    pub memory_bytes: u64,
    pub storage_driver: String,
    pub cgroup_driver: String,
    /// `1` or `2`, as the daemon reports it.
    pub cgroup_version: String,
    pub containers: ContainerCounts,
    pub images: u64,
    /// Where this service reads stats from: `cgroupfs` or `daemon`.
    pub stats_source: String,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SystemVersion {
    pub version: String,
    pub api_version: String,
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

/// `GET /health`, served by the shared server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    pub service: String,
    pub version: String,
    pub uptime_seconds: f64,
    pub docker: DockerHealth,
    pub stats_source: String,
    /// Whether the first complete container listing and sample are published; until then
    /// the answer is 503 (readiness).
    pub ready: bool,
    /// Why the answer is 503: the daemon's error, or that the first listing is not done yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DockerHealth {
    pub reachable: bool,
    pub api_version: Option<String>,
}

/// A swarm node, as a manager knows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    /// `manager` or `worker`.
    pub role: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down`, `unknown` or `disconnected`.
    pub state: String,
    /// Whether this manager is the raft leader.
    pub leader: bool,
    pub engine_version: String,
    pub cpus: f64,
    pub memory_bytes: u64,
    /// The node's address as the swarm sees it.
    pub address: String,
    /// Running containers: from the node's docker-api in cluster mode, else its running tasks.
    pub containers_running: u64,
    /// `docker-api` when `containers_running` came from the node's docker-api, `tasks` when it
    /// is the swarm's count of running tasks.
    pub containers_source: String,
    /// Swarm tasks running on the node.
    pub tasks_running: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SwarmNodeList {
    pub count: usize,
    pub nodes: Vec<SwarmNode>,
}

/// A swarm service, as `docker service ls` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SwarmService {
    pub id: String,
    pub name: String,
    /// `replicated`, `global`, `replicated-job` or `global-job`.
    pub mode: String,
    pub desired_tasks: u64,
    pub running_tasks: u64,
    pub image: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SwarmServiceList {
    pub count: usize,
    pub services: Vec<SwarmService>,
}

/// A container started, stopped, changed or was found OOM-killed (an `event: container` on
/// the stream).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContainerEventBody {
    /// `start`, `stop`, `update` (e.g. its health changed) or `oom` (it stopped and the daemon
    /// says the kernel's OOM killer killed a process of it; sent once the stopped container is
    /// inspected, shortly after its `stop`).
    pub action: String,
    pub id: String,
    pub name: String,
    pub health: Option<String>,
    /// `oom` only: the exit code (137 when the main process was the one killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub timestamp: String,
}
