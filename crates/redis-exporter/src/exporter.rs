//! The scrape: one reused connection per Redis (a redis-rs `MultiplexedConnection`), one pipelined
//! round trip for `INFO ALL`, `CONFIG GET`, `SLOWLOG`, `LATENCY LATEST` and `LATENCY HISTOGRAM`,
//! then the checked keys; a Redis that cannot be read is `redis_up 0`, logged once per change of its error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics_core::{BackendHealth, Exporter, MetricSet, Scrape, ScrapeError};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{RedisError, Value};

use crate::allowed_targets::AllowedTargets;
use crate::connection::{self, ReplyBudget, TlsFiles};
use crate::keys::{self, KeySpec, ScanLimits};
use crate::replies;
use crate::snapshot::{self, Naming, Snapshot, Writer};
use crate::target::{self, Credentials, Target};

/// The path of the multi-target endpoint.
pub const SCRAPE_PATH: &str = "/scrape";

/// `/scrape` targets whose connections are kept; the least recently scraped goes first.
const MAX_TARGETS: usize = 100;

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub naming: Naming,
    pub credentials: Credentials,
    pub check_keys: Vec<KeySpec>,
    pub check_single_keys: Vec<KeySpec>,
    pub check_keys_batch_size: u64,
    pub check_keys_limit: usize,
    pub connection_timeout: Duration,
    /// CA and client certificates for `rediss://` targets.
    pub tls: Option<TlsFiles>,
    /// Where `/scrape?target=` may connect (and send the credentials).
    pub allowed_targets: AllowedTargets,
    pub request_key_checks: RequestKeyChecks,
}

/// Whether and how much a `/scrape` request may choose keys to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestKeyChecks {
    pub allowed: bool,
    /// Most keys and patterns of one request, `check-keys` and `check-single-keys` together.
    pub max_items: usize,
    /// Most keys the SCAN of one requested pattern examines.
    pub max_scanned: u64,
}

impl Default for RequestKeyChecks {
    fn default() -> Self {
        Self {
            allowed: false,
            max_items: 10,
            max_scanned: 10_000,
        }
    }
}

/// The query parameters of `/scrape` that name keys to read.
const KEY_LIST_PARAMS: [&str; 2] = ["check-keys", "check-single-keys"];

/// Longest error text kept for logs, `/health` and the `err` label: a server chooses it.
const MAX_ERROR_BYTES: usize = 256;

pub struct RedisExporter {
    settings: Settings,
    default_target: Arc<TargetState>,
    targets: Mutex<HashMap<String, Arc<TargetState>>>,
    bad_requests: AtomicU64,
}

/// One Redis and what the exporter remembers about it between scrapes.
struct TargetState {
    target: Target,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Bytes the connection may still read during the current scrape.
    budget: ReplyBudget,
    history: Mutex<History>,
}

#[derive(Default)]
struct History {
    scrapes: u64,
    duration_sum: f64,
    /// The error of the last scrape, to log only changes.
    last_error: Option<String>,
    last_used: Option<Instant>,
}

/// Why a scrape could not read Redis. The text is what `redis_exporter_last_scrape_error`
/// carries and what is logged, so it never holds a password.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Redis(String),
    /// Without the duration: the text is compared to log only changes.
    #[error("timed out waiting for Redis")]
    Timeout,
}

impl RedisExporter {
    pub fn new(default_target: Target, settings: Settings) -> Self {
        Self {
            settings,
            default_target: Arc::new(TargetState::new(default_target)),
            targets: Mutex::new(HashMap::new()),
            bad_requests: AtomicU64::new(0),
        }
    }

    /// The state of a `/scrape` target, created on first use.
    fn target_state(&self, target: Target) -> Arc<TargetState> {
        let mut targets = lock(&self.targets);
        if let Some(state) = targets.get(&target.name) {
            return state.clone();
        }
        if targets.len() >= MAX_TARGETS {
            let oldest = targets
                .iter()
                .min_by_key(|(_, s)| lock(&s.history).last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                targets.remove(&oldest);
            }
        }
        let state = Arc::new(TargetState::new(target));
        targets.insert(state.target.name.clone(), state.clone());
        state
    }

    fn bad_request(&self, message: String) -> ScrapeError {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
        ScrapeError::BadRequest(message)
    }

    /// A request refused by policy: counted as a request error and as a refusal (`reason`).
    fn refuse(&self, reason: &'static str, message: String) -> ScrapeError {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
        metrics_core::refused::count(reason);
        forbidden(message)
    }

