//! `/history/cluster` and `/history/containers/{name}`: the graphs' series over 15 min to 7 d,
//! from Prometheus' range API (container-exporter's cAdvisor families) through fixed,
//! parameterised queries (the page names a range and a container, never PromQL), or from
//! docker-api's in-memory history when no Prometheus is configured. A step is chosen so that no
//! series has more than [`MAX_POINTS`] points.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use clap::Arg;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::forward::{count, error_chain, read_capped, DockerApi, ForwardError, Outcomes};

/// No series the page draws has more points than this.
pub const MAX_POINTS: u64 = 1000;

/// Steps the Prometheus queries use, smallest first: the first that keeps a range within
/// [`MAX_POINTS`] is taken. Round numbers, so that a chart's points fall on whole minutes.
const STEPS: [u64; 12] = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/// Where long history comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Prometheus' base URL; empty: history from docker-api.
    pub url: String,
    /// The CA an `https://` URL's certificate is checked with (only that CA is trusted).
    pub ca_file: Option<PathBuf>,
    /// Basic auth user, with the password read from `password_file` at start.
    pub username: String,
    pub password_file: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The shortest window `rate()` looks back over: at least a few scrape intervals, so a
    /// short range's points each see two samples.
    #[serde(with = "humantime_serde")]
    pub min_rate_window: Duration,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            ca_file: None,
            username: String::new(),
            password_file: None,
            timeout: Duration::from_secs(10),
            min_rate_window: Duration::from_secs(60),
        }
    }
}

/// The link from a container to its Grafana dashboard.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrafanaConfig {
    /// Grafana's base URL as the browser reaches it; empty: no link.
    pub url: String,
}

impl PrometheusConfig {
    /// Rejects settings that cannot work, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Ok(());
        }
        let shown = metrics_core::secret::redact_url(&self.url);
        let parsed = reqwest::Url::parse(&self.url)
            .map_err(|e| format!("prometheus.url: {shown:?} is not a URL: {e}"))?;
        let tls_ok = parsed.scheme() == "https" && self.ca_file.is_some();
        if !(parsed.scheme() == "http" || tls_ok) || parsed.query().is_some() {
            return Err(format!(
                "prometheus.url: an http:// URL (https:// with prometheus.ca_file) without a query, not {shown:?}"
            ));
        }
        if self.timeout.is_zero() || self.min_rate_window < Duration::from_secs(1) {
            return Err(
                "prometheus.timeout must be above 0 and prometheus.min_rate_window at least 1s"
                    .into(),
            );
        }
        if self.password_file.is_some() == self.username.is_empty() {
            return Err("prometheus.username and prometheus.password_file go together".into());
        }
        Ok(())
    }
}

impl GrafanaConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Ok(());
        }
        let parsed = reqwest::Url::parse(&self.url)
            .map_err(|e| format!("grafana.url: {:?} is not a URL: {e}", self.url))?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
            return Err("grafana.url: an http(s) URL without a user or password".into());
        }
        Ok(())
    }
}

/// The flags of this module's settings; each id is its config key.
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new("prometheus.url")
            .long("prometheus.url")
            .value_name("URL")
            .help("Prometheus' base URL for history beyond docker-api's (empty: docker-api's history)"),
        Arg::new("prometheus.ca_file")
            .long("prometheus.ca-file")
            .value_name("FILE")
            .help("CA certificate(s) an https:// Prometheus URL is checked with"),
        Arg::new("prometheus.username")
            .long("prometheus.username")
            .value_name("USER")
            .help("Basic auth user for Prometheus"),
        Arg::new("prometheus.password_file")
            .long("prometheus.password-file")
            .value_name("FILE")
            .help("File holding the basic auth password for Prometheus"),
        Arg::new("prometheus.timeout")
            .long("prometheus.timeout")
            .value_name("DURATION")
            .help("Longest time a history request to Prometheus may take"),
        Arg::new("prometheus.min_rate_window")
            .long("prometheus.min-rate-window")
            .value_name("DURATION")
            .help("Shortest rate() window of the history queries (a few scrape intervals)"),
        Arg::new("grafana.url")
            .long("grafana.url")
            .value_name("URL")
            .help("Grafana's URL as browsers reach it: each container links to its Grafana dashboard"),
    ]
}

/// A range the page may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Minutes15,
    Hour1,
    Hours6,
    Hours24,
    Days7,
}

