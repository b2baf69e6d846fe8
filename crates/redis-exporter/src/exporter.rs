//! The scrape: one reused connection per Redis (redis-rs' `ConnectionManager`), one pipelined
//! round trip for `INFO ALL`, `CONFIG GET`, `SLOWLOG` and `LATENCY LATEST`, then the checked
//! keys; a Redis that cannot be read is `redis_up 0`, logged once per change of its error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics_core::{BackendHealth, Exporter, MetricSet, Scrape, ScrapeError};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};

use crate::keys::{self, KeySpec, ScanLimits};
use crate::snapshot::{self, LatencySpike, Naming, SlowlogEntry, Snapshot, Writer};
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
}

/// PEM contents of the TLS files, read at start-up.
#[derive(Clone)]
pub struct TlsFiles {
    pub ca_cert: Option<Vec<u8>>,
    /// Certificate and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca_cert", &self.ca_cert.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

pub struct RedisExporter {
    settings: Settings,
    default_target: Arc<TargetState>,
    targets: Mutex<HashMap<String, Arc<TargetState>>>,
    bad_requests: AtomicU64,
}

/// One Redis and what the exporter remembers about it between scrapes.
struct TargetState {
    target: Target,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
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

    /// Resolves what a `/scrape` request asks for: its target and key lists.
    fn scrape_request(&self, scrape: &Scrape) -> Result<(Arc<TargetState>, KeyLists), ScrapeError> {
        let raw = scrape
            .param("target")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| self.bad_request("'target' parameter must be specified".into()))?;
        let target = target::parse(raw, &self.settings.credentials, false)
            .map_err(|e| self.bad_request(format!("invalid 'target' parameter: {e}")))?;
        let mut lists = KeyLists::from_settings(&self.settings);
        if let Some(list) = scrape.param("check-keys").filter(|l| !l.is_empty()) {
            lists.patterns = keys::parse_key_list(list)
                .map_err(|e| self.bad_request(format!("invalid 'check-keys' parameter: {e}")))?;
        }
        if let Some(list) = scrape.param("check-single-keys").filter(|l| !l.is_empty()) {
            lists.single = keys::parse_key_list(list).map_err(|e| {
                self.bad_request(format!("invalid 'check-single-keys' parameter: {e}"))
            })?;
        }
        Ok((self.target_state(target), lists))
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
        w.summary(
            "exporter_scrape_duration_seconds",
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
        w.gauge(
            "exporter_build_info",
            "redis exporter build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                (
                    "commit_sha",
                    option_env!("CLUSTERMON_COMMIT").unwrap_or("unknown"),
                ),
                (
                    "build_date",
                    option_env!("CLUSTERMON_BUILD_DATE").unwrap_or("unknown"),
                ),
                ("golang_version", "none (rust)"),
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
                let connected =
                    connect(&state.target, self.settings.tls.as_ref(), timeout, deadline).await;
                *connect_time += started.elapsed();
                *slot = Some(connected.map_err(|e| redis_error(&e, password))?);
            }
            let Some(connection) = slot.as_mut() else {
                break;
            };
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

/// The key lists of one scrape.
#[derive(Debug, Clone, Default)]
struct KeyLists {
    patterns: Vec<KeySpec>,
    single: Vec<KeySpec>,
}

impl KeyLists {
    fn from_settings(settings: &Settings) -> Self {
        Self {
            patterns: settings.check_keys.clone(),
            single: settings.check_single_keys.clone(),
        }
    }
}

impl TargetState {
    fn new(target: Target) -> Self {
        Self {
            target,
            connection: tokio::sync::Mutex::new(None),
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

async fn connect(
    target: &Target,
    tls: Option<&TlsFiles>,
    timeout: Duration,
    deadline: Instant,
) -> Result<ConnectionManager, RedisError> {
    let client = match (&target.connection.addr, tls) {
        (redis::ConnectionAddr::TcpTls { .. }, Some(files)) => redis::Client::build_with_tls(
            target.connection.clone(),
            redis::TlsCertificates {
                client_tls: files.client.clone().map(|(client_cert, client_key)| {
                    redis::ClientTlsConfig {
                        client_cert,
                        client_key,
                    }
                }),
                root_cert: files.ca_cert.clone(),
            },
        )?,
        _ => redis::Client::open(target.connection.clone())?,
    };
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(timeout.max(Duration::from_millis(1)))
        .set_response_timeout(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
    ConnectionManager::new_with_config(client, config).await
}

/// The error as text without the password, however it got there.
fn redis_error(e: &RedisError, password: Option<&str>) -> ReadError {
    let mut text = e.to_string();
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        text = text.replace(p, "<redacted>");
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
    pipe
}

/// One `CONFIG GET` each: Redis before 7 takes a single parameter.
const CONFIG_SETTINGS: &[&str] = &["maxmemory", "maxclients", "io-threads", "databases"];

async fn read_snapshot(
    conn: &mut ConnectionManager,
    own_db: i64,
    lists: &KeyLists,
    settings: &Settings,
    deadline: Instant,
) -> Result<Snapshot, RedisError> {
    let pipe = snapshot_pipeline();
    let count = pipe.cmd_iter().count();
    let mut replies = conn.req_packed_commands(&pipe, 0, count).await?.into_iter();
    let info = match replies.next() {
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
        if let Some(reply) = replies.next() {
            snapshot.config.extend(config_pairs(reply));
        }
    }
    snapshot.slowlog_length = match replies.next() {
        Some(Value::Int(n)) => Some(n as f64),
        _ => None,
    };
    snapshot.slowlog_last = replies.next().and_then(parse_slowlog_get);
    if let Some(reply) = replies.next() {
        snapshot.latency_spikes = parse_latency_latest(reply);
    }

    if !lists.patterns.is_empty() || !lists.single.is_empty() {
        let limits = ScanLimits {
            batch: settings.check_keys_batch_size,
            max_keys: settings.check_keys_limit,
            deadline,
        };
        let wanted = keys::expand(conn, own_db, &lists.patterns, &lists.single, limits).await?;
        snapshot.keys = keys::read(conn, own_db, &wanted).await?;
    }
    Ok(snapshot)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<f64> {
    match v {
        Value::Int(n) => Some(*n as f64),
        other => text(other)?.parse().ok(),
    }
}

/// `CONFIG GET` answers `[name, value, ...]` (RESP2) or a map (RESP3); an error (CONFIG
/// disabled) gives nothing.
fn config_pairs(reply: Value) -> Vec<(String, String)> {
    match reply {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((text(&kv[0])?, text(&kv[1])?)))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// `SLOWLOG GET 1`: `[[id, timestamp, duration_us, args, ...]]`, or `[]` when empty.
fn parse_slowlog_get(reply: Value) -> Option<Option<SlowlogEntry>> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let Some(Value::Array(entry)) = entries.first() else {
        return Some(None);
    };
    Some(Some(SlowlogEntry {
        id: entry.first().and_then(int)?,
        duration_micros: entry.get(2).and_then(int).unwrap_or(0.0),
    }))
}

/// `LATENCY LATEST`: `[[event, last_unix_time, latest_ms, max_ms], ...]`.
fn parse_latency_latest(reply: Value) -> Vec<LatencySpike> {
    let Value::Array(events) = reply else {
        return Vec::new();
    };
    events
        .iter()
        .filter_map(|e| {
            let Value::Array(fields) = e else {
                return None;
            };
            Some(LatencySpike {
                event: text(fields.first()?)?,
                last: int(fields.get(1)?)?,
                latest_millis: int(fields.get(2)?)?,
            })
        })
        .collect()
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
    fn slowlog_replies() {
        assert_eq!(parse_slowlog_get(Value::Array(vec![])), Some(None));
        let entry = Value::Array(vec![
            Value::Int(7),
            Value::Int(1_700_000_000),
            Value::Int(15233),
            Value::Array(vec![]),
        ]);
        assert_eq!(
            parse_slowlog_get(Value::Array(vec![entry])),
            Some(Some(SlowlogEntry {
                id: 7.0,
                duration_micros: 15233.0
            }))
        );
        assert_eq!(parse_slowlog_get(Value::Nil), None);
    }

    #[test]
    fn latency_latest_replies() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"command".to_vec()),
            Value::Int(1_795_568_899),
            Value::Int(15),
            Value::Int(15),
        ])]);
        assert_eq!(
            parse_latency_latest(reply),
            vec![LatencySpike {
                event: "command".into(),
                last: 1_795_568_899.0,
                latest_millis: 15.0
            }]
        );
    }

    #[test]
    fn config_replies_in_both_protocols() {
        let resp2 = Value::Array(vec![
            Value::BulkString(b"maxmemory".to_vec()),
            Value::BulkString(b"0".to_vec()),
        ]);
        assert_eq!(
            config_pairs(resp2),
            vec![("maxmemory".to_string(), "0".to_string())]
        );
        let resp3 = Value::Map(vec![(
            Value::SimpleString("databases".into()),
            Value::BulkString(b"16".to_vec()),
        )]);
        assert_eq!(
            config_pairs(resp3),
            vec![("databases".to_string(), "16".to_string())]
        );
    }

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
}