    /// Resolves what a `/scrape` request asks for: its target and key lists. A target off the
    /// allow-list is refused here, before anything is sent to it.
    fn scrape_request(&self, scrape: &Scrape) -> Result<(Arc<TargetState>, KeyLists), ScrapeError> {
        let raw = scrape
            .param("target")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| self.bad_request("'target' parameter must be specified".into()))?;
        let target = target::parse(raw, &self.settings.credentials, false)
            .map_err(|e| self.bad_request(format!("invalid 'target' parameter: {e}")))?;
        if !self.settings.allowed_targets.allows(&target) {
            tracing::debug!(redis = %target.name, "refused a /scrape target off the allow-list");
            return Err(self.refuse(
                "scrape_target_not_allowed",
                format!(
                    "target {} is not allowed: /scrape reaches only --redis.addr, the password \
                     file's addresses and --scrape.allowed-targets",
                    target.name
                ),
            ));
        }
        let lists = self.request_key_lists(scrape)?;
        Ok((self.target_state(target), lists))
    }

    /// The configured key lists, or those of the request when requests may choose keys and stay
    /// within the limit.
    fn request_key_lists(&self, scrape: &Scrape) -> Result<KeyLists, ScrapeError> {
        let mut lists = KeyLists::from_settings(&self.settings);
        let asked: Vec<(&str, &str)> = KEY_LIST_PARAMS
            .iter()
            .filter_map(|&name| Some((name, scrape.param(name)?)))
            .filter(|(_, list)| !list.trim().is_empty())
            .collect();
        if asked.is_empty() {
            return Ok(lists);
        }
        let policy = self.settings.request_key_checks;
        if !policy.allowed {
            return Err(self.refuse(
                "scrape_request_key_checks",
                "check-keys and check-single-keys are not taken from requests \
                 (--scrape.allow-request-key-checks is off)"
                    .into(),
            ));
        }
        let items = asked
            .iter()
            .flat_map(|(_, list)| list.split(','))
            .filter(|item| !item.trim().is_empty())
            .count();
        if items > policy.max_items {
            return Err(self.refuse(
                "scrape_request_key_checks_limit",
                format!(
                    "{items} keys and patterns asked for; a request may name at most {} \
                     (--scrape.request-key-checks-limit)",
                    policy.max_items
                ),
            ));
        }
        for (name, list) in asked {
            let parsed = keys::parse_key_list(list)
                .map_err(|e| self.bad_request(format!("invalid '{name}' parameter: {e}")))?;
            match name {
                "check-keys" => lists.patterns = parsed,
                _ => lists.single = parsed,
            }
        }
        lists.max_scanned = policy.max_scanned;
        Ok(lists)
    }

    async fn scrape_target(
        &self,
        state: &TargetState,
        lists: &KeyLists,
        scrape: &Scrape,
    ) -> MetricSet {
        let start = Instant::now();
        // Leave time to answer before the server's own timeout turns the scrape into a 503.
        let budget = scrape.remaining().mul_f64(0.9);
        let deadline = start + budget;
        let mut connect_time = Duration::ZERO;
        let read = self.read(state, lists, deadline, &mut connect_time);
        let result = match tokio::time::timeout(budget, read).await {
            Ok(result) => result,
            Err(_) => {
                // The connection may be mid-reply: start afresh next time.
                if let Ok(mut connection) = state.connection.try_lock() {
                    *connection = None;
                }
                Err(ReadError::Timeout)
            }
        };

        let mut set = MetricSet::new();
        let ns = self.settings.naming.namespace.as_str();
        let mut w = Writer::new(&mut set, ns);
        let error = match &result {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        w.gauge(
            "exporter_last_scrape_connect_time_seconds",
            "exporter_last_scrape_connect_time_seconds metric",
            &[],
            connect_time.as_secs_f64(),
        );
        drop(w);
        if let Ok(snapshot) = &result {
            snapshot::write_metrics(snapshot, &self.settings.naming, unix_now(), &mut set);
        }
        let took = start.elapsed().as_secs_f64();
        let (scrapes, duration_sum) = state.record(&error, took);

        let mut w = Writer::new(&mut set, ns);
        w.gauge(
            "exporter_last_scrape_error",
            "The last scrape error status.",
            &[("err", &error)],
            if error.is_empty() { 0.0 } else { 1.0 },
        );
        w.gauge(
            "up",
            "Information about the Redis instance",
            &[],
            if error.is_empty() { 1.0 } else { 0.0 },
        );
        w.gauge(
            "exporter_last_scrape_duration_seconds",
            "exporter_last_scrape_duration_seconds metric",
            &[],
            took,
        );
        w.counter(
            "exporter_scrapes_total",
            "Current total redis scrapes.",
            &[],
            scrapes as f64,
        );
        let (metrics, name) = w.named("exporter_scrape_duration_seconds");
        metrics.summary(
            name,
            "Durations of scrapes by the exporter",
            &[],
            &[],
            duration_sum,
            scrapes,
        );
        w.counter(
            "target_scrape_request_errors_total",
            "Errors in requests to the exporter",
            &[],
            self.bad_requests.load(Ordering::Relaxed) as f64,
        );
        // redis_exporter's own label names, filled from metrics-core's build info.
        let build = &metrics_core::build_info::BUILD;
        w.gauge(
            "exporter_build_info",
            "redis exporter build_info",
            &[
                ("version", build.version),
                ("commit_sha", build.revision),
                ("build_date", build.date),
                ("golang_version", build.rustc),
            ],
            1.0,
        );
        set
    }

    /// Reads one snapshot, reusing the target's connection. A failure on a reused connection is
    /// retried once on a fresh one, so a Redis that came back is seen as up at once.
    async fn read(
        &self,
        state: &TargetState,
        lists: &KeyLists,
        deadline: Instant,
        connect_time: &mut Duration,
    ) -> Result<Snapshot, ReadError> {
        let mut slot = state.connection.lock().await;
        let own_db = state.target.connection.redis.db;
        let password = state.target.connection.redis.password.as_deref();
        for attempt in 0..2 {
            let reused = slot.is_some();
            if !reused {
                let started = Instant::now();
                let timeout = self
                    .settings
                    .connection_timeout
                    .min(deadline.saturating_duration_since(started));
                let connected = connection::connect(
                    &state.target,
                    self.settings.tls.as_ref(),
                    &state.budget,
                    timeout.max(Duration::from_millis(1)),
                    deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                )
                .await;
                *connect_time += started.elapsed();
                *slot = Some(connected.map_err(|e| redis_error(&e, password))?);
            }
            let Some(connection) = slot.as_mut() else {
                break;
            };
            state.budget.refill();
            match read_snapshot(connection, own_db, lists, &self.settings, deadline).await {
                Ok(snapshot) => return Ok(snapshot),
                Err(e) => {
                    // Whatever went wrong (a dropped connection, a changed password, a port that
                    // does not speak Redis), the next attempt starts from a new connection.
                    *slot = None;
                    if !(reused && attempt == 0) {
                        return Err(redis_error(&e, password));
                    }
                    tracing::debug!(redis = %state.target.name, error = %redis_error(&e, password), "retrying on a new connection");
                }
            }
        }
        Err(ReadError::Redis("no connection".into()))
    }
}

