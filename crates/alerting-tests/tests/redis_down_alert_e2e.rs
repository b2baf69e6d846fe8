//! End to end without Docker: a real `redis-server`, our `redis-exporter`, and the alerting path
//! of `alerting_tests::pipeline` (Prometheus with every rule file, Alertmanager with the real
//! config, a webhook receiver run by the test). Stopping Redis makes RedisDown fire and reach the
//! webhook with the right labels; starting it again delivers the resolved notification.
//!
//! The pipeline runs on temporary copies in which every rule's `for:` is 2 s, Prometheus scrapes
//! and evaluates every second, and Alertmanager's `group_wait`/`group_interval` are 1 s; the
//! promtool unit tests in `prometheus/tests/` cover the real durations.
//!
//! Needs `redis-server` (Debian `redis-server`), `prometheus` and `prometheus-alertmanager`;
//! builds `redis-exporter` from this workspace if it is not built yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use alerting_tests::paths;
use alerting_tests::pipeline::{matching_alerts, AlertPipeline};
use alerting_tests::rules::alert_rules;
use testkit::prometheus::Prometheus;
use testkit::redis::start_redis;
use testkit::{free_port, ServiceProcess};

#[test]
fn redis_down_fires_reaches_the_webhook_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let redis_port = free_port();
    let mut redis = Some(start_redis(redis_port, dir.path(), &[]));

    let exporter_port = free_port();
    let exporter = ServiceProcess::start(
        paths::workspace_binary("redis-exporter", "redis-exporter").unwrap(),
        &[
            format!("--redis.addr=redis://127.0.0.1:{redis_port}"),
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
        ],
        exporter_port,
    );
    let instance = format!("127.0.0.1:{exporter_port}");
    let pipeline = AlertPipeline::start(&[("redis", &instance)]).unwrap();
    let prom = Prometheus::plain(pipeline.prometheus_url());
    // Every alert of every rule file (the seed's 14 and any added since, e.g. swarm_alerts.yml).
    let written: usize = paths::yaml_files(&paths::alert_rules_dir())
        .iter()
        .map(|file| alert_rules(file).unwrap().len())
        .sum();
    assert!(
        written >= 14,
        "only {written} alert rules in prometheus/alerts"
    );
    assert_eq!(
        pipeline.loaded_rules().unwrap(),
        written,
        "{}",
        pipeline.diagnostics()
    );

    // Redis up and scraped: no RedisDown, not even pending.
    testkit::wait::expect("redis_up 1 in Prometheus", Duration::from_secs(30), || {
        let up = prom.query("redis_up == 1")?;
        testkit::wait::check(!up.is_empty(), || "no series for redis_up == 1".into())
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        prom.query(r#"ALERTS{alertname="RedisDown"}"#)
            .unwrap()
            .is_empty(),
        "RedisDown is pending or firing while Redis is up"
    );
    assert!(
        pipeline.webhook.notifications().is_empty(),
        "notified while Redis is up: {}",
        pipeline.diagnostics()
    );

    // Stop Redis: the exporter keeps answering with redis_up 0, RedisDown fires and reaches
    // the webhook through Alertmanager's real routes.
    drop(redis.take());
    let limit = Duration::from_secs(60);
    let firing = pipeline
        .wait_for_alert(limit, "RedisDown", "firing", &[("instance", &instance)])
        .unwrap_or_else(|| {
            panic!(
                "no RedisDown notification within {limit:?}; exporter log:\n{}\n{}",
                exporter.logs(),
                pipeline.diagnostics()
            )
        });
    assert_eq!(firing["receiver"], "webhook");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["groupLabels"]["alertname"], "RedisDown");
    let alert = matching_alerts(&firing, "RedisDown", "firing", &[])[0];
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
    // The exporter itself stayed up, so nothing else fired.
    for notification in pipeline.webhook.notifications() {
        for alert in notification["alerts"].as_array().unwrap() {
            assert_eq!(
                alert["labels"]["alertname"], "RedisDown",
                "unexpected alert {alert}"
            );
        }
    }

    // Start Redis again on the same port: the resolved notification arrives.
    let _redis = start_redis(redis_port, dir.path(), &[]);
    let resolved = pipeline
        .wait_for_alert(limit, "RedisDown", "resolved", &[("instance", &instance)])
        .unwrap_or_else(|| {
            panic!(
                "no resolved RedisDown within {limit:?}; {}",
                pipeline.diagnostics()
            )
        });
    assert_eq!(resolved["status"], "resolved");
    let alert = matching_alerts(&resolved, "RedisDown", "resolved", &[])[0];
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_ne!(alert["endsAt"], "0001-01-01T00:00:00Z", "{alert}");
    assert!(prom.query("redis_up == 1").is_ok_and(|r| !r.is_empty()));
}
