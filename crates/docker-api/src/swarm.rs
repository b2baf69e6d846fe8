//! The swarm as a manager sees it: nodes and services, from three read-only calls (list nodes,
//! services with their task counts, tasks), shared by concurrent requests and reused for a
//! moment so that a busy dashboard does not turn into daemon load.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{Node, Service, Task, TaskState};

use crate::engine::{EngineApi, EngineError};

use crate::model::{SwarmNode, SwarmService};

/// How long one reading of the swarm is served.
const REUSE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, thiserror::Error)]
pub enum SwarmError {
    #[error("this engine is not a swarm manager")]
    NotManager,
    #[error("docker daemon unreachable: {0}")]
    Unreachable(String),
}

/// One reading of the swarm.
#[derive(Debug, Default)]
pub struct SwarmState {
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    pub tasks: Vec<Task>,
}

/// The latest reading, taken by at most one request at a time.
#[derive(Default)]
pub struct SwarmReader {
    latest: tokio::sync::Mutex<Option<(Instant, Arc<SwarmState>)>>,
}

impl SwarmReader {
    pub async fn read(&self, engine: &EngineApi) -> Result<Arc<SwarmState>, SwarmError> {
        let mut latest = self.latest.lock().await;
        if let Some((at, state)) = latest.as_ref() {
            if at.elapsed() < REUSE {
                return Ok(state.clone());
            }
        }
        let state = Arc::new(fetch(engine).await?);
        *latest = Some((Instant::now(), state.clone()));
        Ok(state)
    }
}

async fn fetch(engine: &EngineApi) -> Result<SwarmState, SwarmError> {
    let nodes = engine.get("/nodes").await.map_err(classify)?;
    let services = engine
        .get("/services?status=true")
        .await
        .map_err(classify)?;
    let tasks = engine.get("/tasks").await.map_err(classify)?;
    Ok(SwarmState {
        nodes,
        services,
        tasks,
    })
}

/// A worker or an engine outside any swarm answers 503 "This node is not a swarm manager".
fn classify(e: EngineError) -> SwarmError {
    match e {
        EngineError::Status {
            status: 503,
            ref message,
            ..
        } if message.contains("not a swarm manager") => SwarmError::NotManager,
        other => SwarmError::Unreachable(other.to_string()),
    }
}

fn running_tasks_by_node(tasks: &[Task]) -> HashMap<&str, u64> {
    let mut out = HashMap::new();
    for t in tasks {
        let running = t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING);
        if let (true, Some(node)) = (running, t.node_id.as_deref()) {
            *out.entry(node).or_insert(0) += 1;
        }
    }
    out
}

