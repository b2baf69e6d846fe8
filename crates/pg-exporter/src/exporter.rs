//! The scrape: for each server, reuse its connection, run the enabled collectors concurrently on
//! it (tokio-postgres pipelines them), add custom queries and discovered databases, and report
//! `pg_up` and the exporter's own metrics. `/probe?target=` does the same for a target named in
//! the request, keeping a bounded set of their connections open between probes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use metrics_core::{BackendHealth, Exporter, MetricSet, Scrape, ScrapeError};

use crate::collectors::{sets_for, Collector, Options, Scope, ServerLabel, Sets};
use crate::config::{Config, SetupError};
use crate::custom::{CustomQueries, QueryFileError};
use crate::dsn::Dsn;
use crate::probe::{AllowedTargetError, ProbePolicy, Refusal};
use crate::target::{describe, Target};

/// Time kept back from the scrape timeout to encode and send the answer.
const MARGIN: Duration = Duration::from_millis(250);
/// Probe targets whose connections are kept open.
const MAX_PROBE_TARGETS: usize = 64;
const PROBE_IDLE: Duration = Duration::from_secs(600);
/// Discovered databases scraped at the same time.
const DISCOVERED_AT_ONCE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Queries(#[from] QueryFileError),
    #[error(transparent)]
    AllowedTargets(#[from] AllowedTargetError),
}

/// Everything a scrape needs besides the servers.
struct Plan {
    collectors: Vec<Collector>,
    options: Options,
    custom: Option<CustomQueries>,
    constant: Arc<[(String, String)]>,
    server_label: ServerLabel,
    auto_discover: bool,
    include_databases: Vec<String>,
    exclude_databases: Vec<String>,
    connect_timeout: Duration,
    statement_timeout: Duration,
}

/// A configured or probed server, and the other databases found on it.
struct Server {
    main: Target,
    children: tokio::sync::Mutex<BTreeMap<String, Arc<Target>>>,
    /// Collectors whose last run failed here, to log changes only.
    failing: Mutex<HashSet<(String, &'static str)>>,
}

impl Server {
    fn new(dsn: Dsn, plan: &Plan) -> Self {
        Self {
            main: Target::new(dsn, plan.connect_timeout, plan.statement_timeout),
            children: tokio::sync::Mutex::new(BTreeMap::new()),
            failing: Mutex::new(HashSet::new()),
        }
    }

    fn note(&self, database: &str, collector: &'static str, result: &Result<(), String>) {
        let key = (database.to_string(), collector);
        let mut failing = match self.failing.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        match result {
            Err(e) => {
                if failing.insert(key) {
                    tracing::warn!(server = %self.main.server, database, collector, error = %e, "collector failed");
                }
            }
            Ok(()) => {
                if failing.remove(&key) {
                    tracing::info!(server = %self.main.server, database, collector, "collector works again");
                }
            }
        }
    }
}

/// A probe's `target` and `auth_module` parameters.
type ProbeKey = (String, String);

pub struct PgExporter {
    servers: Vec<Arc<Server>>,
    probes: Mutex<HashMap<ProbeKey, (Arc<Server>, Instant)>>,
    policy: ProbePolicy,
    plan: Plan,
    scrapes: AtomicU64,
    /// When the configuration was read (seconds since the epoch).
    loaded_at: f64,
}

/// What one server's scrape produced.
struct Outcome {
    text: Sets,
    up: bool,
    error: bool,
    collectors: BTreeMap<&'static str, (Duration, bool)>,
}

impl Outcome {
    /// Adds another connection's results (a discovered database of the same server).
    fn new(plan: &Plan, server: &Arc<str>) -> Self {
        Self {
            text: plan.sets_for(server),
            up: false,
            error: false,
            collectors: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.text.append(other.text);
        self.error |= other.error;
        for (name, (elapsed, ok)) in other.collectors {
            let entry = self
                .collectors
                .entry(name)
                .or_insert((Duration::ZERO, true));
            entry.0 += elapsed;
            entry.1 &= ok;
        }
    }
}

impl PgExporter {
    /// Reads the files the configuration names and checks every setting.
    pub async fn new(config: &Config) -> Result<Self, StartError> {
        let custom = match config.extend.query_path.trim() {
            "" => None,
            path => Some(CustomQueries::load(std::path::Path::new(path)).await?),
        };
        let mut statement_timeout = config.statement_timeout;
        let ceiling = config.web.scrape_timeout.mul_f64(0.8);
        if statement_timeout >= ceiling {
            tracing::warn!(
                statement_timeout = ?statement_timeout,
                scrape_timeout = ?config.web.scrape_timeout,
                "the statement timeout must be shorter than the scrape timeout; lowering it"
            );
            statement_timeout = ceiling;
        }
        let mut plan = Plan {
            collectors: config.enabled_collectors()?,
            options: Options {
                exclude_databases: config.exclude_databases.clone(),
            },
            custom,
            constant: config.constant_labels()?.into(),
            server_label: ServerLabel::QueryMap,
            auto_discover: config.auto_discover_databases,
            include_databases: config.include_databases.clone(),
            exclude_databases: config.exclude_databases.clone(),
            connect_timeout: config.connect_timeout,
            statement_timeout,
        };
        let dsns = config.data_sources().await?;
        if dsns.len() > 1 {
            plan.server_label = ServerLabel::Everywhere;
        }
        let policy = ProbePolicy::new(
            &dsns,
            &config.probe.allowed_targets,
            config.auth_modules.clone(),
        )?;
        if dsns.is_empty() {
            tracing::warn!("no data source configured (DATA_SOURCE_NAME or DATA_SOURCE_URI): /metrics reports pg_up 0; /probe reaches --probe.allowed-targets only");
        }
        for dsn in &dsns {
            tracing::info!(dsn = %dsn, "data source");
        }
        let servers = dsns
            .into_iter()
            .map(|d| Arc::new(Server::new(d, &plan)))
            .collect();
        Ok(Self {
            servers,
            probes: Mutex::new(HashMap::new()),
            policy,
            plan,
            scrapes: AtomicU64::new(0),
            loaded_at: seconds_since_epoch(),
        })
    }

    /// The server a `/probe` request names, with its connection kept for the next probe. A
    /// refused request has touched nothing: no connection, no file.
    fn probe_server(&self, scrape: &Scrape) -> Result<Arc<Server>, ScrapeError> {
        let target = scrape.param("target");
        let module = scrape.param("auth_module");
        let dsn = self.policy.resolve(target, module).map_err(|refusal| {
            if let Some(reason) = refusal.counted_as() {
                metrics_core::refused::count(reason);
            }
            match refusal {
                Refusal::NotAllowed => forbidden(refusal.to_string()),
                _ => ScrapeError::BadRequest(refusal.to_string()),
            }
        })?;
        dsn.to_config(self.plan.connect_timeout)
            .map_err(|e| ScrapeError::BadRequest(format!("invalid target: {e}")))?;
        let key = (
            target.unwrap_or_default().trim().to_string(),
            module.unwrap_or_default().trim().to_string(),
        );
        let mut probes = match self.probes.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        probes.retain(|_, (_, used)| now.duration_since(*used) < PROBE_IDLE);
        if !probes.contains_key(&key) && probes.len() >= MAX_PROBE_TARGETS {
            if let Some(oldest) = probes
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                probes.remove(&oldest);
            }
        }
        let entry = probes
            .entry(key)
            .or_insert_with(|| (Arc::new(Server::new(dsn, &self.plan)), now));
        entry.1 = now;
        Ok(entry.0.clone())
    }

    async fn scrape_server(&self, server: &Server, deadline: Instant) -> Outcome {
        let label: Arc<str> = server.main.server.as_str().into();
        let budget = deadline.saturating_duration_since(Instant::now());
        let session = match server.main.session(budget).await {
            Ok(s) => s,
            Err(_) => {
                let mut outcome = Outcome::new(&self.plan, &label);
                outcome.error = true;
                return outcome;
            }
        };
        let primary_db = server.main.dsn.dbname.clone().unwrap_or_default();
        let database_runs =
            self.run_database(server, &primary_db, &session, deadline, &label, true);
        let children = self.discovered(server, &session, deadline);
        // The configured database's outcome, with most of the families, is the base the
        // others are merged into (not copied into an empty one).
        let (mut outcome, children) = tokio::join!(database_runs, children);
        outcome.up = true;
        outcome.text.by_server.untyped(
            "pg_static",
            "Version string as reported by postgres",
            &[
                ("version", &session.version_string),
                ("short_version", &session.version.short()),
            ],
            1.0,
        );
        // Other databases, a few at a time (each has its own connection).
        let label = &label;
        let mut runs = futures_util::stream::iter(children)
            .map(|child| async move {
                let budget = deadline.saturating_duration_since(Instant::now());
                match child.session(budget).await {
                    Ok(s) => {
                        let db = child.dsn.dbname.clone().unwrap_or_default();
                        self.run_database(server, &db, &s, deadline, label, false)
                            .await
                    }
                    Err(_) => {
                        let mut failed = Outcome::new(&self.plan, label);
                        failed.error = true;
                        failed
                    }
                }
            })
            .buffer_unordered(DISCOVERED_AT_ONCE);
        while let Some(child) = runs.next().await {
            outcome.merge(child);
        }
        if server.main.discard_if_closed().await {
            outcome.up = false;
            outcome.error = true;
        }
        outcome
    }

    /// Runs the collectors that apply to one connection: all of them on the configured
    /// database (`primary`), the per-database ones and non-`master` custom queries elsewhere.
    async fn run_database(
        &self,
        server: &Server,
        database: &str,
        session: &crate::target::Session,
        deadline: Instant,
        label: &Arc<str>,
        primary: bool,
    ) -> Outcome {
        let mut outcome = Outcome::new(&self.plan, label);
        let until = tokio::time::Instant::from_std(deadline);
        let runs = self
            .plan
            .collectors
            .iter()
            .filter(|c| primary || c.scope() == Scope::Database)
            .map(|&c| {
                let label = label.clone();
                async move {
                    let start = Instant::now();
                    let mut out = self.plan.sets_for(&label);
                    let result = match tokio::time::timeout_at(
                        until,
                        c.collect(session, &mut out, &self.plan.options),
                    )
                    .await
                    {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(describe(&e)),
                        Err(_) => Err("timed out".to_string()),
                    };
                    (c, start.elapsed(), result, out)
                }
            });
        let custom = async {
            let mut out = self.plan.sets_for(label);
            if let Some(custom) = &self.plan.custom {
                let _ = tokio::time::timeout_at(
                    until,
                    custom.collect(
                        session,
                        &mut out.by_server,
                        &server.main.server,
                        database,
                        primary,
                    ),
                )
                .await;
            }
            out
        };
        let (results, custom_set) = tokio::join!(futures_util::future::join_all(runs), custom);
        // A connection that died under the scrape is logged once by the target, not by every
        // collector that lost its query.
        let connection_lost = session.client.is_closed();
        let mut sets = Vec::with_capacity(results.len() + 1);
        for (collector, elapsed, result, out) in results {
            if !connection_lost {
                server.note(database, collector.name(), &result);
            }
            let ok = result.is_ok();
            if ok {
                sets.push(out);
            } else {
                outcome.error = true;
            }
            let entry = outcome
                .collectors
                .entry(collector.name())
                .or_insert((Duration::ZERO, true));
            entry.0 += elapsed;
            entry.1 &= ok;
        }
        sets.push(custom_set);
        outcome.text = merged(sets, outcome.text);
        outcome
    }

    /// With `--auto-discover-databases`: the other databases of the server, each with its own
    /// long-lived connection (kept while the database exists).
    async fn discovered(
        &self,
        server: &Server,
        session: &crate::target::Session,
        deadline: Instant,
    ) -> Vec<Arc<Target>> {
        if !self.plan.auto_discover {
            return Vec::new();
        }
        let query = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate \
                     AND datname <> current_database()";
        let until = tokio::time::Instant::from_std(deadline);
        let names: Vec<String> = match tokio::time::timeout_at(until, session.rows(query)).await {
            Ok(Ok(rows)) => rows
                .iter()
                .filter_map(|r| r.get(0).map(str::to_string))
                .filter(|d| {
                    self.plan.include_databases.is_empty()
                        || self.plan.include_databases.contains(d)
                })
                .filter(|d| !self.plan.exclude_databases.contains(d))
                .collect(),
            Ok(Err(e)) => {
                tracing::warn!(server = %server.main.server, error = %describe(&e), "cannot list databases");
                return Vec::new();
            }
            Err(_) => return Vec::new(),
        };
        let mut children = server.children.lock().await;
        children.retain(|name, _| names.contains(name));
        for name in names {
            children.entry(name.clone()).or_insert_with(|| {
                Arc::new(Target::new(
                    server.main.dsn.with_dbname(&name),
                    self.plan.connect_timeout,
                    self.plan.statement_timeout,
                ))
            });
        }
        children.values().cloned().collect()
    }
}

/// 403 for a probe target that is not allowed.
fn forbidden(message: String) -> ScrapeError {
    ScrapeError::Forbidden(message)
}

impl Exporter for PgExporter {
    /// `/probe` collections differ by target and module; `/metrics` takes no parameters.
    fn shared_params(&self, path: &str) -> &'static [&'static str] {
        if path == "/probe" {
            &["target", "auth_module"]
        } else {
            &[]
        }
    }

    async fn collect(&self, scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let start = Instant::now();
        let servers = if scrape.path == "/probe" {
            vec![self.probe_server(scrape)?]
        } else {
            self.servers.clone()
        };
        let deadline = scrape
            .deadline
            .checked_sub(MARGIN)
            .unwrap_or(scrape.deadline);
        let outcomes =
            futures_util::future::join_all(servers.iter().map(|s| self.scrape_server(s, deadline)))
                .await;
        let mut set = MetricSet::new();
        let up = !outcomes.is_empty() && outcomes.iter().all(|o| o.up);
        let error = outcomes.is_empty() || outcomes.iter().any(|o| o.error);
        let mut collectors: BTreeMap<&'static str, (Duration, bool)> = BTreeMap::new();
        // One text block for all servers, so that each family appears once.
        let mut text: Option<Sets> = None;
        for outcome in outcomes {
            for (name, (elapsed, ok)) in outcome.collectors {
                let entry = collectors.entry(name).or_insert((Duration::ZERO, true));
                entry.0 += elapsed;
                entry.1 &= ok;
            }
            match &mut text {
                Some(t) => t.append(outcome.text),
                None => text = Some(outcome.text),
            }
        }
        if let Some(text) = text {
            set.append(text.by_server);
            set.append(text.plain);
        }
        for (name, (elapsed, ok)) in collectors {
            set.record_collector("pg", name, elapsed, ok);
        }
        // The exporter's own families carry the constant labels, as upstream's do.
        let mut own = MetricSet::with_labels(self.plan.constant.to_vec());
        own.gauge(
            "pg_up",
            "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).",
            &[],
            if up { 1.0 } else { 0.0 },
        );
        let scrapes = self.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
        own.gauge(
            "pg_exporter_last_scrape_duration_seconds",
            "Duration of the last scrape of metrics from PostgreSQL.",
            &[],
            start.elapsed().as_secs_f64(),
        );
        own.counter(
            "pg_exporter_scrapes_total",
            "Total number of times PostgreSQL was scraped for metrics.",
            &[],
            scrapes as f64,
        );
        own.gauge(
            "pg_exporter_last_scrape_error",
            "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).",
            &[],
            if error { 1.0 } else { 0.0 },
        );
        set.append(own);
        if let Some(custom) = &self.plan.custom {
            set.gauge(
                "pg_exporter_user_queries_load_error",
                "Whether the user queries file was loaded and parsed successfully (1 for error, 0 for success).",
                &[
                    ("filename", &custom.path.display().to_string()),
                    ("hashsum", &custom.hashsum),
                ],
                0.0,
            );
        }
        build_info(&mut set);
        config_reload(&mut set, self.loaded_at);
        Ok(set)
    }

    async fn health(&self) -> BackendHealth {
        let mut servers = Vec::new();
        for s in &self.servers {
            servers.push(serde_json::json!({
                "server": s.main.server,
                "up": s.main.is_up().await,
            }));
        }
        let mut health = BackendHealth::no_backend();
        health
            .fields
            .insert("postgres".into(), serde_json::Value::Array(servers));
        health
    }
}

/// One set of all `sets`: the one with the most families (the settings) is the base, so that
/// its families are not indexed again; `empty` when there are none.
fn merged(mut sets: Vec<Sets>, empty: Sets) -> Sets {
    let Some(largest) = (0..sets.len()).max_by_key(|&i| sets[i].by_server.len()) else {
        return empty;
    };
    let mut base = sets.swap_remove(largest);
    for set in sets {
        base.append(set);
    }
    base
}

impl Plan {
    /// Empty sets for one server's samples.
    fn sets_for(&self, server: &str) -> Sets {
        sets_for(server, &self.constant, self.server_label)
    }
}

/// postgres_exporter's `--config.file` families. Ours is read once, at the start, which fails
/// on an unreadable file: so the last (only) load succeeded, when the exporter started.
fn config_reload(set: &mut MetricSet, loaded_at: f64) {
    set.gauge(
        "postgres_exporter_config_last_reload_successful",
        "Postgres exporter config loaded successfully.",
        &[],
        1.0,
    );
    set.gauge(
        "postgres_exporter_config_last_reload_success_timestamp_seconds",
        "Timestamp of the last successful configuration reload.",
        &[],
        loaded_at,
    );
}

fn seconds_since_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `postgres_exporter_build_info`, with upstream's label names (metrics-core's build info).
fn build_info(set: &mut MetricSet) {
    metrics_core::build_info::BUILD.export(
        set,
        "postgres_exporter_build_info",
        "postgres_exporter",
        &[],
    );
}
