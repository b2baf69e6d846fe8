//! The Grafana provisioning and dashboards in `grafana/`: every dashboard is well formed and uses
//! the provisioned datasource, every panel query and variable query parses in a real
//! Prometheus, and the Redis dashboard's queries all return data from our redis-exporter.
//! Needs `prometheus` (and `redis-server` for the live Redis check).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alerting_tests::dashboards::{load, panel_queries, panels, variable_selectors};
use alerting_tests::http::prometheus_query;
use alerting_tests::paths;
use alerting_tests::processes::start_prometheus;
use serde_json::Value;
use testkit::{free_port, require_command, ServiceProcess};

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
    let base = prometheus.url("");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, dashboard) in all_dashboards() {
        for query in panel_queries(&dashboard) {
            checked += 1;
            if let Err(e) = prometheus_query(&base, &query.runnable()) {
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
            if let Err(e) = prometheus_query(&base, &selector) {
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

/// A Prometheus scraping `target` every second as job `job`.
fn prometheus_scraping(dir: &Path, job: &str, target: &str) -> ServiceProcess {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    start_prometheus(&config, &dir.join("data"))
}

/// Waits (rates need two scrapes) until every panel query and variable query of `file`
/// returns at least one series.
fn assert_every_query_returns_data(base: &str, file: &str) {
    let dashboard = load(&paths::dashboards_dir().join(file)).unwrap();
    let queries = panel_queries(&dashboard);
    let start = Instant::now();
    loop {
        let empty: Vec<String> = queries
            .iter()
            .map(|q| (format!("{:?}", q.panel_title), q.runnable()))
            .chain(variable_selectors(&dashboard))
            .filter(|(_, query)| prometheus_query(base, query).map_or(true, |r| r.is_empty()))
            .map(|(what, query)| format!("{what}: {query}"))
            .collect();
        if empty.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{file}: queries without data:\n{}",
            empty.join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Redis with a maxmemory and our redis-exporter: every Redis dashboard query (variables at
/// "All") returns data, so the dashboard's metric names are the ones our exporter serves.
#[test]
fn every_redis_panel_returns_data_from_our_redis_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let redis_port = free_port();
    let _redis = ServiceProcess::start(
        require_command("redis-server", "redis-server"),
        &[
            "--port".into(),
            redis_port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--maxmemory".into(),
            "100mb".into(),
            "--dir".into(),
            dir.path().display().to_string(),
        ],
        redis_port,
    );
    let exporter_port = free_port();
    let _exporter = ServiceProcess::start(
        paths::workspace_binary("redis-exporter", "redis-exporter").unwrap(),
        &[
            format!("--redis.addr=redis://127.0.0.1:{redis_port}"),
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
        ],
        exporter_port,
    );
    let prometheus =
        prometheus_scraping(dir.path(), "redis", &format!("127.0.0.1:{exporter_port}"));
    assert_every_query_returns_data(&prometheus.url(""), "redis.json");
}

/// Our host-exporter on this machine: every Host dashboard query returns data.
#[test]
fn every_host_panel_returns_data_from_our_host_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let _exporter = ServiceProcess::start(
        paths::workspace_binary("host-exporter", "host-exporter").unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{exporter_port}")],
        exporter_port,
    );
    let prometheus = prometheus_scraping(dir.path(), "node", &format!("127.0.0.1:{exporter_port}"));
    assert_every_query_returns_data(&prometheus.url(""), "host.json");
}

/// A throwaway PostgreSQL cluster (Debian's binaries, trust authentication on 127.0.0.1 only),
/// run as the `postgres` user through `runuser` when the test runs as root (PostgreSQL refuses
/// root); stopped on drop.
struct PgCluster {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PgCluster {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").is_file())
                    .max()
            })
            .unwrap_or_else(|| {
                panic!("this test needs PostgreSQL: run `apt-get install postgresql`")
            });
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown the cluster directory to postgres");
        }
        let cluster = Self {
            port: free_port(),
            bin,
            data: dir.path().join("data"),
            as_postgres,
            _dir: dir,
        };
        let data = cluster.data.display().to_string();
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
        let socket_dir = cluster.data.parent().unwrap().display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={socket_dir}",
            cluster.port
        );
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &options,
                "-w",
                "-l",
                &format!("{data}/log"),
                "start",
            ],
        );
        cluster
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        }
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let program = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

/// A PostgreSQL cluster and our pg-exporter: every PostgreSQL dashboard query returns data.
#[test]
fn every_postgresql_panel_returns_data_from_our_pg_exporter() {
    let cluster = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let _exporter = ServiceProcess::start_with_env(
        paths::workspace_binary("pg-exporter", "pg-exporter").unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{exporter_port}")],
        &[(
            "DATA_SOURCE_NAME",
            &format!(
                "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
                cluster.port
            ),
        )],
        exporter_port,
    );
    let prometheus = prometheus_scraping(
        dir.path(),
        "postgres",
        &format!("127.0.0.1:{exporter_port}"),
    );
    assert_every_query_returns_data(&prometheus.url(""), "postgresql.json");
}
