//! The stack's dashboards and alerting, end to end (issue 9), for `tests/stack.rs`:
//!
//! - every Grafana panel query and template-variable query of `grafana/dashboards/`, with the
//!   variables at "All" as Grafana sends them (`alerting_tests::dashboards`), returns at least
//!   one series from the stack's own Prometheus;
//! - the stack's Redis is stopped and a test container's health check broken at the same time:
//!   RedisDown and ServiceHealthCheckFailing fire in the stack's Prometheus, its Alertmanager
//!   posts them to a webhook receiver this test runs on the host's port 9095
//!   (`alertmanager/alertmanager.yml` sends to `host.docker.internal:9095`, which compose maps to
//!   the Docker host), with their labels and annotations; Redis started and the health check
//!   repaired, the resolved notifications arrive.
//!
//! Nothing is shortened: the stack runs the real rule files (`for: 1m`), Prometheus' real
//! intervals (15 s evaluation, 15 s scrapes of redis-exporter and docker-api) and Alertmanager's
//! real webhook route (`group_wait` 10 s, `group_interval` 30 s). Both alerts are provoked at
//! once, so the drill takes about 1.5 min to fire and 1 min to resolve; the limits below allow
//! for a loaded 2-core machine (the promtool unit tests cover the exact `for:` behaviour).

use std::time::{Duration, Instant};

use alerting_tests::dashboards;
use alerting_tests::paths;
use alerting_tests::pipeline::matching_alerts;
use alerting_tests::webhook::WebhookReceiver;
use serde_json::Value;
use stack_e2e::Stack;
use testkit::docker::Container;

pub mod incidents;
pub mod limits;

/// Where the stack's Alertmanager finds the test's webhook receiver (host.docker.internal:9095).
const WEBHOOK_ADDRESS: &str = "0.0.0.0:9095";

/// From the fault to the firing notification: scrape (15 s) + evaluation (15 s) + `for: 1m` +
/// evaluation (15 s) + `group_wait` (10 s) is at most ~2 min; doubled and more for a slow machine.
const FIRING_LIMIT: Duration = Duration::from_secs(300);

/// From the repair to the resolved notification: scrape + evaluation + `group_interval` (30 s).
const RESOLVED_LIMIT: Duration = Duration::from_secs(240);

/// Starts the webhook receiver the stack's Alertmanager posts to; run it before `up`.
pub fn start_webhook() -> WebhookReceiver {
    WebhookReceiver::start_on(WEBHOOK_ADDRESS).unwrap_or_else(|e| {
        panic!(
            "cannot listen on {WEBHOOK_ADDRESS} for the stack's Alertmanager \
             (alertmanager/alertmanager.yml posts to host.docker.internal:9095): {e}; \
             is another stack test running?"
        )
    })
}

/// A test container (labelled `clustermon.test`) whose Docker health check passes while `/ok`
/// exists; start it early so the stack has seen it healthy before the drill breaks it.
pub fn start_health_checked_container() -> Container {
    health_checked_container("touch /ok; exec sleep 3600")
}

/// A test container running `script` whose health check (every 2 s, one retry) passes while
/// `/ok` exists.
pub fn health_checked_container(script: &str) -> Container {
    Container::run(
        &[
            "--health-cmd",
            "test -f /ok",
            "--health-interval",
            "2s",
            "--health-timeout",
            "2s",
            "--health-retries",
            "1",
        ],
        script,
    )
}

/// Every panel query and variable query of every dashboard, each with where it comes from.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries: Vec<(String, String)> = dashboards::all_panel_queries()
        .expect("read grafana/dashboards")
        .iter()
        .map(|q| {
            let what = format!("{} / panel {} {:?}", q.dashboard, q.panel_id, q.panel_title);
            (what, q.runnable())
        })
        .collect();
    for file in paths::files_with_extension(&paths::dashboards_dir(), "json") {
        let dashboard = dashboards::load(&file).expect("read a dashboard");
        let title = dashboard["title"].as_str().unwrap_or_default().to_string();
        for (variable, selector) in dashboards::variable_selectors(&dashboard) {
            queries.push((format!("{title} / variable ${variable}"), selector));
        }
    }
    queries
}

/// Waits up to `limit` (rate() windows need two scrapes of the 30 s jobs) until every dashboard
/// query returns a series; fails listing every query that still returns nothing.
pub fn assert_every_panel_query_returns_data(stack: &Stack, limit: Duration) {
    let queries = dashboard_queries();
    assert!(
        queries.len() > 50,
        "only {} dashboard queries found in grafana/dashboards",
        queries.len()
    );
    let all_answer = testkit::wait::until_every(
        "every dashboard query to return data from the stack's Prometheus",
        limit,
        Duration::from_secs(5),
        || {
            let failing: Vec<String> = queries
                .iter()
                .filter_map(|(what, query)| match stack.query(query) {
                    Ok(0) => Some(format!("{what}: no series: {query}")),
                    Ok(_) => None,
                    Err(e) => Some(format!("{what}: {e}: {query}")),
                })
                .collect();
            testkit::wait::check(failing.is_empty(), || {
                format!(
                    "{} of {} return nothing:\n{}",
                    failing.len(),
                    queries.len(),
                    failing.join("\n")
                )
            })
        },
    );
    if let Err(timeout) = all_answer {
        let prometheus = match stack.api("/api/v1/status/buildinfo") {
            Ok(_) => String::new(),
            Err(e) => format!(" (Prometheus itself does not answer: {e})"),
        };
        panic!("{timeout}{prometheus}");
    }
    eprintln!("all {} dashboard queries returned data", queries.len());
}

