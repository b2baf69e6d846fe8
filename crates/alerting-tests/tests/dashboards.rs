//! The Grafana provisioning and dashboards in `grafana/`: every dashboard is well formed and uses
//! the provisioned datasource, and every panel query and variable query parses in a real
//! Prometheus (`tests/dashboards_live.rs` checks they return data). Needs `prometheus`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::path::Path;

use alerting_tests::dashboards::{load, panel_queries, panels, variable_selectors};
use alerting_tests::paths;
use serde_json::Value;
use testkit::prometheus::{start_prometheus, Prometheus};
use testkit::ServiceProcess;

fn provisioned_datasource() -> serde_yaml::Value {
    let path = paths::grafana_provisioning_dir().join("datasources/prometheus.yml");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["datasources"][0].clone()
}

fn datasource_uid() -> String {
    provisioned_datasource()["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn all_dashboards() -> Vec<(String, Value)> {
    let files = paths::files_with_extension(&paths::dashboards_dir(), "json");
    assert!(
        !files.is_empty(),
        "no dashboards in {}",
        paths::dashboards_dir().display()
    );
    files
        .iter()
        .map(|f| {
            (
                f.file_name().unwrap().to_string_lossy().into_owned(),
                load(f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn provisioning_names_the_stack_prometheus_and_the_dashboards_folder() {
    let datasource = provisioned_datasource();
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["url"], "http://cluster-prometheus:9090");
    assert_eq!(datasource["uid"], "clustermon-prometheus");
    assert_eq!(datasource["isDefault"], true);

    let path = paths::grafana_provisioning_dir().join("dashboards/clustermon.yml");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let provider = &doc["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(provider["options"]["path"], "/etc/grafana/dashboards");
}

#[test]
fn the_five_dashboards_exist_with_unique_uids_and_titles() {
    let dashboards = all_dashboards();
    let uids: BTreeSet<&str> = dashboards
        .iter()
        .map(|(_, d)| d["uid"].as_str().unwrap())
        .collect();
    let titles: BTreeSet<&str> = dashboards
        .iter()
        .map(|(_, d)| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(uids.len(), dashboards.len(), "duplicate uids: {uids:?}");
    assert_eq!(
        titles.len(),
        dashboards.len(),
        "duplicate titles: {titles:?}"
    );
    for uid in [
        "clustermon-overview",
        "clustermon-containers",
        "clustermon-host",
        "clustermon-postgresql",
        "clustermon-redis",
    ] {
        assert!(uids.contains(uid), "no dashboard {uid}: {uids:?}");
    }
}

#[test]
fn every_dashboard_is_well_formed_and_uses_the_provisioned_datasource() {
    let uid = datasource_uid();
    for (file, dashboard) in all_dashboards() {
        assert!(
            dashboard["schemaVersion"].as_i64().unwrap_or(0) >= 36,
            "{file}: schemaVersion"
        );
        let uid_text = dashboard["uid"].as_str().unwrap_or_default();
        assert!(
            !uid_text.is_empty() && uid_text.len() <= 40,
            "{file}: uid {uid_text:?}"
        );
        assert!(
            !dashboard["title"].as_str().unwrap_or_default().is_empty(),
            "{file}: title"
        );
        assert!(
            dashboard["id"].is_null(),
            "{file}: a provisioned dashboard carries no id"
        );

        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or_default();
            let id = panel["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{file}: {title} has no id"));
            assert!(ids.insert(id), "{file}: panel id {id} is used twice");
            let grid = &panel["gridPos"];
            let (x, w) = (grid["x"].as_i64().unwrap(), grid["w"].as_i64().unwrap());
            assert!(
                x >= 0 && w > 0 && x + w <= 24 && grid["h"].as_i64().unwrap() > 0,
                "{file}: {title} gridPos {grid}"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert!(!title.is_empty(), "{file}: panel {id} has no title");
            assert_eq!(
                panel["datasource"]["uid"],
                uid.as_str(),
                "{file}: {title}'s datasource"
            );
            let unit = panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default();
            assert!(!unit.is_empty(), "{file}: {title} has no unit");
            let targets = panel["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: {title} has no targets"));
            assert!(!targets.is_empty(), "{file}: {title} has no targets");
            for target in targets {
                assert_eq!(
                    target["datasource"]["uid"],
                    uid.as_str(),
                    "{file}: {title}'s target datasource"
                );
                assert!(
                    !target["expr"]
                        .as_str()
                        .unwrap_or_default()
                        .trim()
                        .is_empty(),
                    "{file}: {title} has an empty query"
                );
                if panel["type"] == "timeseries" {
                    assert!(
                        !target["legendFormat"]
                            .as_str()
                            .unwrap_or_default()
                            .is_empty(),
                        "{file}: {title}'s series have no legend"
                    );
                }
            }
        }
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(
                variable["datasource"]["uid"],
                uid.as_str(),
                "{file}: variable datasource"
            );
            // The plain-string form of a Prometheus variable query, which every Grafana version
            // since 7 reads.
            let query = variable["query"].as_str().unwrap_or_default();
            assert!(
                query.starts_with("label_values("),
                "{file}: variable query {query:?}"
            );
            assert_eq!(
                variable["definition"].as_str(),
                Some(query),
                "{file}: variable definition"
            );
        }
    }
}

fn empty_prometheus(dir: &Path) -> ServiceProcess {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    start_prometheus(&config, &dir.join("data"))
}

#[test]
fn every_panel_and_variable_query_parses_in_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = empty_prometheus(dir.path());
    let api = Prometheus::plain(prometheus.url(""));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, dashboard) in all_dashboards() {
        for query in panel_queries(&dashboard) {
            checked += 1;
            if let Err(e) = api.query(&query.runnable()) {
                failures.push(format!(
                    "{file} panel {} {:?}: {e}\n  {}",
                    query.panel_id,
                    query.panel_title,
                    query.runnable()
                ));
            }
        }
        for (name, selector) in variable_selectors(&dashboard) {
            checked += 1;
            if let Err(e) = api.query(&selector) {
                failures.push(format!("{file} variable {name}: {e}\n  {selector}"));
            }
        }
    }
    assert!(checked > 50, "only {checked} queries found");
    assert!(
        failures.is_empty(),
        "queries Prometheus rejects:\n{}",
        failures.join("\n")
    );
}