impl Range {
    pub const ALL: [Range; 5] = [
        Range::Minutes15,
        Range::Hour1,
        Range::Hours6,
        Range::Hours24,
        Range::Days7,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == text)
    }

    pub fn name(self) -> &'static str {
        match self {
            Range::Minutes15 => "15m",
            Range::Hour1 => "1h",
            Range::Hours6 => "6h",
            Range::Hours24 => "24h",
            Range::Days7 => "7d",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            Range::Minutes15 => 15 * 60,
            Range::Hour1 => 3600,
            Range::Hours6 => 6 * 3600,
            Range::Hours24 => 24 * 3600,
            Range::Days7 => 7 * 24 * 3600,
        }
    }

    /// The smallest step that keeps the range within [`MAX_POINTS`] points (both ends count).
    pub fn step(self) -> u64 {
        let seconds = self.seconds();
        STEPS
            .into_iter()
            .find(|step| seconds / step < MAX_POINTS)
            .unwrap_or(STEPS[STEPS.len() - 1])
    }
}

/// Whose history: the whole cluster or one container, by name (which outlives the container
/// in Prometheus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Cluster,
    Container(String),
}

/// A container name as Docker allows it (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 128 here), so it
/// can stand in a PromQL string and a docker-api path as it is.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

impl Target {
    /// The label matcher of every query: containers only (cAdvisor's root and system cgroups
    /// have no name), or the one name.
    fn selector(&self) -> String {
        match self {
            Target::Cluster => r#"name!="""#.to_string(),
            Target::Container(name) => format!(r#"name="{name}""#),
        }
    }
}

/// One series of the answer and the PromQL behind it; `{sel}` is the target's matcher and
/// `{w}` the rate window.
struct SeriesQuery {
    series: &'static str,
    template: &'static str,
    containers_only: bool,
}

const QUERIES: [SeriesQuery; 8] = [
    SeriesQuery {
        series: "cpu_percent",
        template: "sum(rate(container_cpu_usage_seconds_total{sel}[{w}])) * 100",
        containers_only: false,
    },
    SeriesQuery {
        series: "memory_bytes",
        template: "sum(container_memory_working_set_bytes{sel})",
        containers_only: false,
    },
    SeriesQuery {
        series: "rx_bytes_per_sec",
        template: "sum(rate(container_network_receive_bytes_total{sel}[{w}]))",
        containers_only: false,
    },
    SeriesQuery {
        series: "tx_bytes_per_sec",
        template: "sum(rate(container_network_transmit_bytes_total{sel}[{w}]))",
        containers_only: false,
    },
    SeriesQuery {
        series: "read_bytes_per_sec",
        template: "sum(rate(container_fs_reads_bytes_total{sel}[{w}]))",
        containers_only: false,
    },
    SeriesQuery {
        series: "write_bytes_per_sec",
        template: "sum(rate(container_fs_writes_bytes_total{sel}[{w}]))",
        containers_only: false,
    },
    SeriesQuery {
        series: "memory_limit_bytes",
        template: "max(container_spec_memory_limit_bytes{sel} > 0)",
        containers_only: true,
    },
    SeriesQuery {
        series: "cpu_limit_percent",
        template: "max(container_spec_cpu_quota{sel} / container_spec_cpu_period{sel} > 0) * 100",
        containers_only: true,
    },
];

/// The PromQL of every series for `target` with a rate window of `window_seconds`.
pub fn queries(target: &Target, window_seconds: u64) -> Vec<(&'static str, String)> {
    let sel = format!("{{{}}}", target.selector());
    QUERIES
        .iter()
        .filter(|q| !q.containers_only || matches!(target, Target::Container(_)))
        .map(|q| {
            let promql = q
                .template
                .replace("{sel}", &sel)
                .replace("{w}", &format!("{window_seconds}s"));
            (q.series, promql)
        })
        .collect()
}

/// A series: `[unix seconds, value]` pairs, oldest first.
pub type Series = Vec<(f64, f64)>;

/// Why history cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// docker-api's own error (400 for a window it does not keep, 404 for an unknown container).
    #[error("docker-api: {message}")]
    DockerApi { status: u16, message: String },
}

impl HistoryError {
    pub fn response(&self) -> HttpResponse {
        match self {
            Self::Forward(e) => e.response(),
            Self::DockerApi { status, message } => {
                let code = actix_web::http::StatusCode::from_u16(*status)
                    .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
                HttpResponse::build(code)
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(json!({"error": message, "status": code.as_u16(), "upstream": "docker-api"}))
            }
        }
    }
}

