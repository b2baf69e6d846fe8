//! The alerting path of the stack without Docker compose: Prometheus loaded with every rule file
//! of `prometheus/alerts/` and scraping the given targets, Alertmanager running
//! `alertmanager/alertmanager.yml`, and a webhook receiver recording what Alertmanager sends.
//!
//! To finish in seconds it runs on temporary copies in which every rule's `for:` is 2 s,
//! Prometheus scrapes and evaluates every second, and Alertmanager's `group_wait` and
//! `group_interval` are 1 s with its webhook pointed at the receiver. Expressions, labels,
//! annotations, routes, receivers and inhibition rules are the real files'; the promtool unit
//! tests in `prometheus/tests/` cover the real `for:` durations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use testkit::prometheus::{start_alertmanager, start_prometheus, Prometheus};
use testkit::ServiceProcess;

use crate::alertmanager_config::write_fast_alertmanager_config;
use crate::paths;
use crate::rules::with_for_duration;
use crate::webhook::WebhookReceiver;

/// The shortened `for:` of every rule in the pipeline's copies.
pub const FAST_FOR: &str = "2s";

/// Running Prometheus, Alertmanager and webhook receiver; all stopped when dropped.
pub struct AlertPipeline {
    // Field order is drop order: Prometheus stops sending before Alertmanager goes.
    pub prometheus: ServiceProcess,
    pub alertmanager: ServiceProcess,
    pub webhook: WebhookReceiver,
    _dir: TempDir,
}

impl AlertPipeline {
    /// Starts the pipeline with Prometheus scraping each `(job, host:port)` every second.
    pub fn start(jobs: &[(&str, &str)]) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let webhook = WebhookReceiver::start().map_err(|e| e.to_string())?;

        let am_dir = dir.path().join("alertmanager");
        std::fs::create_dir_all(&am_dir).map_err(|e| e.to_string())?;
        let am_config = write_fast_alertmanager_config(&am_dir, &webhook.url())?;
        let alertmanager = start_alertmanager(&am_config, &am_dir.join("data"));

        let prom_dir = dir.path().join("prometheus");
        write_fast_rules(&prom_dir.join("rules"))?;
        let config = prometheus_config(&format!("127.0.0.1:{}", alertmanager.port), jobs);
        let config_path = prom_dir.join("prometheus.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let prometheus = start_prometheus(&config_path, &prom_dir.join("data"));

        Ok(Self {
            prometheus,
            alertmanager,
            webhook,
            _dir: dir,
        })
    }

    /// Prometheus' base URL.
    pub fn prometheus_url(&self) -> String {
        self.prometheus.url("")
    }

    /// How many rules Prometheus loaded.
    pub fn loaded_rules(&self) -> Result<usize, String> {
        Ok(Prometheus::plain(self.prometheus_url())
            .rule_groups()?
            .iter()
            .map(|g| g["rules"].as_array().map_or(0, Vec::len))
            .sum())
    }

    /// Waits up to `limit` for a notification holding an alert named `alertname` with `status`
    /// (`firing` or `resolved`) whose labels include `labels`; returns the notification.
    pub fn wait_for_alert(
        &self,
        limit: Duration,
        alertname: &str,
        status: &str,
        labels: &[(&str, &str)],
    ) -> Option<Value> {
        self.webhook.wait_for(limit, |n| {
            !matching_alerts(n, alertname, status, labels).is_empty()
        })
    }

    /// Prometheus', Alertmanager's logs and every notification, for failure messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "notifications: {:#?}\nprometheus log:\n{}\nalertmanager log:\n{}",
            self.webhook.notifications(),
            self.prometheus.logs(),
            self.alertmanager.logs()
        )
    }
}

/// The alerts of a webhook notification named `alertname`, with `status`, whose labels include
/// `labels`.
pub fn matching_alerts<'a>(
    notification: &'a Value,
    alertname: &str,
    status: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a Value> {
    notification["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["labels"]["alertname"] == alertname
                && a["status"] == status
                && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        })
        .collect()
}

/// Copies of every rule file with `for:` shortened, in `dir`.
fn write_fast_rules(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let files = paths::yaml_files(&paths::alert_rules_dir());
    if files.is_empty() {
        return Err(format!(
            "no rule files in {}",
            paths::alert_rules_dir().display()
        ));
    }
    let mut written = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let name = file.file_name().ok_or("rule file without a name")?;
        let copy = dir.join(name);
        std::fs::write(&copy, with_for_duration(&text, FAST_FOR)?).map_err(|e| e.to_string())?;
        written.push(copy);
    }
    Ok(written)
}

fn prometheus_config(alertmanager: &str, jobs: &[(&str, &str)]) -> String {
    let mut config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{alertmanager}\"]\n\
         rule_files:\n  - rules/*.yml\n\
         scrape_configs:\n"
    );
    for (job, target) in jobs {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ));
    }
    config
}

/// The one firing alert named `alertname` whose labels include `labels` in a notification of the
/// webhook route, labelled with exactly `keys`, severity critical and the `summary`; panics
/// saying which of these fails.
pub fn assert_one_critical_alert<'a>(
    notification: &'a Value,
    alertname: &str,
    labels: &[(&str, &str)],
    keys: &[&str],
    summary: &str,
) -> &'a Value {
    let alerts = matching_alerts(notification, alertname, "firing", labels);
    assert_eq!(alerts.len(), 1, "{notification}");
    let alert = alerts[0];
    let mut names: Vec<&str> = alert["labels"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    names.sort_unstable();
    assert_eq!(names, keys, "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    assert_eq!(alert["annotations"]["summary"], summary, "{alert}");
    assert_eq!(notification["receiver"], "webhook", "{notification}");
    alert
}
