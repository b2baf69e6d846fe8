//! The JSON bodies of the API. Field names are a contract with the dashboard and with users'
//! scripts (`containers[].name/state/status/id`, `cpu.percent`, `memory.percent`,
//! `total_cpu_percent`, `total_containers`); the OpenAPI document is generated from these types.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::history::Window;

/// An error: 400 for bad input, 404 for unknown things, 405 for a method other than GET, HEAD
/// or OPTIONS, 503 when the daemon or the service cannot answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
}

/// One container as `docker ps` knows it, with what the dashboard's alerts need.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Container {
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
    pub ports: Vec<Port>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Port {
    pub private_port: u16,
    pub public_port: Option<u16>,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "type")]
    pub kind: String,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContainerList {
    pub count: usize,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Cpu {
    /// As `docker stats` shows it: 100 is one full core.
    pub percent: f64,
    pub online_cpus: u32,
    /// CPU time consumed since the container started.
    pub usage_seconds: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Network {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Blkio {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
}

/// One running container's figures from the latest sample.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContainerStats {
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

/// Totals over every running container, and each one's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Aggregate {
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
    /// Total usage over the host's memory.
    pub total_memory_percent: f64,
    pub network: Network,
    pub blkio: Blkio,
    pub containers: Vec<ContainerStats>,
    pub timestamp: String,
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
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DockerHealth {
    pub reachable: bool,
    pub api_version: Option<String>,
}

/// A container started, stopped or changed health (an `event: container` on the stream).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContainerEventBody {
    /// `start`, `stop` or `health`.
    pub action: String,
    pub id: String,
    pub name: String,
    pub health: Option<String>,
    pub timestamp: String,
}