/// A GET of docker-api's JSON at `path` (under its base), read up to the forwarder's cap
/// within its timeout; its error answers are [`HistoryError::DockerApi`].
pub async fn docker_api_json(docker_api: &DockerApi, path: &str) -> Result<Value, HistoryError> {
    let url = format!("{}{path}", docker_api.base);
    let unreachable = |reason: String| ForwardError::Unreachable {
        upstream: "docker-api",
        url: docker_api.shown.clone(),
        reason,
    };
    let fetch = async {
        let response = docker_api
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| unreachable(error_chain(e)))?;
        let status = response.status().as_u16();
        let body = read_capped(
            response,
            docker_api.limits.max_body_bytes,
            "docker-api",
            &docker_api.shown,
        )
        .await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| unreachable(format!("HTTP {status}, not JSON: {e}")))?;
        if status >= 400 {
            let message = value["error"]
                .as_str()
                .unwrap_or("no error given")
                .to_string();
            return Err(HistoryError::DockerApi { status, message });
        }
        Ok(value)
    };
    let outcome = tokio::time::timeout(docker_api.timeout, fetch).await;
    count(&docker_api.outcomes, outcome).map_err(|_| ForwardError::Timeout {
        upstream: "docker-api",
        url: docker_api.shown.clone(),
        timeout: docker_api.timeout,
    })?
}

/// What `/history/*` answers.
#[derive(Debug, Serialize)]
pub struct HistoryBody {
    /// `prometheus` or `docker-api`.
    pub source: &'static str,
    pub range: &'static str,
    pub start: u64,
    pub end: u64,
    pub step_seconds: u64,
    /// Set when the source holds less than the range (docker-api keeps its long window only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub series: BTreeMap<&'static str, Series>,
}

/// Prometheus, as the history queries reach it.
pub struct Prometheus {
    /// Base URL without a trailing slash; empty when not configured.
    pub base: String,
    pub shown: String,
    /// Prometheus' own client (its CA and credentials are sent nowhere else).
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub min_rate_window: Duration,
    pub outcomes: Outcomes,
    pub max_body_bytes: usize,
}

impl Prometheus {
    pub fn new(config: &PrometheusConfig, client: reqwest::Client, max_body_bytes: usize) -> Self {
        let base = config.url.trim_end_matches('/').to_string();
        Self {
            shown: metrics_core::secret::redact_url(&base),
            base,
            client,
            timeout: config.timeout,
            min_rate_window: config.min_rate_window,
            outcomes: Outcomes::default(),
            max_body_bytes,
        }
    }

    pub fn configured(&self) -> bool {
        !self.base.is_empty()
    }

    fn unreachable(&self, reason: String) -> ForwardError {
        ForwardError::Unreachable {
            upstream: "prometheus",
            url: self.shown.clone(),
            reason,
        }
    }

    /// One range query: the first result's values (the queries aggregate to one series).
    async fn range_query(
        &self,
        promql: &str,
        (start, end, step): (u64, u64, u64),
    ) -> Result<Series, ForwardError> {
        let url = format!("{}/api/v1/query_range", self.base);
        let request = self.client.get(&url).query(&[
            ("query", promql.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ]);
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(error_chain(e)))?;
        let status = response.status();
        let body = read_capped(response, self.max_body_bytes, "prometheus", &self.shown).await?;
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| self.unreachable(format!("HTTP {status}, not JSON: {e}")))?;
        if !status.is_success() || parsed["status"] != "success" {
            let error = parsed["error"].as_str().unwrap_or("no error given");
            return Err(self.unreachable(format!("HTTP {status}: {error}")));
        }
        Ok(series_of(&parsed))
    }

    /// Every series of `target` over `range`, queried in parallel.
    pub async fn history(
        &self,
        target: &Target,
        range: Range,
        now: u64,
    ) -> Result<HistoryBody, ForwardError> {
        let step = range.step();
        let end = now - now % step;
        let start = end.saturating_sub(range.seconds());
        let window = step.max(self.min_rate_window.as_secs());
        let work = queries(target, window)
            .into_iter()
            .map(|(series, promql)| async move {
                let values = self.range_query(&promql, (start, end, step)).await?;
                Ok::<_, ForwardError>((series, values))
            });
        let outcome =
            tokio::time::timeout(self.timeout, futures_util::future::try_join_all(work)).await;
        let answered = count(
            &self.outcomes,
            outcome.map(|r| r.map(|v| v.into_iter().collect())),
        )
        .map_err(|_| ForwardError::Timeout {
            upstream: "prometheus",
            url: self.shown.clone(),
            timeout: self.timeout,
        })??;
        Ok(HistoryBody {
            source: "prometheus",
            range: range.name(),
            start,
            end,
            step_seconds: step,
            note: None,
            series: answered,
        })
    }
}

