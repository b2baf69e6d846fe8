//! The alert rules in `prometheus/alerts/`: promtool accepts them, every rule is well formed,
//! and the promtool unit tests in `prometheus/tests/` pass and cover every rule both ways.
//! Needs `promtool` (Debian package `prometheus`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};

use alerting_tests::paths;
use alerting_tests::rules::{alert_rules, unit_test_coverage, AlertRule};
use testkit::promtool;

fn all_rules() -> Vec<AlertRule> {
    let files = paths::yaml_files(&paths::alert_rules_dir());
    assert!(
        !files.is_empty(),
        "no rule files in {}",
        paths::alert_rules_dir().display()
    );
    files.iter().flat_map(|f| alert_rules(f).unwrap()).collect()
}

#[test]
fn promtool_check_rules_is_clean() {
    let files = paths::yaml_files(&paths::alert_rules_dir());
    let (ok, output) = promtool(&["check", "rules"], &files);
    assert!(ok, "promtool check rules failed:\n{output}");
    assert!(
        !output.to_lowercase().contains("warning"),
        "promtool check rules warned:\n{output}"
    );
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let files = paths::yaml_files(&paths::rule_tests_dir());
    assert!(
        !files.is_empty(),
        "no unit tests in {}",
        paths::rule_tests_dir().display()
    );
    let (ok, output) = promtool(&["test", "rules"], &files);
    assert!(ok, "promtool test rules failed:\n{output}");
}

#[test]
fn the_seed_groups_hold_their_fourteen_rules() {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in all_rules() {
        let fresh = groups
            .entry(rule.group.clone())
            .or_default()
            .insert(rule.alert.clone());
        assert!(fresh, "{} is defined twice in {}", rule.alert, rule.group);
    }
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (
            "container_alerts",
            &[
                "ContainerDown",
                "HighCPUUsage",
                "HighMemoryUsage",
                "ContainerRestarting",
            ][..],
        ),
        (
            "database_alerts",
            &[
                "PostgreSQLDown",
                "PostgreSQLTooManyConnections",
                "RedisDown",
                "RedisHighMemory",
            ],
        ),
        (
            "host_alerts",
            &["HighSystemLoad", "LowDiskSpace", "HighDiskIO"],
        ),
        (
            "service_health_alerts",
            &[
                "ServiceHealthCheckFailing",
                "PrometheusTargetDown",
                "TooManyFailedScrapes",
            ],
        ),
        // Docker Swarm (compose/stack.yml): a node whose exporters all vanished.
        ("swarm_alerts", &["NodeExportersDown"]),
        // Incidents against a container's own limits (issue #22).
        (
            "incident_alerts",
            &[
                "ContainerOOMKilled",
                "ContainerCPUThrottled",
                "ContainerHealthFlapping",
            ],
        ),
    ]
    .into_iter()
    .map(|(g, rules)| (g.to_string(), rules.iter().map(|r| r.to_string()).collect()))
    .collect();
    assert_eq!(groups, expected);
}

#[test]
fn every_rule_has_for_severity_and_annotations_naming_subject_and_value() {
    for rule in all_rules() {
        let name = &rule.alert;
        let for_duration = rule.for_duration.as_deref().unwrap_or_default();
        assert!(
            !for_duration.is_empty() && for_duration != "0s" && for_duration != "0m",
            "{name} has no for: duration"
        );
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name} has severity {severity:?}"
        );
        for key in ["summary", "description"] {
            let text = rule
                .annotations
                .get(key)
                .unwrap_or_else(|| panic!("{name} has no {key}"));
            assert!(
                [
                    "$labels.name",
                    "$labels.instance",
                    "$labels.datname",
                    "$labels.node"
                ]
                .iter()
                .any(|l| text.contains(l)),
                "{name}'s {key} names no container, instance, database or node: {text}"
            );
        }
        assert!(
            rule.annotations["description"].contains("$value"),
            "{name}'s description does not give the value: {}",
            rule.annotations["description"]
        );
    }
}

#[test]
fn every_rule_has_unit_tests_that_fire_it_and_keep_it_silent() {
    let mut coverage = BTreeMap::new();
    for file in paths::yaml_files(&paths::rule_tests_dir()) {
        for (alert, c) in unit_test_coverage(&file).unwrap() {
            let total: &mut (usize, usize) = coverage.entry(alert).or_default();
            total.0 += c.firing_cases;
            total.1 += c.silent_cases;
        }
    }
    for rule in all_rules() {
        let (firing, silent) = coverage.get(&rule.alert).copied().unwrap_or_default();
        assert!(firing > 0, "no unit test expects {} to fire", rule.alert);
        assert!(
            silent > 0,
            "no unit test expects {} to stay silent",
            rule.alert
        );
    }
}
