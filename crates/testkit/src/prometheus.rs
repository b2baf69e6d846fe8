//! Prometheus' and Alertmanager's HTTP APIs as the tests ask them (instant queries, targets,
//! alerts, rules; Alertmanager's alerts), through a [`Client`] so the secured stacks (HTTPS with
//! a private CA, basic auth) are asked the same way as a loopback process; and real Prometheus
//! and Alertmanager processes (Debian's `prometheus` and `prometheus-alertmanager`) on free
//! loopback ports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::client::Client;
use crate::http::{form, Response};
use crate::{free_port, require_command, wait, ServiceProcess};

/// One active target: its labels, scrape URL, health (`up`, `down`, `unknown`) and last scrape
/// error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub labels: BTreeMap<String, String>,
    pub scrape_url: String,
    pub health: String,
    pub last_error: String,
}

impl Target {
    /// A label's value, empty when the target has no such label (as in PromQL).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    pub fn job(&self) -> &str {
        self.label("job")
    }

    pub fn is_up(&self) -> bool {
        self.health == "up"
    }
}

/// A Prometheus server at `base` (`http://host:port` or `https://...`).
#[derive(Debug, Clone)]
pub struct Prometheus {
    pub base: String,
    pub client: Client,
}

impl Prometheus {
    /// A loopback Prometheus over plain HTTP.
    pub fn plain(base: impl Into<String>) -> Self {
        Self::new(base, Client::plain())
    }

    pub fn new(base: impl Into<String>, client: Client) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            client,
        }
    }

    /// GETs an API path (`/api/v1/...`) and returns its `data`, or Prometheus' error
    /// (`bad_data: ...` for a query that does not parse).
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        api_data(&url, &self.client.get(&url)?)
    }

    /// An instant query (POSTed as a form, so a long query needs no long URL); the
    /// `data.result` vector, or Prometheus' error (`bad_data: ...` for a query that does not
    /// parse).
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let url = format!("{}/api/v1/query", self.base);
        let body = form(&[("query", promql)]);
        let response = self.client.request(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )?;
        let data = api_data(&url, &response).map_err(|e| format!("{e} (query {promql})"))?;
        data["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("no data.result for {promql}: {data}"))
    }

    /// An instant query's first sample value, `None` when the result is empty.
    pub fn query_value(&self, promql: &str) -> Result<Option<f64>, String> {
        Ok(self
            .query(promql)?
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok()))
    }

    /// The active targets (`/api/v1/targets?state=active`).
    pub fn targets(&self) -> Result<Vec<Target>, String> {
        let data = self.api("/api/v1/targets?state=active")?;
        let active = data["activeTargets"]
            .as_array()
            .ok_or_else(|| format!("no activeTargets in Prometheus' answer: {data}"))?;
        Ok(active
            .iter()
            .map(|t| Target {
                labels: string_map(&t["labels"]),
                scrape_url: string(&t["scrapeUrl"]),
                health: string(&t["health"]),
                last_error: string(&t["lastError"]),
            })
            .collect())
    }

    /// The rule groups (`/api/v1/rules`' `data.groups`).
    pub fn rule_groups(&self) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/rules")?;
        Ok(data["groups"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts Prometheus holds (pending and firing), from `/api/v1/alerts`.
    pub fn alerts(&self) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/alerts")?;
        Ok(data["alerts"].as_array().cloned().unwrap_or_default())
    }
}

/// An Alertmanager at `base`.
#[derive(Debug, Clone)]
pub struct Alertmanager {
    pub base: String,
    pub client: Client,
}

impl Alertmanager {
    pub fn plain(base: impl Into<String>) -> Self {
        Self::new(base, Client::plain())
    }

    pub fn new(base: impl Into<String>, client: Client) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            client,
        }
    }

    /// The active, unsilenced alerts (inhibited ones included) matching every `name=value` in
    /// `labels` (`/api/v2/alerts`).
    pub fn alerts(&self, labels: &[(&str, &str)]) -> Result<Vec<Value>, String> {
        let mut query = vec![
            ("active", "true".to_string()),
            ("silenced", "false".to_string()),
            ("inhibited", "true".to_string()),
        ];
        query.extend(
            labels
                .iter()
                .map(|(k, v)| ("filter", format!("{k}=\"{}\"", v.replace('"', "\\\"")))),
        );
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = format!("{}/api/v2/alerts?{}", self.base, form(&pairs));
        let response = ok(&url, self.client.get(&url)?)?;
        match serde_json::from_str(&response.body) {
            Ok(Value::Array(alerts)) => Ok(alerts),
            _ => Err(format!("{url}: not a JSON list: {}", response.body)),
        }
    }

    /// POSTs alerts (a JSON list, as Prometheus sends them) to `/api/v2/alerts`.
    pub fn post_alerts(&self, alerts: &Value) -> Result<(), String> {
        let url = format!("{}/api/v2/alerts", self.base);
        let body = alerts.to_string();
        let response = self.client.request(
            "POST",
            &url,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )?;
        ok(&url, response).map(drop)
    }
}

/// The values of `label` over a query's result (empty values left out).
pub fn label_values(result: &[Value], label: &str) -> BTreeSet<String> {
    result
        .iter()
        .map(|s| string(&s["metric"][label]))
        .filter(|v| !v.is_empty())
        .collect()
}

/// Starts Prometheus on `config` with its data in `data_dir`, and waits until it is ready.
pub fn start_prometheus(config: &Path, data_dir: &Path) -> ServiceProcess {
    let binary = require_command("prometheus", "prometheus");
    let port = free_port();
    let process = ServiceProcess::start(
        binary,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data_dir.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        port,
    );
    wait_ready(&process);
    process
}

/// Starts Alertmanager on `config` with its state in `data_dir` (gossip clustering off, so
/// parallel tests do not meet on port 9094), and waits until it is ready.
pub fn start_alertmanager(config: &Path, data_dir: &Path) -> ServiceProcess {
    let binary = require_command("prometheus-alertmanager", "prometheus-alertmanager");
    let port = free_port();
    let process = ServiceProcess::start(
        binary,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", data_dir.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
        port,
    );
    wait_ready(&process);
    process
}

fn wait_ready(process: &ServiceProcess) {
    let url = process.url("/-/ready");
    let ready = wait::until(
        &format!("{url} to answer 200"),
        Duration::from_secs(30),
        || {
            let status = crate::http::get_with(&url, &[], Duration::from_secs(2))?.status;
            wait::check(status == 200, || format!("status {status}"))
        },
    );
    if let Err(timeout) = ready {
        panic!("{timeout}; log:\n{}", process.logs());
    }
}

fn ok(url: &str, response: Response) -> Result<Response, String> {
    if response.status / 100 == 2 {
        Ok(response)
    } else {
        Err(format!(
            "{url}: HTTP {}: {}",
            response.status,
            response.body.trim()
        ))
    }
}

fn api_data(url: &str, response: &Response) -> Result<Value, String> {
    let body: Value = serde_json::from_str(&response.body).map_err(|e| {
        format!(
            "{url}: HTTP {}, not JSON ({e}): {}",
            response.status, response.body
        )
    })?;
    if response.status != 200 || body["status"] != "success" {
        return Err(format!(
            "{url}: HTTP {}: {}: {}",
            response.status,
            body["errorType"].as_str().unwrap_or("?"),
            body["error"].as_str().unwrap_or(&response.body)
        ));
    }
    Ok(body["data"].clone())
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), string(v))).collect())
        .unwrap_or_default()
}