/// `data.result[0].values` of a range query's answer as numbers; non-finite values are left
/// out (JSON has no NaN, and a gap draws as a gap).
pub fn series_of(answer: &Value) -> Series {
    let Some(values) = answer["data"]["result"][0]["values"].as_array() else {
        return Vec::new();
    };
    values
        .iter()
        .filter_map(|pair| {
            let t = pair[0].as_f64()?;
            let v: f64 = pair[1].as_str()?.parse().ok()?;
            v.is_finite().then_some((t, v))
        })
        .collect()
}

/// docker-api's series names, as this module's.
const DOCKER_API_SERIES: [&str; 6] = [
    "cpu_percent",
    "memory_bytes",
    "rx_bytes_per_sec",
    "tx_bytes_per_sec",
    "read_bytes_per_sec",
    "write_bytes_per_sec",
];

/// docker-api's history (`{window_seconds, step_seconds, points: [{t, cpu_percent, ...}]}`) as
/// series of at most [`MAX_POINTS`] points: neighbouring points are averaged when it has more.
pub fn from_docker_api(answer: &Value, range: Range, now: u64) -> HistoryBody {
    let points = answer["points"].as_array().cloned().unwrap_or_default();
    let bucket = points.len().div_ceil(MAX_POINTS as usize).max(1);
    let mut series = BTreeMap::new();
    for name in DOCKER_API_SERIES {
        let values: Series = points
            .chunks(bucket)
            .filter_map(|chunk| {
                let pairs: Vec<(f64, f64)> = chunk
                    .iter()
                    .filter_map(|p| Some((p["t"].as_f64()?, p[name].as_f64()?)))
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                let n = pairs.len() as f64;
                (!pairs.is_empty()).then(|| {
                    let t = pairs.iter().map(|p| p.0).sum::<f64>() / n;
                    let v = pairs.iter().map(|p| p.1).sum::<f64>() / n;
                    (t.round(), v)
                })
            })
            .collect();
        series.insert(name, values);
    }
    let step = answer["step_seconds"].as_f64().unwrap_or(0.0).max(0.0) as u64;
    HistoryBody {
        source: "docker-api",
        range: range.name(),
        start: now.saturating_sub(range.seconds()),
        end: now,
        step_seconds: step.saturating_mul(bucket as u64),
        note: None,
        series,
    }
}

/// What the history endpoints need.
pub struct HistorySources {
    pub prometheus: Prometheus,
    pub grafana_url: String,
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    range: Option<String>,
}

fn bad_request(message: String) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": message, "status": 400}))
}

fn parse_range(query: &RangeQuery) -> Result<Range, String> {
    let text = query.range.as_deref().unwrap_or("15m");
    Range::parse(text).ok_or_else(|| {
        format!(
            "range must be one of 15m, 1h, 6h, 24h, 7d, not {:?}",
            text.chars().take(20).collect::<String>()
        )
    })
}

/// docker-api's history of `target`: its own window names match ours up to its long window
/// (24 h by default); beyond, its longest is asked and the answer says so.
async fn docker_api_history(
    docker_api: &DockerApi,
    target: &Target,
    range: Range,
) -> Result<HistoryBody, HistoryError> {
    let path = match target {
        Target::Cluster => "/api/stats/history".to_string(),
        Target::Container(name) => format!("/api/containers/{name}/history"),
    };
    let mut note = None;
    let mut answer = docker_api_json(docker_api, &format!("{path}?window={}", range.name())).await;
    if range == Range::Days7 && matches!(&answer, Err(HistoryError::DockerApi { status: 400, .. }))
    {
        answer = docker_api_json(docker_api, &format!("{path}?window=24h")).await;
        note = Some("docker-api keeps 24 h; configure --prometheus.url for longer".to_string());
    }
    let mut body = from_docker_api(&answer?, range, now_seconds());
    body.note = note;
    Ok(body)
}

