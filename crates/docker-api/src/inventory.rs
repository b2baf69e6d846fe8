//! Every container (stopped ones too), the engine's info and version, kept in memory so that no
//! request reaches the daemon.
//!
//! Running containers come from container-stats' [`Discovery`] (one list, one inspect per start,
//! one event stream). The full list is asked again when Discovery reports a change and every
//! `list_refresh`; a container that is not running is inspected once per state it is seen in
//! (for its exit code and finish time). Info is asked at most once a minute, the version once
//! per connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerInspectResponse, ContainerSummary, SystemInfo, SystemVersion};
use container_stats::discovery::parse_docker_time;
use container_stats::{ContainerInfo, Discovery};
use tokio::sync::Notify;

use crate::engine::{EngineApi, EngineError};
use crate::labels::LabelPolicy;
use crate::model;

/// What is known about one container, whatever its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub exit_code: i64,
    /// Seconds since the epoch.
    pub created: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    /// `healthy`, `unhealthy`, `starting`; `None` without a health check.
    pub health: Option<String>,
    pub restart_count: u64,
    /// The daemon's `State.OOMKilled` as read when the container stopped; false while running.
    pub oom_killed: bool,
    pub ports: Vec<model::Port>,
    pub labels: BTreeMap<String, String>,
}

impl Entry {
    pub fn health_label(&self) -> &str {
        self.health.as_deref().unwrap_or("none")
    }

    /// The model for the API, with `docker ps`' status text as of `now`.
    pub fn to_model(&self, now: f64, node: &str) -> model::Container {
        model::Container {
            node: node.to_string(),
            id: self.id.clone(),
            name: self.name.clone(),
            image: self.image.clone(),
            state: self.state.clone(),
            status: status_text(self, now),
            health: self.health_label().to_string(),
            created: rfc3339(self.created),
            started_at: self.started_at.map(rfc3339),
            restart_count: self.restart_count,
            oom_killed: self.oom_killed,
            ports: self.ports.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// The engine as last seen.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub reachable: bool,
    pub api_version: Option<String>,
    pub info: Option<SystemInfo>,
    pub version: Option<SystemVersion>,
    /// The last error, for logs and 503 bodies.
    pub error: Option<String>,
}

/// Containers sorted by name, and the engine.
#[derive(Debug, Default)]
pub struct Inventory {
    containers: RwLock<Arc<Vec<Entry>>>,
    engine: RwLock<Engine>,
    changed: Notify,
    /// Whether one listing of the daemon's containers has completed (readiness).
    listed: AtomicBool,
    listed_now: Notify,
    /// Which labels are kept of what the daemon says.
    labels: LabelPolicy,
    oom_kills: OomKills,
}

/// A container found OOM-killed when it was inspected after it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct OomKill {
    pub id: String,
    pub name: String,
    pub exit_code: i64,
}

/// Where OOM kills go for the event stream; nobody listening is fine.
#[derive(Debug)]
struct OomKills(tokio::sync::broadcast::Sender<OomKill>);

impl Default for OomKills {
    fn default() -> Self {
        Self(tokio::sync::broadcast::channel(64).0)
    }
}

impl Inventory {
    pub fn new(labels: LabelPolicy) -> Self {
        Self {
            labels,
            ..Self::default()
        }
    }

    /// The label allow-list (also applied to peers' answers).
    pub fn label_policy(&self) -> &LabelPolicy {
        &self.labels
    }

    pub fn containers(&self) -> Arc<Vec<Entry>> {
        read(&self.containers).clone()
    }

    pub fn engine(&self) -> Engine {
        read(&self.engine).clone()
    }

    pub fn reachable(&self) -> bool {
        read(&self.engine).reachable
    }

    /// The node's name: `configured` when set, else the engine's `Name` (the host name).
    pub fn node_name(&self, configured: &str) -> String {
        if !configured.is_empty() {
            return configured.to_string();
        }
        read(&self.engine)
            .info
            .as_ref()
            .and_then(|i| i.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "unknown".into())
    }

    /// Whether the containers come from a completed listing (false until the first one).
    pub fn listed(&self) -> bool {
        self.listed.load(Ordering::Acquire)
    }

