//! `alertmanager/alertmanager.yml`: amtool accepts it, routes by severity, keeps credentials out
//! of the file, and a real Alertmanager running it inhibits what it should.
//! Needs `amtool` and `prometheus-alertmanager` (Debian package `prometheus-alertmanager`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;
use std::time::Duration;

use alerting_tests::alertmanager_config::write_fast_alertmanager_config;
use alerting_tests::paths;
use alerting_tests::webhook::WebhookReceiver;
use serde_json::{json, Value};
use testkit::prometheus::{start_alertmanager, Alertmanager};

fn amtool(args: &[&str]) -> (bool, String) {
    let amtool = testkit::require_command("amtool", "prometheus-alertmanager");
    let out = Command::new(amtool)
        .args(args)
        .current_dir(paths::workspace_root())
        .output()
        .expect("run amtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn amtool_check_config_is_clean() {
    let config = paths::alertmanager_config();
    let (ok, output) = amtool(&["check-config", config.to_str().unwrap()]);
    assert!(ok, "amtool check-config failed:\n{output}");
    assert!(output.contains("SUCCESS"), "{output}");
}

fn receivers_for(labels: &[&str]) -> String {
    let config = paths::alertmanager_config();
    let config_flag = format!("--config.file={}", config.display());
    let mut args = vec!["config", "routes", "test", config_flag.as_str()];
    args.extend_from_slice(labels);
    let (ok, output) = amtool(&args);
    assert!(ok, "amtool config routes test {labels:?} failed:\n{output}");
    // amtool warns on stderr that --config.file overrides --alertmanager.url; the answer is the
    // line of receivers.
    output
        .lines()
        .find(|l| !l.starts_with("Warning:") && !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn routes_send_everything_to_the_webhook_and_critical_alerts_to_oncall() {
    assert_eq!(
        receivers_for(&["alertname=RedisDown", "severity=critical"]),
        "webhook,oncall"
    );
    assert_eq!(
        receivers_for(&["alertname=HighCPUUsage", "severity=warning"]),
        "webhook,slack"
    );
    assert_eq!(receivers_for(&["alertname=Custom"]), "webhook,slack");
}

#[test]
fn secrets_come_from_files_and_addresses_are_placeholders() {
    let text = std::fs::read_to_string(paths::alertmanager_config()).unwrap();
    let config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let global = &config["global"];
    assert!(
        global["smtp_auth_password"].is_null(),
        "an SMTP password is written in the config"
    );
    assert!(
        global["slack_api_url"].is_null(),
        "a Slack webhook URL is written in the config"
    );
    assert!(global["smtp_auth_password_file"]
        .as_str()
        .unwrap()
        .starts_with("/run/secrets/"));
    assert!(global["slack_api_url_file"]
        .as_str()
        .unwrap()
        .starts_with("/run/secrets/"));
    for receiver in config["receivers"].as_sequence().unwrap() {
        for slack in receiver["slack_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(
                slack["api_url"].is_null(),
                "{receiver:?} has an inline Slack URL"
            );
        }
        for email in receiver["email_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(
                email["auth_password"].is_null(),
                "{receiver:?} has an inline password"
            );
        }
    }
    let mut everything = text;
    for template in paths::files_with_extension(&paths::alertmanager_templates_dir(), "tmpl") {
        everything.push_str(&std::fs::read_to_string(template).unwrap());
    }
    for address in everything.split(|c: char| c.is_whitespace() || "'\"<>,{}".contains(c)) {
        if address.contains('@') && address.contains('.') {
            assert!(
                address.ends_with("example.org"),
                "a real-looking address: {address}"
            );
        }
    }
}

fn alert(labels: Value) -> Value {
    json!({"labels": labels, "annotations": {"summary": "test", "description": "test"}})
}

fn alert_states(base: &str) -> Vec<(Value, String)> {
    let body = testkit::get(&format!("{base}/api/v2/alerts")).body;
    let alerts: Value = serde_json::from_str(&body).unwrap();
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"].clone(),
                a["status"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// A real Alertmanager on the real routes and inhibition rules (webhook URL and group timings
/// made test-sized): alerts posted to its API are suppressed exactly where an inhibition rule
/// says so, and the webhook never hears of the suppressed ones.
#[test]
fn real_alertmanager_inhibits_symptoms_of_a_down_service() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = WebhookReceiver::start().unwrap();
    let config = write_fast_alertmanager_config(dir.path(), &webhook.url()).unwrap();
    let am = start_alertmanager(&config, &dir.path().join("data"));
    let base = am.url("");

    let alerts = json!([
        alert(
            json!({"alertname": "PostgreSQLDown", "severity": "critical", "job": "postgres", "instance": "pg:9187"})
        ),
        alert(
            json!({"alertname": "PostgreSQLTooManyConnections", "severity": "warning", "job": "postgres", "instance": "pg:9187"})
        ),
        alert(
            json!({"alertname": "PostgreSQLTooManyConnections", "severity": "warning", "job": "postgres", "instance": "other:9187"})
        ),
        alert(
            json!({"alertname": "RedisDown", "severity": "critical", "job": "redis", "instance": "cache:9121"})
        ),
        alert(
            json!({"alertname": "RedisHighMemory", "severity": "warning", "job": "redis", "instance": "cache:9121"})
        ),
        alert(json!({"alertname": "ContainerDown", "severity": "critical", "name": "cluster-api"})),
        alert(
            json!({"alertname": "HighMemoryUsage", "severity": "warning", "name": "cluster-api"})
        ),
        alert(
            json!({"alertname": "HighMemoryUsage", "severity": "warning", "name": "cluster-web"})
        ),
        alert(
            json!({"alertname": "PrometheusTargetDown", "severity": "critical", "job": "node", "instance": "h:9100"})
        ),
        alert(
            json!({"alertname": "TooManyFailedScrapes", "severity": "warning", "job": "node", "instance": "h:9100"})
        ),
        alert(
            json!({"alertname": "PrometheusTargetDown", "severity": "critical", "job": "cadvisor", "instance": "c:8080"})
        ),
        alert(json!({"alertname": "ContainerDown", "severity": "critical", "name": "cluster-db"})),
    ]);
    Alertmanager::plain(&base).post_alerts(&alerts).unwrap();

    let suppressed = |labels: &Value| {
        let name = labels["alertname"].as_str().unwrap_or_default();
        let instance = labels["instance"].as_str().unwrap_or_default();
        matches!(
            (name, instance),
            ("PostgreSQLTooManyConnections", "pg:9187")
                | ("RedisHighMemory", _)
                | ("TooManyFailedScrapes", _)
                | ("ContainerDown", _)
        ) || (name == "HighMemoryUsage" && labels["name"] == "cluster-api")
    };
    // ContainerDown{cluster-api} inhibits HighMemoryUsage{cluster-api} while being inhibited
    // itself (the exporter job cadvisor is down): inhibition does not chain in Alertmanager, an
    // inhibited source still inhibits.
    let expected = |labels: &Value| {
        if suppressed(labels) {
            "suppressed"
        } else {
            "active"
        }
    };
    let settled = testkit::wait::until(
        "12 alerts, each active or suppressed as the inhibition rules say",
        Duration::from_secs(20),
        || {
            let states = alert_states(&base);
            let wrong: Vec<String> = states
                .iter()
                .filter(|(labels, state)| state != expected(labels))
                .map(|(labels, state)| format!("{labels} is {state}"))
                .collect();
            if states.len() == 12 && wrong.is_empty() {
                Ok(())
            } else {
                Err(format!("{} alerts; wrong: {wrong:#?}", states.len()))
            }
        },
    );
    if let Err(timeout) = settled {
        panic!("{timeout}\nlog:\n{}", am.logs());
    }

    // The active ones reach the webhook; the suppressed ones never do.
    let webhook_saw = |name: &str| {
        webhook.notifications().iter().any(|n| {
            n["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["labels"]["alertname"] == name)
        })
    };
    let notified = testkit::wait::until(
        "PostgreSQLDown and HighMemoryUsage notifications at the webhook",
        Duration::from_secs(20),
        || {
            let seen = (
                webhook_saw("PostgreSQLDown"),
                webhook_saw("HighMemoryUsage"),
            );
            testkit::wait::check(seen == (true, true), || {
                format!("(PostgreSQLDown, HighMemoryUsage) seen: {seen:?}")
            })
        },
    );
    if let Err(timeout) = notified {
        panic!("{timeout}\nlog:\n{}", am.logs());
    }
    std::thread::sleep(Duration::from_secs(3));
    for notification in webhook.notifications() {
        for alert in notification["alerts"].as_array().unwrap() {
            assert!(
                !suppressed(&alert["labels"]),
                "an inhibited alert was sent: {alert}"
            );
        }
    }
}
