//! Each container's last events (start, die with its exit code, OOM kill, restart, health
//! changes, removal), kept for the longest history range. A background task follows docker-api's event
//! stream; each `container` frame, and each `stats` frame whose counts differ from what is
//! known, makes it list the containers again, and the change between two listings is the event
//! (docker-api's frames say that something changed; its list says what: the exit code is in
//! `status`, restarts in `restart_count`, an OOM kill in `oom_killed`). `GET /events/containers/{name}` serves them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};

use crate::forward::{error_chain, DockerApi};
use crate::history::{docker_api_json, valid_name, Range};

/// Events kept per container name.
const PER_CONTAINER: usize = 100;
/// Container names followed; past it, the name whose last event is oldest is forgotten.
const MAX_NAMES: usize = 2000;
/// The longest SSE frame read (an aggregate of many containers is the longest).
const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// One event of one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unix seconds, when this service saw it.
    pub t: u64,
    /// `start`, `die`, `oom` (it stopped and the kernel's OOM killer had killed a process of
    /// it), `restart`, `health`, `state` (paused, restarting, ...) or `removed`.
    pub kind: &'static str,
    /// e.g. `exit code 137`, `unhealthy`, `restart #3`.
    pub detail: String,
    /// The container's short id (a name may be reused by a new container).
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
}

/// A container as the last listing showed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub name: String,
    pub node: String,
    pub state: String,
    pub status: String,
    pub health: String,
    pub restart_count: u64,
    /// docker-api's `oom_killed`: the daemon's `State.OOMKilled` of a stopped container.
    pub oom_killed: bool,
}

impl Seen {
    fn from_listing(c: &Value) -> Option<(String, Seen)> {
        let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
        let id = text("id");
        let name = text("name");
        (!id.is_empty() && valid_name(&name)).then(|| {
            (
                id,
                Seen {
                    name,
                    node: text("node"),
                    state: text("state"),
                    status: text("status"),
                    health: text("health"),
                    restart_count: c["restart_count"].as_u64().unwrap_or(0),
                    oom_killed: c["oom_killed"].as_bool().unwrap_or(false),
                },
            )
        })
    }
}

/// The exit code in a `docker ps` status: `Exited (137) 5 seconds ago` is 137.
pub fn exit_code(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.parse().ok()
}

/// What happened to one container between two listings.
pub fn changes(before: Option<&Seen>, after: Option<&Seen>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let (before, after) = match (before, after) {
        (None, None) => return out,
        (Some(_), None) => {
            out.push(("removed", String::new()));
            return out;
        }
        (None, Some(after)) => {
            if after.state == "running" {
                out.push(("start", String::new()));
            }
            return out;
        }
        (Some(b), Some(a)) => (b, a),
    };
    let restarted = after.restart_count > before.restart_count;
    if after.state != before.state {
        match after.state.as_str() {
            "running" if restarted => {
                out.push(("restart", format!("restart #{}", after.restart_count)))
            }
            "running" => out.push(("start", String::new())),
            "exited" | "dead" => out.push((
                // `docker kill -s KILL` exits 137 too: only the daemon's flag says OOM.
                if after.oom_killed { "oom" } else { "die" },
                exit_code(&after.status)
                    .map_or_else(|| after.status.clone(), |c| format!("exit code {c}")),
            )),
            "restarting" if after.oom_killed => out.push(("oom", "restarting".to_string())),
            other => out.push(("state", other.to_string())),
        }
    } else if restarted {
        // Died and started again between two listings.
        out.push(("restart", format!("restart #{}", after.restart_count)));
    }
    // Docker marks a stopped container unhealthy: only a running one's health is news.
    if after.health != before.health && after.state == "running" {
        out.push(("health", after.health.clone()));
    }
    out
}

#[derive(Default)]
struct Inner {
    /// The last listing, by container id; `None` until the first.
    known: Option<HashMap<String, Seen>>,
    /// By container name: a removed container's events stay reachable.
    events: HashMap<String, VecDeque<Event>>,
}