/// The nodes, sorted by host name. `containers_running` maps a host name to the count its
/// docker-api reported (cluster mode); without it a node's running tasks stand in.
pub fn nodes(state: &SwarmState, containers_running: &HashMap<String, u64>) -> Vec<SwarmNode> {
    let tasks = running_tasks_by_node(&state.tasks);
    let mut out: Vec<SwarmNode> = state
        .nodes
        .iter()
        .map(|n| {
            let id = n.id.clone().unwrap_or_default();
            let spec = n.spec.clone().unwrap_or_default();
            let description = n.description.clone().unwrap_or_default();
            let resources = description.resources.unwrap_or_default();
            let status = n.status.clone().unwrap_or_default();
            let hostname = description.hostname.unwrap_or_default();
            let tasks_running = tasks.get(id.as_str()).copied().unwrap_or(0);
            let (containers_running, containers_source) = match containers_running.get(&hostname) {
                Some(c) => (*c, "docker-api"),
                None => (tasks_running, "tasks"),
            };
            SwarmNode {
                id,
                hostname,
                role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
                availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
                state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                leader: n
                    .manager_status
                    .as_ref()
                    .and_then(|m| m.leader)
                    .unwrap_or(false),
                engine_version: description
                    .engine
                    .and_then(|e| e.engine_version)
                    .unwrap_or_default(),
                cpus: resources.nano_cpus.map_or(0.0, |n| n.max(0) as f64 / 1e9),
                memory_bytes: resources.memory_bytes.map_or(0, |m| m.max(0) as u64),
                address: status.addr.unwrap_or_default(),
                containers_running,
                containers_source: containers_source.into(),
                tasks_running,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
    out
}

/// The services, sorted by name, with the engine's own task counts (as `docker service ls`).
pub fn services(state: &SwarmState) -> Vec<SwarmService> {
    let mut out: Vec<SwarmService> = state
        .services
        .iter()
        .map(|s| {
            let spec = s.spec.clone().unwrap_or_default();
            let mode = spec.mode.unwrap_or_default();
            let mode_name = if mode.global.is_some() {
                "global"
            } else if mode.replicated_job.is_some() {
                "replicated-job"
            } else if mode.global_job.is_some() {
                "global-job"
            } else {
                "replicated"
            };
            let status = s.service_status.clone().unwrap_or_default();
            let id = s.id.clone().unwrap_or_default();
            SwarmService {
                name: spec.name.unwrap_or_default(),
                mode: mode_name.into(),
                desired_tasks: status.desired_tasks.unwrap_or_else(|| {
                    mode.replicated
                        .and_then(|r| r.replicas)
                        .map_or(0, |r| r.max(0) as u64)
                }),
                running_tasks: status
                    .running_tasks
                    .unwrap_or_else(|| count_running(&state.tasks, &id)),
                image: spec
                    .task_template
                    .and_then(|t| t.container_spec)
                    .and_then(|c| c.image)
                    .map(|i| without_digest(&i).to_string())
                    .unwrap_or_default(),
                id,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn count_running(tasks: &[Task], service: &str) -> u64 {
    tasks
        .iter()
        .filter(|t| t.service_id.as_deref() == Some(service))
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .count() as u64
}

/// `image:tag@sha256:...` → `image:tag`, as `docker service ls` shows it.
fn without_digest(image: &str) -> &str {
    image.split_once('@').map_or(image, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading as Engine API 1.41 returns it, trimmed to the fields used.
    fn fixture() -> SwarmState {
        let nodes = serde_json::json!([
            {"ID": "n2", "Spec": {"Role": "worker", "Availability": "active"},
             "Description": {"Hostname": "worker-1", "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 2147483648u64},
                             "Engine": {"EngineVersion": "20.10.24"}},
             "Status": {"State": "down", "Addr": "10.0.0.2"}},
            {"ID": "n1", "Spec": {"Role": "manager", "Availability": "drain"},
             "Description": {"Hostname": "manager-1", "Resources": {"NanoCPUs": 4000000000u64, "MemoryBytes": 8589934592u64},
                             "Engine": {"EngineVersion": "20.10.24"}},
             "Status": {"State": "ready", "Addr": "10.0.0.1"},
             "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.0.0.1:2377"}}
        ]);
        let services = serde_json::json!([
            {"ID": "s1", "Spec": {"Name": "stack_web", "Mode": {"Replicated": {"Replicas": 3}},
              "TaskTemplate": {"ContainerSpec": {"Image": "clustermon/web:1@sha256:abc"}}},
             "ServiceStatus": {"RunningTasks": 2, "DesiredTasks": 3}},
            {"ID": "s2", "Spec": {"Name": "stack_docker-api", "Mode": {"Global": {}},
              "TaskTemplate": {"ContainerSpec": {"Image": "clustermon/docker-api:1"}}}}
        ]);
        let tasks = serde_json::json!([
            {"ID": "t1", "ServiceID": "s2", "NodeID": "n1", "Status": {"State": "running"}, "DesiredState": "running"},
            {"ID": "t2", "ServiceID": "s2", "NodeID": "n2", "Status": {"State": "shutdown"}, "DesiredState": "running"},
            {"ID": "t3", "ServiceID": "s1", "NodeID": "n1", "Status": {"State": "running"}, "DesiredState": "running"}
        ]);
        SwarmState {
            nodes: serde_json::from_value(nodes).unwrap(),
            services: serde_json::from_value(services).unwrap(),
            tasks: serde_json::from_value(tasks).unwrap(),
        }
    }

    #[test]
    fn nodes_carry_role_state_resources_and_running_counts() {
        let state = fixture();
        let from_api = HashMap::from([("manager-1".to_string(), 7)]);
        let n = nodes(&state, &from_api);
        assert_eq!(n.len(), 2);
        let m = &n[0];
        assert_eq!(
            (
                m.hostname.as_str(),
                m.role.as_str(),
                m.availability.as_str()
            ),
            ("manager-1", "manager", "drain")
        );
        assert_eq!((m.state.as_str(), m.leader), ("ready", true));
        assert_eq!((m.cpus, m.memory_bytes), (4.0, 8 << 30));
        assert_eq!(m.engine_version, "20.10.24");
        assert_eq!(m.address, "10.0.0.1");
        assert_eq!(
            (
                m.containers_running,
                m.containers_source.as_str(),
                m.tasks_running
            ),
            (7, "docker-api", 2)
        );
        let w = &n[1];
        assert_eq!((w.state.as_str(), w.leader), ("down", false));
        assert_eq!(
            (w.containers_running, w.containers_source.as_str()),
            (0, "tasks")
        );
    }

    #[test]
    fn services_have_mode_task_counts_and_image_without_digest() {
        let s = services(&fixture());
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].mode.as_str()),
            ("stack_docker-api", "global")
        );
        // No ServiceStatus: running tasks are counted from the task list.
        assert_eq!(s[0].running_tasks, 1);
        assert_eq!(
            (s[1].mode.as_str(), s[1].desired_tasks, s[1].running_tasks),
            ("replicated", 3, 2)
        );
        assert_eq!(s[1].image, "clustermon/web:1");
    }
}
