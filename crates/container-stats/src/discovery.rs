//! Which containers run, learned from Docker once and then kept current from its event stream.
//!
//! The daemon is asked for the container list and one inspect per container when this starts
//! (and again after it was unreachable), then only for an inspect when an event says a container
//! started or was renamed. Readers never wait on the daemon: they read the cached
//! [`ContainerInfo`]s. When the daemon goes away the cache is kept, so cgroup figures of known
//! containers keep flowing; a stopped container's cgroup disappears and readers drop it.
//!
//! Every read of the daemon goes through [`EngineApi`]: each answer is capped in bytes and in
//! time, and the event stream is cut into bounded lines, so a broken or hostile daemon (an
//! endless body, one endless line, an answer that never comes) ends a sync with an error naming
//! the path ([`Discovery::last_error`]) and is retried; it cannot grow memory without limit or
//! wedge discovery.
//!
//! The writable layer's path comes from the inspect answer (`GraphDriver.Data.UpperDir`) or,
//! under Docker's containerd image store, where that is empty, from the container's root mount
//! in `/proc/<pid>/mountinfo` ([`layer_usage::upper_dir_of_process`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerInspectResponse, ContainerSummary, EventMessage};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::engine::{EngineApi, EngineError};
use crate::{layer_usage, Error};

/// Longest time one answer of the daemon may take (the event stream excepted).
pub const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer [`connect`]'s client reads: the list of running containers is about 2 KiB
/// per container (8,000 fit), an inspect about 10 KiB. Smaller than docker-api's own cap, as an
/// exporter's whole footprint is a few MiB.
pub const MAX_DISCOVERY_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What is known about one running container, cached between daemon events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerInfo {
    /// The full 64-character id.
    pub id: String,
    /// The name without Docker's leading `/`.
    pub name: String,
    /// The image as the container was created from it (`Config.Image`, e.g. `redis:7`).
    pub image: String,
    /// The image's content id (`sha256:...`).
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    /// The main process's pid as the host sees it.
    pub pid: Option<u32>,
    /// Creation and start times, seconds since the epoch.
    pub created: Option<f64>,
    pub started_at: Option<f64>,
    /// `HostConfig.CgroupParent` (empty for the daemon's default).
    pub cgroup_parent: String,
    /// The writable layer's directory, for disk-usage walks: `GraphDriver.Data.UpperDir`, else
    /// (containerd image store) the `upperdir` of the main process's root mount.
    pub upper_dir: Option<PathBuf>,
    /// `healthy`, `unhealthy` or `starting`; `None` when the container has no health check.
    pub health: Option<String>,
    pub paused: bool,
    pub restart_count: u64,
}

/// A change in the set of running containers, for consumers that push updates (docker-api's
/// event stream).
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerEvent {
    Started(Arc<ContainerInfo>),
    Stopped { id: String, name: String },
    Updated(Arc<ContainerInfo>),
    DaemonReachable(bool),
}

/// The running containers, kept current in the background. Dropping it stops the background task.
pub struct Discovery {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    /// Where the pids Docker reports are visible (`/proc` of the host's pid namespace).
    procfs: PathBuf,
    containers: RwLock<HashMap<String, Arc<ContainerInfo>>>,
    up: AtomicBool,
    /// Why the last sync or event stream ended.
    last_error: RwLock<Option<String>>,
    generation: AtomicU64,
    synced: watch::Sender<bool>,
    events: broadcast::Sender<ContainerEvent>,
}

/// A client of the Docker endpoint: `unix:///var/run/docker.sock` (or a bare socket path),
/// `tcp://host:2375` or `http://host:2375`, with [`DAEMON_TIMEOUT`] per answer and answers of
/// at most [`MAX_DISCOVERY_ANSWER_BYTES`]. Nothing is sent until the first request; only a
/// malformed endpoint is an error here.
pub fn connect(endpoint: &str) -> Result<EngineApi, Error> {
    Ok(EngineApi::new(endpoint, DAEMON_TIMEOUT)?.with_max_answer(MAX_DISCOVERY_ANSWER_BYTES))
}

impl Discovery {
    /// Starts following the daemon at `endpoint` (see [`connect`]) on the current tokio runtime.
    /// A daemon or socket that is not there yet is retried, like one that goes away later.
    /// Writable layers missing from inspect answers are looked up under `/proc`.
    pub fn start(endpoint: &str) -> Self {
        Self::start_with_procfs(endpoint, "/proc")
    }

    /// [`Discovery::start`] with the host's procfs at `procfs` (e.g. `/host/proc` in a
    /// container), where container pids are looked up for their writable layers.
    pub fn start_with_procfs(endpoint: &str, procfs: impl Into<PathBuf>) -> Self {
        let endpoint = endpoint.to_string();
        Self::spawn(move || connect(&endpoint), procfs.into())
    }

