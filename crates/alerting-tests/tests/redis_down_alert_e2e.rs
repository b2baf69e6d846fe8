//! End to end without Docker: a real `redis-server`, our `redis-exporter`, Prometheus loaded with
//! every rule file in `prometheus/alerts/`, Alertmanager running `alertmanager/alertmanager.yml`,
//! and a webhook receiver run by the test. Stopping Redis makes RedisDown fire and reach the
//! webhook with the right labels; starting it again delivers the resolved notification.
//!
//! To finish in seconds, the test runs on temporary copies in which every rule's `for:` is 2 s,
//! Prometheus scrapes and evaluates every second, and Alertmanager's `group_wait` and
//! `group_interval` are 1 s (its webhook URL points at the test's receiver). Expressions, labels,
//! annotations, routes and inhibition rules are the real files'. The promtool unit tests in
//! `prometheus/tests/` cover the real `for:` durations.
//!
//! Needs `redis-server` (Debian `redis-server`), `prometheus` and `prometheus-alertmanager`;
//! builds `redis-exporter` from this workspace if it is not built yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;
use std::time::{Duration, Instant};

use alerting_tests::http::prometheus_query;
use alerting_tests::paths;
use alerting_tests::processes::{
    start_alertmanager, start_prometheus, write_fast_alertmanager_config,
};
use alerting_tests::rules::with_for_duration;
use alerting_tests::webhook::WebhookReceiver;
use serde_json::Value;
use testkit::{free_port, require_command, ServiceProcess};

fn start_redis(port: u16, dir: &Path) -> ServiceProcess {
    let redis = require_command("redis-server", "redis-server");
    ServiceProcess::start(
        redis,
        &[
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
        ],
        port,
    )
}

/// The rule files, with `for:` shortened, in `dir/rules/`.
fn write_fast_rules(dir: &Path) {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let files = paths::yaml_files(&paths::alert_rules_dir());
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            rules.join(file.file_name().unwrap()),
            with_for_duration(&text, "2s").unwrap(),
        )
        .unwrap();
    }
}

fn write_prometheus_config(dir: &Path, exporter: &str, alertmanager: &str) -> std::path::PathBuf {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{alertmanager}\"]\n\
         rule_files:\n  - rules/*.yml\n\
         scrape_configs:\n  - job_name: redis\n    static_configs:\n      - targets: [\"{exporter}\"]\n"
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The RedisDown alerts of a notification with the given status.
fn redis_down_alerts<'a>(notification: &'a Value, status: &str) -> Vec<&'a Value> {
    notification["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == "RedisDown" && a["status"] == status)
        .collect()
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn redis_down_fires_reaches_the_webhook_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let redis_port = free_port();
    let mut redis = Some(start_redis(redis_port, dir.path()));

    let exporter_port = free_port();
    let exporter_bin = paths::workspace_binary("redis-exporter", "redis-exporter").unwrap();
    let exporter = ServiceProcess::start(
        exporter_bin,
        &[
            format!("--redis.addr=redis://127.0.0.1:{redis_port}"),
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
        ],
        exporter_port,
    );
    let instance = format!("127.0.0.1:{exporter_port}");

    let webhook = WebhookReceiver::start().unwrap();
    let am_dir = dir.path().join("alertmanager");
    std::fs::create_dir_all(&am_dir).unwrap();
    let am_config = write_fast_alertmanager_config(&am_dir, &webhook.url()).unwrap();
    let alertmanager = start_alertmanager(&am_config, &am_dir.join("data"));

    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    write_fast_rules(&prom_dir);
    let prom_config = write_prometheus_config(
        &prom_dir,
        &instance,
        &format!("127.0.0.1:{}", alertmanager.port),
    );
    let prometheus = start_prometheus(&prom_config, &prom_dir.join("data"));
    let prom = prometheus.url("");

    // All 14 rules loaded from the copies.
    let rules: Value =
        serde_json::from_str(&testkit::get(&format!("{prom}/api/v1/rules")).body).unwrap();
    let loaded: usize = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        loaded,
        14,
        "rules loaded: {rules}\nlog:\n{}",
        prometheus.logs()
    );

    // Redis up and scraped: no RedisDown, not even pending.
    wait_until(Duration::from_secs(30), "redis_up 1 in Prometheus", || {
        prometheus_query(&prom, "redis_up == 1").is_ok_and(|r| !r.is_empty())
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        prometheus_query(&prom, r#"ALERTS{alertname="RedisDown"}"#)
            .unwrap()
            .is_empty(),
        "RedisDown is pending or firing while Redis is up"
    );
    assert!(
        webhook
            .notifications()
            .iter()
            .all(|n| redis_down_alerts(n, "firing").is_empty()),
        "RedisDown was notified while Redis is up: {:?}",
        webhook.notifications()
    );

    // Stop Redis: the exporter keeps answering with redis_up 0, RedisDown fires and reaches
    // the webhook through Alertmanager's real routes.
    drop(redis.take());
    let firing = webhook
        .wait_for(Duration::from_secs(60), |n| !redis_down_alerts(n, "firing").is_empty())
        .unwrap_or_else(|| {
            panic!(
                "no RedisDown notification within 60 s; received {:?}\nprometheus:\n{}\nalertmanager:\n{}\nexporter:\n{}",
                webhook.notifications(),
                prometheus.logs(),
                alertmanager.logs(),
                exporter.logs()
            )
        });
    assert_eq!(firing["receiver"], "webhook");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["groupLabels"]["alertname"], "RedisDown");
    let alert = redis_down_alerts(&firing, "firing")[0];
    let labels = alert["labels"].as_object().unwrap();
    let mut names: Vec<&str> = labels.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["alertname", "instance", "job", "severity"],
        "{alert}"
    );
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["job"], "redis");
    assert_eq!(labels["instance"], instance.as_str());
    assert_eq!(
        alert["annotations"]["summary"],
        format!("Redis at {instance} is down").as_str()
    );
    assert_eq!(
        alert["annotations"]["description"],
        format!(
            "The exporter at {instance} (job redis) has not been able to reach Redis for 1 minute (redis_up = 0)."
        )
        .as_str()
    );
    // The exporter itself stayed up, so no other alert went out.
    for notification in webhook.notifications() {
        for alert in notification["alerts"].as_array().unwrap() {
            assert_eq!(
                alert["labels"]["alertname"], "RedisDown",
                "unexpected alert {alert}"
            );
        }
    }

    // Start Redis again on the same port: the resolved notification arrives.
    let _redis = start_redis(redis_port, dir.path());
    let resolved = webhook
        .wait_for(Duration::from_secs(60), |n| {
            !redis_down_alerts(n, "resolved").is_empty()
        })
        .unwrap_or_else(|| {
            panic!(
                "no resolved RedisDown notification within 60 s; received {:?}\nalertmanager:\n{}",
                webhook.notifications(),
                alertmanager.logs()
            )
        });
    assert_eq!(resolved["status"], "resolved");
    let alert = redis_down_alerts(&resolved, "resolved")[0];
    assert_eq!(alert["labels"]["instance"], instance.as_str());
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_ne!(alert["endsAt"], "0001-01-01T00:00:00Z", "{alert}");
    assert!(prometheus_query(&prom, "redis_up == 1").is_ok_and(|r| !r.is_empty()));
}