/// A refusal by policy: 403 Forbidden.
fn forbidden(message: String) -> ScrapeError {
    ScrapeError::Forbidden(message)
}

/// The key lists of one scrape.
#[derive(Debug, Clone)]
struct KeyLists {
    patterns: Vec<KeySpec>,
    single: Vec<KeySpec>,
    /// Most keys the SCAN of one pattern examines: no limit for configured patterns (as
    /// upstream; the deadline still stops it), the request limit for requested ones.
    max_scanned: u64,
}

impl KeyLists {
    fn from_settings(settings: &Settings) -> Self {
        Self {
            patterns: settings.check_keys.clone(),
            single: settings.check_single_keys.clone(),
            max_scanned: u64::MAX,
        }
    }
}

impl TargetState {
    fn new(target: Target) -> Self {
        Self {
            target,
            connection: tokio::sync::Mutex::new(None),
            budget: ReplyBudget::default(),
            history: Mutex::new(History::default()),
        }
    }

    /// Counts the scrape and logs when the error changes; returns (scrapes, total seconds).
    fn record(&self, error: &str, took: f64) -> (u64, f64) {
        let mut h = lock(&self.history);
        h.scrapes += 1;
        h.duration_sum += took;
        h.last_used = Some(Instant::now());
        // `redis`, not `target`: logfmt already has tracing's own `target` key.
        let redis = self.target.name.as_str();
        match (&h.last_error, error.is_empty()) {
            (Some(_), true) => tracing::info!(redis, "redis is reachable again"),
            (last, false) if last.as_deref() != Some(error) => {
                tracing::error!(redis, error, "cannot scrape redis; reporting redis_up 0")
            }
            _ => {}
        }
        h.last_error = (!error.is_empty()).then(|| error.to_string());
        (h.scrapes, h.duration_sum)
    }
}

/// The error as text without the password, however it got there, and no longer than
/// [`MAX_ERROR_BYTES`] (a hostile server chooses its error replies).
fn redis_error(e: &RedisError, password: Option<&str>) -> ReadError {
    let mut text = e.to_string();
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        text = text.replace(p, "<redacted>");
    }
    if text.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    ReadError::Redis(text)
}

/// The commands whose replies make up a snapshot, in one pipeline.
fn snapshot_pipeline() -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("INFO").arg("ALL");
    for setting in CONFIG_SETTINGS {
        pipe.cmd("CONFIG").arg("GET").arg(*setting);
    }
    pipe.cmd("SLOWLOG").arg("LEN");
    pipe.cmd("SLOWLOG").arg("GET").arg(1);
    pipe.cmd("LATENCY").arg("LATEST");
    pipe.cmd("LATENCY").arg("HISTOGRAM");
    pipe
}