    /// Waits until the first listing has completed, or `timeout` passes; true when it has.
    pub async fn wait_listed(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a listing completing in between is not missed.
                let notified = self.listed_now.notified();
                if self.listed() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    fn mark_listed(&self) {
        if !self.listed.swap(true, Ordering::AcqRel) {
            self.listed_now.notify_waiters();
        }
    }

    /// Containers found OOM-killed from now on (each stopped run once; not those already
    /// stopped when the first listing was made).
    pub fn oom_kills(&self) -> tokio::sync::broadcast::Receiver<OomKill> {
        self.oom_kills.0.subscribe()
    }

    /// Asks for a refresh soon (a container changed).
    pub fn poke(&self) {
        self.changed.notify_one();
    }

    /// Marks the daemon unreachable before the client could even be made (no socket).
    pub fn set_unreachable(&self, error: String) {
        let mut engine = write(&self.engine);
        engine.reachable = false;
        engine.error = Some(metrics_core::secret::redact_url(&error));
    }
}

/// Finds a container by full id, name, or unique id prefix.
pub fn find<'a>(entries: &'a [Entry], wanted: &str) -> Option<&'a Entry> {
    if let Some(e) = entries.iter().find(|e| e.id == wanted || e.name == wanted) {
        return Some(e);
    }
    let mut matches = entries.iter().filter(|e| e.id.starts_with(wanted));
    match (matches.next(), matches.next()) {
        (Some(e), None) => Some(e),
        _ => None,
    }
}

/// How long after a listing made for an event the list is asked again.
const FOLLOW_UP: Duration = Duration::from_secs(1);

/// Keeps `inventory` current until the task is dropped.
pub async fn follow(
    engine: EngineApi,
    discovery: Arc<Discovery>,
    inventory: Arc<Inventory>,
    list_refresh: Duration,
) {
    let mut events = discovery.subscribe();
    let poke = inventory.clone();
    // Discovery's events only tell that something changed; the list is asked again.
    let listener = tokio::spawn(async move {
        while !matches!(
            events.recv().await,
            Err(tokio::sync::broadcast::error::RecvError::Closed)
        ) {
            poke.poke();
        }
    });
    let mut stopped: HashMap<String, Entry> = HashMap::new();
    let mut info_at: Option<Instant> = None;
    let mut again_soon = false;
    loop {
        match refresh(
            &engine,
            &discovery,
            &inventory,
            &mut stopped,
            &mut info_at,
            list_refresh,
        )
        .await
        {
            Ok(()) => {}
            Err(e) => {
                // Shown in logs, 503 bodies and /health: without any userinfo of the URL.
                let message = metrics_core::secret::redact_url(&e.to_string());
                let was = {
                    let mut engine = write(&inventory.engine);
                    let was = engine.reachable;
                    engine.reachable = false;
                    engine.error = Some(message.clone());
                    was
                };
                if was {
                    tracing::warn!(error = %message, "docker daemon unreachable; serving the last known state");
                }
                info_at = None;
            }
        }
        // The daemon's list can trail its events (a container seen `running` just after its
        // `die`): a listing made for an event is made once more a moment later.
        let wait = if again_soon { FOLLOW_UP } else { list_refresh };
        again_soon = false;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inventory.changed.notified() => {
                // Let a burst of events (compose up) settle into one listing.
                tokio::time::sleep(Duration::from_millis(100)).await;
                again_soon = true;
            }
        }
        if listener.is_finished() {
            break;
        }
    }
}