async fn answer(
    target: Target,
    range: Range,
    sources: &HistorySources,
    docker_api: &DockerApi,
) -> HttpResponse {
    let result = if sources.prometheus.configured() {
        sources
            .prometheus
            .history(&target, range, now_seconds())
            .await
            .map_err(HistoryError::from)
    } else {
        docker_api_history(docker_api, &target, range).await
    };
    match result {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body),
        Err(e) => {
            if !matches!(e, HistoryError::DockerApi { .. }) {
                tracing::warn!(error = %e, "cannot read history");
            }
            e.response()
        }
    }
}

/// `GET /history/cluster?range=1h`.
pub async fn cluster(
    query: web::Query<RangeQuery>,
    sources: web::Data<HistorySources>,
    docker_api: web::Data<DockerApi>,
) -> HttpResponse {
    match parse_range(&query) {
        Ok(range) => answer(Target::Cluster, range, &sources, &docker_api).await,
        Err(message) => bad_request(message),
    }
}

/// `GET /history/containers/{name}?range=7d`.
pub async fn container(
    req: HttpRequest,
    query: web::Query<RangeQuery>,
    sources: web::Data<HistorySources>,
    docker_api: web::Data<DockerApi>,
) -> HttpResponse {
    let name = req.match_info().get("name").unwrap_or_default();
    if !valid_name(name) {
        return bad_request("a container name is [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128".into());
    }
    match parse_range(&query) {
        Ok(range) => {
            answer(
                Target::Container(name.to_string()),
                range,
                &sources,
                &docker_api,
            )
            .await
        }
        Err(message) => bad_request(message),
    }
}

/// `GET /page-config`: what the page needs to know of this service's settings.
pub async fn page_config(sources: web::Data<HistorySources>) -> HttpResponse {
    let ranges: Vec<Value> = Range::ALL
        .iter()
        .map(|r| json!({"name": r.name(), "seconds": r.seconds(), "step_seconds": r.step()}))
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "history_source": if sources.prometheus.configured() { "prometheus" } else { "docker-api" },
            "ranges": ranges,
            "grafana_url": (!sources.grafana_url.is_empty()).then(|| sources.grafana_url.trim_end_matches('/')),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_stays_within_the_point_limit() {
        for range in Range::ALL {
            let points = range.seconds() / range.step() + 1;
            assert!(points <= MAX_POINTS, "{range:?}: {points}");
            // And the step is the smallest that does.
            let smaller = STEPS.iter().rev().find(|s| **s < range.step());
            if let Some(smaller) = smaller {
                assert!(range.seconds() / smaller + 1 > MAX_POINTS, "{range:?}");
            }
        }
        assert_eq!(Range::Days7.step(), 900);
        assert_eq!(Range::parse("7d"), Some(Range::Days7));
        assert_eq!(Range::parse("7 d"), None);
    }

    #[test]
    fn names_that_could_leave_the_promql_string_are_refused() {
        for bad in [
            "",
            "a\"}",
            "a\\",
            ".x",
            "a b",
            "x{y}",
            "a/b",
            &"a".repeat(129),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        for good in ["web", "cm-test_1.web", "0abc"] {
            assert!(valid_name(good), "{good}");
        }
    }

    #[test]
    fn container_queries_carry_the_name_and_the_limits() {
        let q = queries(&Target::Container("web-1".into()), 900);
        assert_eq!(q.len(), 8);
        assert_eq!(
            q[0].1,
            r#"sum(rate(container_cpu_usage_seconds_total{name="web-1"}[900s])) * 100"#
        );
        let cluster = queries(&Target::Cluster, 60);
        assert_eq!(cluster.len(), 6, "no limit lines for the cluster");
        assert!(cluster[1].1.contains(r#"{name!=""}"#));
    }

    #[test]
    fn docker_api_history_is_averaged_down_to_the_limit() {
        let points: Vec<Value> = (0..2500)
            .map(|i| json!({"t": i, "cpu_percent": (i % 2) as f64 * 10.0, "memory_bytes": 1.0}))
            .collect();
        let body = from_docker_api(
            &json!({"step_seconds": 2.0, "points": points}),
            Range::Hours24,
            5000,
        );
        let cpu = &body.series["cpu_percent"];
        assert!(cpu.len() <= MAX_POINTS as usize, "{}", cpu.len());
        assert_eq!(cpu.len(), 834);
        assert!((cpu[0].1 - 10.0 / 3.0).abs() < 1e-9, "{:?}", cpu[0]);
        assert_eq!(body.step_seconds, 6);
    }
}