/// One `CONFIG GET` each: Redis before 7 takes a single parameter.
const CONFIG_SETTINGS: &[&str] = &[
    "maxmemory",
    "maxclients",
    "io-threads",
    "databases",
    "client-output-buffer-limit",
];

async fn read_snapshot(
    conn: &mut MultiplexedConnection,
    own_db: i64,
    lists: &KeyLists,
    settings: &Settings,
    deadline: Instant,
) -> Result<Snapshot, RedisError> {
    let pipe = snapshot_pipeline();
    let count = pipe.cmd_iter().count();
    let mut answers = conn.req_packed_commands(&pipe, 0, count).await?.into_iter();
    let info = match answers.next() {
        Some(Value::ServerError(e)) => return Err(e.into()),
        Some(v) => redis::from_owned_redis_value::<String>(v)?,
        None => {
            return Err(RedisError::from((
                redis::ErrorKind::TypeError,
                "empty reply to INFO",
            )))
        }
    };
    let cluster_info = if info.contains("cluster_enabled:1") {
        match conn
            .req_packed_command(redis::cmd("CLUSTER").arg("INFO"))
            .await
        {
            Ok(Value::ServerError(_)) | Err(_) => None,
            Ok(v) => redis::from_owned_redis_value::<String>(v).ok(),
        }
    } else {
        None
    };
    let mut snapshot = Snapshot {
        info,
        cluster_info,
        ..Snapshot::default()
    };
    for _ in CONFIG_SETTINGS {
        if let Some(reply) = answers.next() {
            snapshot.config.extend(replies::config_get(reply));
        }
    }
    snapshot.slowlog_length = answers.next().and_then(replies::slowlog_len);
    snapshot.slowlog_last = answers.next().and_then(replies::slowlog_get);
    if let Some(reply) = answers.next() {
        snapshot.latency_spikes = replies::latency_latest(reply);
    }
    if let Some(reply) = answers.next() {
        snapshot.latency_histograms = replies::latency_histogram(reply);
    }

    if !lists.patterns.is_empty() || !lists.single.is_empty() {
        let limits = ScanLimits {
            batch: settings.check_keys_batch_size,
            max_keys: settings.check_keys_limit,
            max_scanned: lists.max_scanned,
            deadline,
        };
        let wanted = keys::expand(conn, own_db, &lists.patterns, &lists.single, limits).await?;
        snapshot.keys = keys::read(conn, own_db, &wanted).await?;
    }
    Ok(snapshot)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Exporter for RedisExporter {
    /// `/scrape` answers for its target and key lists; `/metrics` ignores every parameter.
    fn shared_params(&self, path: &str) -> &'static [&'static str] {
        if path == SCRAPE_PATH {
            &["target", "check-keys", "check-single-keys"]
        } else {
            &[]
        }
    }

    async fn collect(&self, scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        if scrape.path == SCRAPE_PATH {
            let (state, lists) = self.scrape_request(scrape)?;
            Ok(self.scrape_target(&state, &lists, scrape).await)
        } else {
            let lists = KeyLists::from_settings(&self.settings);
            Ok(self
                .scrape_target(&self.default_target, &lists, scrape)
                .await)
        }
    }

    /// Always healthy: an unreachable Redis is the exporter doing its job (`redis_up 0`), and a
    /// multi-target deployment may have no Redis of its own. The JSON tells how the last scrape
    /// of the configured Redis went, without sending it anything.
    async fn health(&self) -> BackendHealth {
        let state = &self.default_target;
        let history = lock(&state.history);
        let mut redis = serde_json::Map::new();
        redis.insert("target".into(), state.target.name.clone().into());
        let last = match (&history.last_error, history.scrapes) {
            (_, 0) => "not scraped yet",
            (None, _) => "up",
            (Some(_), _) => "down",
        };
        redis.insert("last_scrape".into(), last.into());
        if let Some(error) = &history.last_error {
            redis.insert("error".into(), error.clone().into());
        }
        let mut health = BackendHealth::no_backend();
        health
            .fields
            .insert("redis".into(), serde_json::Value::Object(redis));
        health
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_carry_the_password() {
        let e = RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "bad",
            "tried hunter2".to_string(),
        ));
        assert!(!redis_error(&e, Some("hunter2"))
            .to_string()
            .contains("hunter2"));
    }

    #[test]
    fn long_server_errors_are_cut_at_a_character_boundary() {
        let e = RedisError::from((redis::ErrorKind::ResponseError, "ERR", "é".repeat(10_000)));
        let shown = redis_error(&e, None).to_string();
        assert!(shown.len() <= MAX_ERROR_BYTES + 3, "{}", shown.len());
    }
}