async fn refresh(
    engine: &EngineApi,
    discovery: &Discovery,
    inventory: &Inventory,
    stopped: &mut HashMap<String, Entry>,
    info_at: &mut Option<Instant>,
    list_refresh: Duration,
) -> Result<(), EngineError> {
    let was_reachable = inventory.reachable();
    if !was_reachable {
        // On (re)connection: learn the engine's version. Paths carry no version: the engine
        // answers in its own.
        let version: SystemVersion = engine.get("/version").await?;
        let mut engine = write(&inventory.engine);
        engine.api_version = version.api_version.clone();
        engine.version = Some(version);
    }
    let listed: Vec<ContainerSummary> = engine.get("/containers/json?all=1").await?;
    let mut entries = Vec::with_capacity(listed.len());
    let mut seen = Vec::with_capacity(listed.len());
    for summary in listed {
        // The id goes into a path: only what a container id can be.
        let Some(id) = summary
            .id
            .clone()
            .filter(|id| crate::validate::is_valid_id(id))
        else {
            continue;
        };
        seen.push(id.clone());
        let state = summary.state.map(|s| s.to_string()).unwrap_or_default();
        let running = discovery
            .get(&id)
            .filter(|_| state == "running" || state == "paused");
        let entry = match running {
            Some(info) => from_running(&summary, &info, &state, &inventory.labels),
            None => match stopped.get(&id) {
                Some(cached) if cached.state == state => cached.clone(),
                _ => {
                    let inspected = engine
                        .get::<ContainerInspectResponse>(&format!("/containers/{id}/json"))
                        .await;
                    let entry = match inspected {
                        Ok(inspect) => from_inspect(&summary, inspect, &state, &inventory.labels),
                        // Removed between the listing and the inspect.
                        Err(_) => continue,
                    };
                    // Inspected once per state: a stopped run is told once, and only news.
                    if entry.oom_killed && inventory.listed() {
                        let _ = inventory.oom_kills.0.send(OomKill {
                            id: entry.id.clone(),
                            name: entry.name.clone(),
                            exit_code: entry.exit_code,
                        });
                    }
                    stopped.insert(id.clone(), entry.clone());
                    entry
                }
            },
        };
        entries.push(entry);
    }
    stopped.retain(|id, _| seen.contains(id));
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    // Info is the daemon's most expensive read (it walks images and drivers) and only feeds
    // /api/system/info: a minute old is fine.
    let info_refresh = (list_refresh * 6).max(Duration::from_secs(60));
    let info = if info_at.is_none_or(|at| at.elapsed() >= info_refresh) {
        let info: SystemInfo = engine.get("/info").await?;
        *info_at = Some(Instant::now());
        Some(info)
    } else {
        None
    };
    *write(&inventory.containers) = Arc::new(entries);
    let mut engine = write(&inventory.engine);
    if let Some(info) = info {
        engine.info = Some(info);
    }
    engine.reachable = true;
    engine.error = None;
    if !was_reachable {
        tracing::info!(api_version = ?engine.api_version, "docker daemon reachable");
    }
    drop(engine);
    // After the containers are written: whoever sees `listed` reads a complete list.
    inventory.mark_listed();
    Ok(())
}

fn from_running(
    summary: &ContainerSummary,
    info: &ContainerInfo,
    state: &str,
    labels: &LabelPolicy,
) -> Entry {
    Entry {
        id: info.id.clone(),
        name: info.name.clone(),
        image: info.image.clone(),
        state: state.to_string(),
        exit_code: 0,
        created: info.created.unwrap_or(summary.created.unwrap_or(0) as f64),
        started_at: info.started_at,
        finished_at: None,
        health: info.health.clone(),
        restart_count: info.restart_count,
        oom_killed: false,
        ports: ports(summary),
        labels: labels.keep(info.labels.iter().map(|(k, v)| (k.clone(), v.clone()))),
    }
}

fn from_inspect(
    summary: &ContainerSummary,
    r: ContainerInspectResponse,
    state: &str,
    labels: &LabelPolicy,
) -> Entry {
    let s = r.state.unwrap_or_default();
    let config = r.config.unwrap_or_default();
    Entry {
        id: r.id.unwrap_or_default(),
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.image.unwrap_or_default(),
        state: state.to_string(),
        exit_code: s.exit_code.unwrap_or(0),
        created: r
            .created
            .as_deref()
            .and_then(parse_docker_time)
            .unwrap_or(summary.created.unwrap_or(0) as f64),
        started_at: s.started_at.as_deref().and_then(parse_docker_time),
        finished_at: s.finished_at.as_deref().and_then(parse_docker_time),
        health: s
            .health
            .and_then(|h| h.status)
            .map(|h| h.to_string())
            .filter(|h| !h.is_empty() && h != "none"),
        restart_count: r.restart_count.map_or(0, |c| c.max(0) as u64),
        oom_killed: s.oom_killed.unwrap_or(false),
        ports: ports(summary),
        labels: labels.keep(config.labels.unwrap_or_default()),
    }
}

fn ports(summary: &ContainerSummary) -> Vec<model::Port> {
    let mut out: Vec<model::Port> = summary
        .ports
        .iter()
        .flatten()
        .map(|p| model::Port {
            private_port: p.private_port,
            public_port: p.public_port,
            kind: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            ip: p.ip.clone().filter(|ip| !ip.is_empty()),
        })
        .collect();
    out.sort_by(|a, b| {
        (a.private_port, &a.kind, a.public_port).cmp(&(b.private_port, &b.kind, b.public_port))
    });
    out.dedup();
    out
}