/// An alert the drill expects: its name and the labels that identify it.
struct Expected {
    alertname: &'static str,
    labels: Vec<(&'static str, String)>,
}

impl Expected {
    /// `alertname` about one container (its `name` label), as every incident rule has it.
    fn for_container(alertname: &'static str, container: &Container) -> Self {
        Self {
            alertname,
            labels: vec![("name", container.name.clone())],
        }
    }

    fn labels(&self) -> Vec<(&str, &str)> {
        self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The first alert with `status` in the notifications that the Alertmanager at `origin`
    /// (its external URL) sent, with its notification.
    fn received(
        &self,
        webhook: &WebhookReceiver,
        origin: &str,
        status: &str,
    ) -> Option<(Value, Value)> {
        webhook.notifications().into_iter().find_map(|n| {
            if n["externalURL"] != origin {
                return None;
            }
            let alert = matching_alerts(&n, self.alertname, status, &self.labels())
                .first()
                .map(|a| (*a).clone())?;
            Some((n, alert))
        })
    }

    /// The alert as Prometheus' ALERTS series, with `extra` matchers (e.g. its state).
    fn prometheus_selector(&self, extra: &[(&str, &str)]) -> String {
        let mut selector = format!(r#"ALERTS{{alertname="{}""#, self.alertname);
        for (k, v) in self.labels().into_iter().chain(extra.iter().copied()) {
            selector.push_str(&format!(r#", {k}="{v}""#));
        }
        selector.push('}');
        selector
    }
}

/// The stack's Alertmanager and the receiver it posts to.
pub struct Alerting<'a> {
    pub webhook: &'a WebhookReceiver,
    /// The Alertmanager container's name: only its notifications count (another stack on this
    /// engine would post to the same port).
    pub alertmanager: String,
}

impl Alerting<'_> {
    /// The external URL the stack's Alertmanager puts in its notifications: by default
    /// `http://<its hostname>:9093`.
    fn origin(&self) -> String {
        let out = std::process::Command::new("docker")
            .args(["inspect", "-f", "{{.Config.Hostname}}", &self.alertmanager])
            .output()
            .expect("run docker inspect");
        super::assert_success(&format!("docker inspect {}", self.alertmanager), &out);
        format!(
            "http://{}:9093",
            String::from_utf8_lossy(&out.stdout).trim()
        )
    }
}

/// RedisDown and ServiceHealthCheckFailing from the stack's Prometheus through its Alertmanager
/// to the webhook: stops `redis` (a container name) and breaks `checked`'s health check, then
/// repairs both.
pub fn alert_drills(stack: &Stack, alerting: &Alerting, redis: &str, checked: &Container) {
    let webhook = alerting.webhook;
    let origin = alerting.origin();
    let redis_instance = stack
        .targets()
        .expect("Prometheus targets")
        .into_iter()
        .find(|t| t.job() == "redis")
        .expect("a redis target")
        .label("instance")
        .to_string();
    let redis_down = Expected {
        alertname: "RedisDown",
        labels: vec![
            ("instance", redis_instance.clone()),
            ("job", "redis".into()),
        ],
    };
    let unhealthy = Expected {
        alertname: "ServiceHealthCheckFailing",
        labels: vec![("name", checked.name.clone())],
    };
    let health = |state: &str| {
        format!(
            r#"docker_container_health_status{{name="{}", health="{state}"}} == 1"#,
            checked.name
        )
    };
    let healthy = health("healthy");
    super::wait_for(
        "the test container healthy in the stack's Prometheus (docker-api)",
        Duration::from_secs(120),
        || match stack.query(&healthy)? {
            0 => Err(format!("no series for {healthy}")),
            _ => Ok(()),
        },
    );

    let t = Instant::now();
    super::docker(&["stop", "--time", "5", redis]);
    checked.exec("rm /ok");
    let diagnostics = [
        r#"redis_up{job="redis"}"#.to_string(),
        health("unhealthy"),
        redis_down.prometheus_selector(&[]),
        unhealthy.prometheus_selector(&[]),
    ];
    let firing = wait_for_notifications(
        stack,
        (webhook, &origin),
        "firing",
        &[&redis_down, &unhealthy],
        FIRING_LIMIT,
        &diagnostics,
    );
    eprintln!(
        "RedisDown and ServiceHealthCheckFailing notified {:.1?} after the faults",
        t.elapsed()
    );

    let (notification, alert) = &firing[0];
    assert_alert(
        notification,
        alert,
        (&["alertname", "instance", "job", "severity"], "critical"),
        &format!("Redis at {redis_instance} is down"),
        "(redis_up = 0)",
    );
    let (notification, alert) = &firing[1];
    assert_alert(
        notification,
        alert,
        (&["alertname", "name", "severity"], "critical"),
        &format!("Container {} is unhealthy", checked.name),
        "(unhealthy = 1)",
    );
    for expected in [&redis_down, &unhealthy] {
        let firing_in_prometheus = expected.prometheus_selector(&[("alertstate", "firing")]);
        let series = stack.query(&firing_in_prometheus).unwrap();
        assert_eq!(
            series, 1,
            "Prometheus' own view while the webhook has {} firing: {firing_in_prometheus}",
            expected.alertname
        );
    }

    let t = Instant::now();
    super::docker(&["start", redis]);
    checked.exec("touch /ok");
    wait_for_notifications(
        stack,
        (webhook, &origin),
        "resolved",
        &[&redis_down, &unhealthy],
        RESOLVED_LIMIT,
        &diagnostics,
    );
    eprintln!(
        "both resolved notifications {:.1?} after the repairs",
        t.elapsed()
    );
}

/// Waits until the webhook has a notification with `status` for each of `expected`; returns
/// (notification, alert) for each, in order. The receiver keeps every notification, so one that
/// arrived before this call counts: drills awaited at the end may be awaited in any order. Fails
/// listing what arrived and what Prometheus has.
fn wait_for_notifications(
    stack: &Stack,
    (webhook, origin): (&WebhookReceiver, &str),
    status: &str,
    expected: &[&Expected],
    limit: Duration,
    diagnostics: &[String],
) -> Vec<(Value, Value)> {
    let arrived = testkit::wait::until_every(
        &format!("a {status} notification from {origin} for each expected alert"),
        limit,
        Duration::from_secs(1),
        || {
            let found: Vec<Option<(Value, Value)>> = expected
                .iter()
                .map(|e| e.received(webhook, origin, status))
                .collect();
            let missing: Vec<String> = expected
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|(e, _)| format!("{} {:?}", e.alertname, e.labels))
                .collect();
            if missing.is_empty() {
                Ok(found.into_iter().flatten().collect())
            } else {
                Err(format!("none yet for {}", missing.join(", ")))
            }
        },
    );
    arrived.unwrap_or_else(|timeout| {
        panic!(
            "{timeout}\nwebhook received:\n{}\nthe stack's Prometheus has:\n{}",
            received_summary(webhook),
            prometheus_summary(stack, diagnostics)
        )
    })
}

/// The notification came from the webhook route and the alert has exactly `label_keys`, the
/// `severity`, the `summary` and a description holding `value_text`.
fn assert_alert(
    notification: &Value,
    alert: &Value,
    (label_keys, severity): (&[&str], &str),
    summary: &str,
    value_text: &str,
) {
    assert_eq!(notification["receiver"], "webhook", "{notification}");
    let mut keys: Vec<&str> = alert["labels"]
        .as_object()
        .map(|l| l.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(keys, label_keys, "labels of {alert}");
    assert_eq!(alert["labels"]["severity"], severity, "{alert}");
    assert_eq!(alert["annotations"]["summary"], summary, "{alert}");
    let description = alert["annotations"]["description"].as_str().unwrap_or("");
    assert!(
        description.contains(value_text),
        "description without {value_text:?}: {alert}"
    );
    assert!(
        alert["generatorURL"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "no generatorURL (not from Prometheus?): {alert}"
    );
}

/// One line per alert of every notification received: status, name, labels.
fn received_summary(webhook: &WebhookReceiver) -> String {
    let lines: Vec<String> = webhook
        .notifications()
        .iter()
        .flat_map(|n| {
            let from = format!("{} {}", n["externalURL"], n["receiver"]);
            n["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![n.clone()])
                .into_iter()
                .map(move |a| format!("  [{from}] {} {}", a["status"], a["labels"]))
        })
        .collect();
    if lines.is_empty() {
        "  nothing (is host.docker.internal:9095 reachable from the Alertmanager container?)".into()
    } else {
        lines.join("\n")
    }
}

/// Each query's series (labels = value), for failure messages.
fn prometheus_summary(stack: &Stack, queries: &[String]) -> String {
    queries
        .iter()
        .map(|q| {
            let answer = stack
                .prometheus_api()
                .query(q)
                .map(|result| {
                    let series: Vec<String> = result
                        .iter()
                        .map(|s| format!("{} = {}", s["metric"], s["value"][1]))
                        .collect();
                    if series.is_empty() {
                        "no series".to_string()
                    } else {
                        series.join("; ")
                    }
                })
                .unwrap_or_else(|e| e);
            format!("  {q}: {answer}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