    /// Starts following an already configured client.
    pub fn with_client(engine: EngineApi) -> Self {
        Self::spawn(move || Ok(engine.clone()), PathBuf::from("/proc"))
    }

    fn spawn(
        connector: impl Fn() -> Result<EngineApi, Error> + Send + 'static,
        procfs: PathBuf,
    ) -> Self {
        let (synced, _) = watch::channel(false);
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            procfs,
            containers: RwLock::new(HashMap::new()),
            up: AtomicBool::new(false),
            last_error: RwLock::new(None),
            generation: AtomicU64::new(0),
            synced,
            events,
        });
        let task = tokio::spawn(follow(connector, shared.clone()));
        Self { shared, task }
    }

    /// The running containers, sorted by name.
    pub fn containers(&self) -> Vec<Arc<ContainerInfo>> {
        let map = read(&self.shared.containers);
        let mut list: Vec<_> = map.values().cloned().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// A running container by full id, unique id prefix (at least 4 characters) or name.
    pub fn get(&self, id_or_name: &str) -> Option<Arc<ContainerInfo>> {
        let map = read(&self.shared.containers);
        if let Some(c) = map.get(id_or_name) {
            return Some(c.clone());
        }
        let wanted = id_or_name.trim_start_matches('/');
        if let Some(c) = map.values().find(|c| c.name == wanted) {
            return Some(c.clone());
        }
        if id_or_name.len() >= 4 {
            let mut matches = map.values().filter(|c| c.id.starts_with(id_or_name));
            if let (Some(c), None) = (matches.next(), matches.next()) {
                return Some(c.clone());
            }
        }
        None
    }

    /// Whether the daemon answered the last request and the event stream is open.
    pub fn docker_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// Why the daemon was last found unreachable or broken (the last sync or event stream's
    /// error), kept after it recovers; `None` until something failed.
    pub fn last_error(&self) -> Option<String> {
        read(&self.shared.last_error).clone()
    }

    /// Increases whenever the set of containers or anything cached about one changes, so
    /// callers can keep derived data (label sets) until it moves.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Relaxed)
    }

    /// Container starts, stops and updates as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.shared.events.subscribe()
    }

    /// Waits until the first full listing has been loaded, or `timeout` passes; true when loaded.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.synced.subscribe();
        let synced = tokio::time::timeout(timeout, rx.wait_for(|s| *s)).await;
        matches!(synced, Ok(Ok(_)))
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lists, then follows events; on any failure waits and starts over, keeping the cache.
async fn follow(connector: impl Fn() -> Result<EngineApi, Error>, shared: Arc<Shared>) {
    let mut delay = Duration::from_millis(500);
    let mut first = true;
    loop {
        let outcome = match connector() {
            Ok(docker) => sync_and_follow(&docker, &shared).await,
            Err(e) => Err(e),
        };
        let error = match outcome {
            Ok(()) => "event stream ended".to_string(),
            Err(e) => e.to_string(),
        };
        *write(&shared.last_error) = Some(error.clone());
        if shared.up.swap(false, Ordering::Relaxed) || first {
            tracing::warn!(error = %error, "docker daemon unreachable; keeping the last known containers");
            let _ = shared.events.send(ContainerEvent::DaemonReachable(false));
            delay = Duration::from_millis(500);
        } else {
            tracing::debug!(error = %error, "docker daemon still unreachable");
        }
        first = false;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn sync_and_follow(engine: &EngineApi, shared: &Shared) -> Result<(), Error> {
    // Events from just before the listing are replayed, so nothing that happens between the
    // listing and the subscription is missed; applying them twice is harmless.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(1))
        .unwrap_or(0);
    // Paths carry no API version: the engine answers in its own.
    let listed: Vec<ContainerSummary> = engine.get("/containers/json").await?;
    let mut fresh = HashMap::with_capacity(listed.len());
    for summary in listed {
        let Some(id) = summary.id.filter(|id| is_container_id(id)) else {
            continue;
        };
        if let Some(info) = inspect(engine, shared, &id).await {
            fresh.insert(id, Arc::new(info));
        }
    }
    replace_all(shared, fresh);
    if !shared.up.swap(true, Ordering::Relaxed) {
        tracing::info!(
            containers = read(&shared.containers).len(),
            "docker daemon reachable"
        );
        let _ = shared.events.send(ContainerEvent::DaemonReachable(true));
    }
    shared.synced.send_replace(true);

    // filters={"type":["container"]}
    let path = format!("/events?since={since}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D");
    let mut stream = Box::pin(engine.lines(&path).await?);
    while let Some(line) = stream.next().await {
        let event: EventMessage =
            serde_json::from_slice(&line?).map_err(|e| EngineError::Decode {
                path: "/events".into(),
                reason: e.to_string(),
            })?;
        apply(engine, shared, event).await;
    }
    Ok(())
}

/// What a container id from the daemon may be before it goes into a path: hex, as Docker makes
/// them (a hostile daemon's `../..` never reaches a URL).
fn is_container_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn apply(engine: &EngineApi, shared: &Shared, event: EventMessage) {
    let Some(id) = event
        .actor
        .and_then(|a| a.id)
        .filter(|id| is_container_id(id))
    else {
        return;
    };
    let action = event.action.unwrap_or_default();
    match action.as_str() {
        "start" | "unpause" | "pause" | "rename" | "update" => {
            match inspect(engine, shared, &id).await {
                Some(info) if is_running(&info) => upsert(shared, info),
                _ => remove(shared, &id),
            }
        }
        "die" | "destroy" => remove(shared, &id),
        a if a.starts_with("health_status") => {
            let status = a.split_once(':').map(|(_, s)| s.trim().to_string());
            let current = read(&shared.containers).get(&id).cloned();
            if let Some(current) = current {
                let mut info = (*current).clone();
                info.health = status;
                upsert(shared, info);
            }
        }
        _ => {}
    }
}

fn is_running(info: &ContainerInfo) -> bool {
    info.pid.is_some()
}

async fn inspect(engine: &EngineApi, shared: &Shared, id: &str) -> Option<ContainerInfo> {
    let inspected = engine
        .get::<ContainerInspectResponse>(&format!("/containers/{id}/json"))
        .await;
    match inspected {
        Ok(response) => {
            container_info(response).map(|info| with_mounted_layer(info, &shared.procfs))
        }
        Err(e) => {
            tracing::debug!(id, error = %e, "cannot inspect container");
            None
        }
    }
}

/// Turns an inspect response into the cached form; `None` when it is not running.
pub fn container_info(r: ContainerInspectResponse) -> Option<ContainerInfo> {
    let state = r.state.unwrap_or_default();
    if state.running != Some(true) {
        return None;
    }
    let config = r.config.unwrap_or_default();
    let upper_dir = r
        .graph_driver
        .and_then(|g| g.data.get("UpperDir").cloned())
        .map(PathBuf::from);
    let health = state
        .health
        .and_then(|h| h.status)
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty() && s != "none");
    Some(ContainerInfo {
        id: r.id?,
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.image.unwrap_or_default(),
        image_id: r.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        pid: state
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        created: r.created.as_deref().and_then(parse_docker_time),
        started_at: state.started_at.as_deref().and_then(parse_docker_time),
        cgroup_parent: r
            .host_config
            .and_then(|h| h.cgroup_parent)
            .unwrap_or_default(),
        upper_dir,
        health,
        paused: state.paused == Some(true),
        restart_count: r
            .restart_count
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or(0),
    })
}

/// Fills in the writable layer from the main process's mounts when the inspect answer had none
/// (the containerd image store gives `GraphDriver {"Data": null, "Name": "overlayfs"}`).
fn with_mounted_layer(mut info: ContainerInfo, procfs: &std::path::Path) -> ContainerInfo {
    if info.upper_dir.is_none() {
        if let Some(pid) = info.pid {
            info.upper_dir = layer_usage::upper_dir_of_process(procfs, pid, &info.id);
        }
    }
    info
}

fn replace_all(shared: &Shared, fresh: HashMap<String, Arc<ContainerInfo>>) {
    let mut map = write(&shared.containers);
    for (id, old) in map.iter() {
        if !fresh.contains_key(id) {
            let _ = shared.events.send(ContainerEvent::Stopped {
                id: id.clone(),
                name: old.name.clone(),
            });
        }
    }
    for (id, info) in &fresh {
        match map.get(id) {
            None => {
                let _ = shared.events.send(ContainerEvent::Started(info.clone()));
            }
            Some(old) if old != info => {
                let _ = shared.events.send(ContainerEvent::Updated(info.clone()));
            }
            Some(_) => {}
        }
    }
    *map = fresh;
    shared.generation.fetch_add(1, Ordering::Relaxed);
}

fn upsert(shared: &Shared, info: ContainerInfo) {
    let info = Arc::new(info);
    let previous = write(&shared.containers).insert(info.id.clone(), info.clone());
    match previous {
        Some(old) if old == info => return,
        Some(_) => {
            let _ = shared.events.send(ContainerEvent::Updated(info));
        }
        None => {
            let _ = shared.events.send(ContainerEvent::Started(info));
        }
    }
    shared.generation.fetch_add(1, Ordering::Relaxed);
}

fn remove(shared: &Shared, id: &str) {
    if let Some(old) = write(&shared.containers).remove(id) {
        let _ = shared.events.send(ContainerEvent::Stopped {
            id: id.to_string(),
            name: old.name.clone(),
        });
        shared.generation.fetch_add(1, Ordering::Relaxed);
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Seconds since the epoch of Docker's RFC 3339 UTC times (`2026-11-25T01:06:16.871942821Z`);
/// `None` for Docker's zero time (`0001-01-01T00:00:00Z`) and anything unreadable.
pub fn parse_docker_time(text: &str) -> Option<f64> {
    let text = text.trim();
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (year, month, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if year < 1970 {
        return None;
    }
    // Offset: `Z` or `+hh:mm` / `-hh:mm`.
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (
            c,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, s): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let fraction = if frac.is_empty() {
        0.0
    } else {
        format!("0.{frac}").parse::<f64>().ok()?
    };
    // Days since the epoch of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(secs as f64 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_times() {
        assert_eq!(parse_docker_time("1970-01-01T00:00:00Z"), Some(0.0));
        let t = parse_docker_time("2026-11-25T01:06:16.871942821Z").unwrap();
        assert!((t - 1_795_568_776.871_942_8).abs() < 1e-3, "{t}");
        assert_eq!(
            parse_docker_time("2026-11-25T02:06:16+01:00").map(|t| t as i64),
            Some(1_795_568_776)
        );
        assert_eq!(parse_docker_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_docker_time("yesterday"), None);
    }

    #[test]
    fn inspect_of_a_running_container_is_cached_without_leading_slash() {
        let json = serde_json::json!({
            "Id": "fc6b0894b7c1",
            "Name": "/cm-fix",
            "Image": "sha256:c4b7",
            "Created": "2026-11-25T01:06:16.5Z",
            "RestartCount": 2,
            "State": {"Running": true, "Pid": 13597, "StartedAt": "2026-11-25T01:06:16.871942821Z",
                      "Health": {"Status": "healthy"}},
            "Config": {"Image": "cm-fixture:1", "Labels": {"clustermon.test": "1"}},
            "HostConfig": {"CgroupParent": ""},
            "GraphDriver": {"Name": "fuse-overlayfs", "Data": {"UpperDir": "/var/lib/docker/x/diff"}}
        });
        let r: ContainerInspectResponse = serde_json::from_value(json).unwrap();
        let info = container_info(r).unwrap();
        assert_eq!(info.name, "cm-fix");
        assert_eq!(info.image, "cm-fixture:1");
        assert_eq!(info.pid, Some(13597));
        assert_eq!(info.labels["clustermon.test"], "1");
        assert_eq!(info.health.as_deref(), Some("healthy"));
        assert_eq!(info.restart_count, 2);
        assert_eq!(
            info.upper_dir,
            Some(PathBuf::from("/var/lib/docker/x/diff"))
        );
    }

    #[test]
    fn containerd_store_layer_comes_from_the_process_root_mount() {
        // What Docker 26 with the containerd image store answers: no GraphDriver data.
        let id = "1e7835c12391b05f42ee3d6d0d5509882eea3e3bd5294644f04f22c9ee6781ad";
        let json = serde_json::json!({
            "Id": id, "Name": "/fixt",
            "State": {"Running": true, "Pid": 984},
            "GraphDriver": {"Name": "overlayfs", "Data": null}
        });
        let r: ContainerInspectResponse = serde_json::from_value(json).unwrap();
        let info = container_info(r).unwrap();
        assert_eq!(info.upper_dir, None);

        let procfs = tempfile::tempdir().unwrap();
        let dir = procfs.path().join("984");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("mountinfo"),
            "150 53 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/l/3/fs,\
             upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/4/fs,\
             workdir=/w\n151 150 0:43 / /proc rw - proc proc rw\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("cgroup"),
            format!("0::/../system.slice/docker-{id}.scope\n"),
        )
        .unwrap();
        let filled = with_mounted_layer(info.clone(), procfs.path());
        assert_eq!(
            filled.upper_dir,
            Some(PathBuf::from(
                "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/4/fs"
            ))
        );
        // Docker's own answer is kept when there is one.
        let mut overlay2 = info;
        overlay2.upper_dir = Some(PathBuf::from("/var/lib/docker/overlay2/x/diff"));
        assert_eq!(
            with_mounted_layer(overlay2.clone(), procfs.path()).upper_dir,
            overlay2.upper_dir
        );
    }

    #[test]
    fn a_stopped_container_is_not_cached() {
        let json = serde_json::json!({"Id": "x", "State": {"Running": false, "Pid": 0}});
        let r: ContainerInspectResponse = serde_json::from_value(json).unwrap();
        assert_eq!(container_info(r), None);
    }
}