/// `docker ps`' STATUS column.
pub fn status_text(e: &Entry, now: f64) -> String {
    let since = |t: Option<f64>| human_duration(t.map_or(0.0, |t| (now - t).max(0.0)));
    let health = match e.health.as_deref() {
        Some("starting") => " (health: starting)".to_string(),
        Some(h) => format!(" ({h})"),
        None => String::new(),
    };
    match e.state.as_str() {
        "running" => format!("Up {}{health}", since(e.started_at)),
        "paused" => format!("Up {} (Paused)", since(e.started_at)),
        "restarting" => format!("Restarting ({}) {} ago", e.exit_code, since(e.finished_at)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        "created" => "Created".into(),
        _ if e.started_at.is_none() => "Created".into(),
        _ => format!("Exited ({}) {} ago", e.exit_code, since(e.finished_at)),
    }
}

/// Docker's human durations ("Less than a second", "About a minute", "3 hours").
pub fn human_duration(seconds: f64) -> String {
    let s = seconds as u64;
    let (minutes, hours) = (s / 60, s / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// The last instant RFC 3339 (a four-digit year) can write: 9999-12-31T23:59:59.000Z.
const LAST_RFC3339_SECONDS: f64 = 253_402_300_799.0;

/// RFC 3339 with milliseconds, UTC. Seconds from outside (the daemon's timestamps) that are
/// negative, not a number or past year 9999 are written as the nearest instant that can be.
pub fn rfc3339(seconds: f64) -> String {
    let seconds = if seconds.is_nan() {
        0.0
    } else {
        seconds.clamp(0.0, LAST_RFC3339_SECONDS)
    };
    let since_epoch = Duration::try_from_secs_f64(seconds).unwrap_or_default();
    let t = UNIX_EPOCH.checked_add(since_epoch).unwrap_or(UNIX_EPOCH);
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: &str) -> Entry {
        Entry {
            id: "abcdef0123".into(),
            name: "web".into(),
            image: "img".into(),
            state: state.into(),
            exit_code: 137,
            created: 1000.0,
            started_at: Some(1000.0),
            finished_at: Some(2000.0),
            health: None,
            restart_count: 0,
            oom_killed: false,
            ports: vec![],
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn status_text_reads_like_docker_ps() {
        let mut e = entry("running");
        assert_eq!(status_text(&e, 1300.0), "Up 5 minutes");
        e.health = Some("healthy".into());
        assert_eq!(status_text(&e, 1060.0), "Up About a minute (healthy)");
        e.health = Some("starting".into());
        assert_eq!(
            status_text(&e, 1000.5),
            "Up Less than a second (health: starting)"
        );
        let e = entry("exited");
        assert_eq!(status_text(&e, 2000.0 + 7200.0), "Exited (137) 2 hours ago");
        let e = entry("restarting");
        assert_eq!(status_text(&e, 2003.0), "Restarting (137) 3 seconds ago");
        let mut e = entry("exited");
        e.started_at = None;
        assert_eq!(status_text(&e, 5000.0), "Created");
        assert_eq!(
            status_text(&entry("paused"), 1001.0),
            "Up 1 second (Paused)"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(3600.0 * 50.0), "2 days");
        assert_eq!(human_duration(3600.0 * 24.0 * 20.0), "2 weeks");
        assert_eq!(human_duration(3600.0 * 24.0 * 800.0), "2 years");
    }

    #[test]
    fn find_by_id_name_or_unique_prefix() {
        let mut a = entry("running");
        a.id = "abc111".into();
        a.name = "one".into();
        let mut b = entry("running");
        b.id = "abc222".into();
        b.name = "two".into();
        let list = vec![a, b];
        assert_eq!(find(&list, "two").map(|e| e.id.as_str()), Some("abc222"));
        assert_eq!(find(&list, "abc1").map(|e| e.name.as_str()), Some("one"));
        assert!(find(&list, "abc").is_none(), "ambiguous prefix");
        assert!(find(&list, "zzz").is_none());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1.5), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn timestamps_that_fit_no_date_are_clamped_not_a_panic() {
        for (seconds, want) in [
            (-1.0, "1970-01-01T00:00:00.000Z"),
            (-1e300, "1970-01-01T00:00:00.000Z"),
            (f64::NAN, "1970-01-01T00:00:00.000Z"),
            (f64::NEG_INFINITY, "1970-01-01T00:00:00.000Z"),
            (1e13, "9999-12-31T23:59:59.000Z"),
            (f64::MAX, "9999-12-31T23:59:59.000Z"),
            (f64::INFINITY, "9999-12-31T23:59:59.000Z"),
        ] {
            assert_eq!(rfc3339(seconds), want, "{seconds}");
        }
        let mut e = entry("exited");
        e.finished_at = Some(f64::MAX);
        e.started_at = Some(f64::NEG_INFINITY);
        assert_eq!(
            status_text(&e, 5000.0),
            "Exited (137) Less than a second ago"
        );
        assert_eq!(
            e.to_model(f64::NAN, "n").created,
            "1970-01-01T00:16:40.000Z"
        );
        assert_eq!(
            human_duration(f64::INFINITY),
            format!("{} years", u64::MAX / 3600 / 24 / 365)
        );
    }
}