/// Every container's recent events.
pub struct EventLog {
    inner: Mutex<Inner>,
    keep: Duration,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new(Duration::from_secs(Range::Days7.seconds()))
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl EventLog {
    pub fn new(keep: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            keep,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a new listing (docker-api's `containers[]`) seen at `t`: the first is the baseline
    /// (no events), each later one records what changed since the one before.
    pub fn apply_listing(&self, containers: &[Value], t: u64) {
        let fresh: HashMap<String, Seen> =
            containers.iter().filter_map(Seen::from_listing).collect();
        let mut inner = self.lock();
        let Some(known) = inner.known.take() else {
            inner.known = Some(fresh);
            return;
        };
        let mut found = Vec::new();
        for (id, after) in &fresh {
            for change in changes(known.get(id), Some(after)) {
                found.push((id.clone(), after.name.clone(), after.node.clone(), change));
            }
        }
        for (id, before) in &known {
            if !fresh.contains_key(id) {
                for change in changes(Some(before), None) {
                    found.push((id.clone(), before.name.clone(), before.node.clone(), change));
                }
            }
        }
        for (id, name, node, (kind, detail)) in found {
            let list = inner.events.entry(name).or_default();
            list.push_back(Event {
                t,
                kind,
                detail,
                id: id.chars().take(12).collect(),
                node,
            });
            while list.len() > PER_CONTAINER {
                list.pop_front();
            }
        }
        inner.known = Some(fresh);
        self.prune(&mut inner, t);
    }

    fn prune(&self, inner: &mut Inner, now: u64) {
        let oldest = now.saturating_sub(self.keep.as_secs());
        inner.events.retain(|_, list| {
            while list.front().is_some_and(|e| e.t < oldest) {
                list.pop_front();
            }
            !list.is_empty()
        });
        while inner.events.len() > MAX_NAMES {
            let stalest = inner
                .events
                .iter()
                .min_by_key(|(_, list)| list.back().map_or(0, |e| e.t))
                .map(|(name, _)| name.clone());
            match stalest {
                Some(name) => inner.events.remove(&name),
                None => break,
            };
        }
    }

    /// Whether the last listing disagrees with a stream sample's counts.
    pub fn differs_from(&self, running: u64, total: u64, node: &str) -> bool {
        let inner = self.lock();
        let Some(known) = &inner.known else {
            return true;
        };
        let mine = known
            .values()
            .filter(|s| node.is_empty() || s.node.is_empty() || s.node == node);
        let (mut n_running, mut n_total) = (0u64, 0u64);
        for seen in mine {
            n_total += 1;
            if seen.state == "running" {
                n_running += 1;
            }
        }
        (n_running, n_total) != (running, total)
    }

    /// The container's events, newest first.
    pub fn of(&self, name: &str, now: u64) -> Vec<Event> {
        let mut inner = self.lock();
        self.prune(&mut inner, now);
        inner
            .events
            .get(name)
            .map(|list| list.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

/// Lists the containers and records what changed.
async fn list(docker_api: &DockerApi, log: &EventLog) {
    match docker_api_json(docker_api, "/api/containers?all=true").await {
        Ok(body) => {
            let containers = body["containers"].as_array().cloned().unwrap_or_default();
            log.apply_listing(&containers, now_seconds());
        }
        Err(e) => tracing::debug!(error = %e, "cannot list containers for the event log"),
    }
}

/// Splits SSE frames out of `buffer` and returns each one's `(event, data)`.
pub fn take_frames(buffer: &mut Vec<u8>) -> Vec<(String, String)> {
    let mut frames = Vec::new();
    while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
        let frame: Vec<u8> = buffer.drain(..end + 2).collect();
        let text = String::from_utf8_lossy(&frame);
        let (mut event, mut data) = (String::from("message"), String::new());
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !data.is_empty() {
            frames.push((event, data));
        }
    }
    frames
}

/// Follows docker-api's event stream for as long as the service runs, reconnecting with a
/// backoff of 1 s doubling to 8 s.
pub async fn follow(docker_api: web::Data<DockerApi>, log: web::Data<EventLog>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match follow_once(&docker_api, &log).await {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(e) => tracing::debug!(error = %e, "event log: docker-api's stream ended"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
}

async fn follow_once(docker_api: &DockerApi, log: &EventLog) -> Result<(), String> {
    let url = format!("{}/api/stats/stream", docker_api.base);
    let mut response = tokio::time::timeout(docker_api.timeout, docker_api.client.get(&url).send())
        .await
        .map_err(|_| "no answer".to_string())?
        .and_then(reqwest::Response::error_for_status)
        .map_err(error_chain)?;
    list(docker_api, log).await;
    let mut buffer = Vec::new();
    // docker-api's own list can trail its event: a listing made for one is made again 1 s later.
    let mut relist: Option<Instant> = None;
    loop {
        let next = tokio::time::timeout(docker_api.stream_idle_timeout, response.chunk());
        let chunk = match relist {
            Some(at) => tokio::select! {
                chunk = next => chunk,
                _ = tokio::time::sleep_until(at) => {
                    relist = None;
                    list(docker_api, log).await;
                    continue;
                }
            },
            None => next.await,
        };
        let chunk = chunk
            .map_err(|_| "silent".to_string())?
            .map_err(error_chain)?;
        let Some(chunk) = chunk else { return Ok(()) };
        buffer.extend_from_slice(&chunk);
        if buffer.len() > MAX_FRAME_BYTES {
            return Err(format!("a frame longer than {MAX_FRAME_BYTES} bytes"));
        }
        for (event, data) in take_frames(&mut buffer) {
            let stale = match event.as_str() {
                "container" => {
                    relist = Some(Instant::now() + Duration::from_secs(1));
                    true
                }
                "stats" => serde_json::from_str::<Value>(&data).is_ok_and(|sample| {
                    log.differs_from(
                        sample["running"].as_u64().unwrap_or(0),
                        sample["total_containers"].as_u64().unwrap_or(0),
                        sample["node"].as_str().unwrap_or_default(),
                    )
                }),
                _ => false,
            };
            if stale {
                list(docker_api, log).await;
            }
        }
    }
}

/// `GET /events/containers/{name}`.
pub async fn container_events(req: HttpRequest, log: web::Data<EventLog>) -> HttpResponse {
    let name = req.match_info().get("name").unwrap_or_default();
    if !valid_name(name) {
        return HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"error": "a container name is [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128", "status": 400}));
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"name": name, "keep_seconds": log.keep.as_secs(), "events": log.of(name, now_seconds())}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(state: &str, status: &str, health: &str, restarts: u64) -> Seen {
        Seen {
            name: "web".into(),
            node: String::new(),
            state: state.into(),
            status: status.into(),
            health: health.into(),
            restart_count: restarts,
            oom_killed: false,
        }
    }

    #[test]
    fn exit_codes_come_from_the_status() {
        assert_eq!(exit_code("Exited (137) 5 seconds ago"), Some(137));
        assert_eq!(exit_code("Exited (0) About a minute ago"), Some(0));
        assert_eq!(exit_code("Up 5 minutes"), None);
        assert_eq!(exit_code("Exited (x) now"), None);
    }

    #[test]
    fn a_death_a_restart_and_a_health_change_are_told_apart() {
        let up = seen("running", "Up 1 second", "healthy", 0);
        let died = seen("exited", "Exited (3) 1 second ago", "unhealthy", 0);
        assert_eq!(
            changes(Some(&up), Some(&died)),
            vec![("die", "exit code 3".to_string())]
        );
        let again = seen("running", "Up 1 second", "starting", 1);
        assert_eq!(
            changes(Some(&died), Some(&again)),
            vec![
                ("restart", "restart #1".to_string()),
                ("health", "starting".to_string())
            ]
        );
        // Died and came back between two listings: the count tells.
        let later = seen("running", "Up 1 second", "starting", 2);
        assert_eq!(
            changes(Some(&again), Some(&later)),
            vec![("restart", "restart #2".to_string())]
        );
        let sick = seen("running", "Up 9 seconds (unhealthy)", "unhealthy", 2);
        assert_eq!(
            changes(Some(&later), Some(&sick)),
            vec![("health", "unhealthy".to_string())]
        );
        assert_eq!(changes(Some(&sick), None), vec![("removed", String::new())]);
    }

    #[test]
    fn an_oom_kill_is_told_from_a_sigkill_with_the_same_exit_code() {
        let up = seen("running", "Up 1 second", "none", 0);
        let killed = seen("exited", "Exited (137) 1 second ago", "none", 0);
        assert_eq!(
            changes(Some(&up), Some(&killed)),
            vec![("die", "exit code 137".to_string())]
        );
        let oom = Seen {
            oom_killed: true,
            ..killed.clone()
        };
        assert_eq!(
            changes(Some(&up), Some(&oom)),
            vec![("oom", "exit code 137".to_string())]
        );
        let restarting = Seen {
            state: "restarting".into(),
            oom_killed: true,
            ..up.clone()
        };
        assert_eq!(
            changes(Some(&up), Some(&restarting)),
            vec![("oom", "restarting".to_string())]
        );
        let listed = json!([{"id": "abc", "name": "web", "state": "exited", "status": "Exited (137) now", "oom_killed": true}]);
        let (_, seen) = Seen::from_listing(&listed[0]).unwrap();
        assert!(seen.oom_killed);
    }

    #[test]
    fn the_first_listing_is_the_baseline_and_removed_names_keep_their_events() {
        let log = EventLog::new(Duration::from_secs(3600));
        let running = json!([{"id": "abc123", "name": "web", "state": "running", "status": "Up", "health": "none", "restart_count": 0}]);
        let exited = json!([{"id": "abc123", "name": "web", "state": "exited", "status": "Exited (137) now", "health": "none", "restart_count": 0}]);
        log.apply_listing(running.as_array().unwrap(), 1000);
        assert!(log.of("web", 1003).is_empty());
        log.apply_listing(exited.as_array().unwrap(), 1001);
        log.apply_listing(&[], 1002);
        let kinds: Vec<_> = log
            .of("web", 1003)
            .iter()
            .map(|e| (e.kind, e.detail.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("removed", String::new()),
                ("die", "exit code 137".to_string())
            ]
        );
        assert!(!log.differs_from(0, 0, ""));
        // Kept for the window, then gone.
        assert!(log.of("web", 1001 + 3601).len() == 1);
        assert!(log.of("web", 1002 + 3601).is_empty());
        assert!(log.differs_from(1, 1, ""));
    }

    #[test]
    fn sse_frames_are_split_and_partial_ones_kept() {
        let mut buffer = b"event: stats\ndata: {\"running\":1}\n\n: heartbeat\n\nevent: container\ndata: {}\n\nevent: st".to_vec();
        let frames = take_frames(&mut buffer);
        assert_eq!(
            frames,
            vec![
                ("stats".to_string(), "{\"running\":1}".to_string()),
                ("container".to_string(), "{}".to_string())
            ]
        );
        assert_eq!(buffer, b"event: st");
    }
}
