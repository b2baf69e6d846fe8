//! Every dashboard query returns data from our own exporters: each of the Host, Redis and
//! PostgreSQL dashboards against a Prometheus scraping the matching exporter (host-exporter on
//! this machine, redis-exporter on a private `redis-server`, pg-exporter on a private
//! PostgreSQL cluster), and the Containers and Cluster overview dashboards against every
//! exporter at once, container-exporter and docker-api watching a CPU- and memory-limited test
//! container on the real Docker engine. Template variables are at "All".
//!
//! Needs `prometheus`, `redis-server`, `postgresql`, a running Docker daemon and `busybox-static`;
//! builds the exporters from this workspace if they are not built yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use alerting_tests::dashboards::{load, panel_queries, variable_selectors};
use alerting_tests::paths;
use alerting_tests::pipeline::AlertPipeline;
use testkit::docker::Container;
use testkit::postgres::PgCluster;
use testkit::prometheus::{start_prometheus, Prometheus};
use testkit::redis::start_redis;
use testkit::{free_port, ServiceProcess};

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
    let api = Prometheus::plain(base);
    testkit::wait::expect(
        &format!("every query of {file} to return data"),
        Duration::from_secs(30),
        || {
            let empty: Vec<String> = queries
                .iter()
                .map(|q| (format!("{:?}", q.panel_title), q.runnable()))
                .chain(variable_selectors(&dashboard))
                .filter(|(_, query)| api.query(query).map_or(true, |r| r.is_empty()))
                .map(|(what, query)| format!("{what}: {query}"))
                .collect();
            testkit::wait::check(empty.is_empty(), || {
                format!("queries without data:\n{}", empty.join("\n"))
            })
        },
    );
}

fn redis_exporter(redis_port: u16) -> ServiceProcess {
    let port = free_port();
    ServiceProcess::start(
        paths::workspace_binary("redis-exporter", "redis-exporter").unwrap(),
        &[
            format!("--redis.addr=redis://127.0.0.1:{redis_port}"),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        port,
    )
}

fn pg_exporter(cluster: &PgCluster) -> ServiceProcess {
    let port = free_port();
    ServiceProcess::start_with_env(
        paths::workspace_binary("pg-exporter", "pg-exporter").unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[("DATA_SOURCE_NAME", &cluster.uri("postgres"))],
        port,
    )
}

fn simple_exporter(package: &str) -> ServiceProcess {
    let port = free_port();
    ServiceProcess::start(
        paths::workspace_binary(package, package).unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        port,
    )
}

fn target(process: &ServiceProcess) -> String {
    format!("127.0.0.1:{}", process.port)
}

/// Redis with a maxmemory (so the maxmemory panels have something to show).
#[test]
fn every_redis_panel_returns_data_from_our_redis_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let redis_port = free_port();
    let _redis = start_redis(redis_port, dir.path(), &["--maxmemory", "100mb"]);
    let exporter = redis_exporter(redis_port);
    let prometheus = prometheus_scraping(dir.path(), "redis", &target(&exporter));
    assert_every_query_returns_data(&prometheus.url(""), "redis.json");
}

#[test]
fn every_host_panel_returns_data_from_our_host_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = simple_exporter("host-exporter");
    let prometheus = prometheus_scraping(dir.path(), "node", &target(&exporter));
    assert_every_query_returns_data(&prometheus.url(""), "host.json");
}

#[test]
fn every_postgresql_panel_returns_data_from_our_pg_exporter() {
    let cluster = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let exporter = pg_exporter(&cluster);
    let prometheus = prometheus_scraping(dir.path(), "postgres", &target(&exporter));
    assert_every_query_returns_data(&prometheus.url(""), "postgresql.json");
}

/// Every exporter scraped by one Prometheus (with the rules loaded, as in the stack), and a
/// test container with a CPU quota, a memory limit and a health check.
#[test]
fn every_containers_and_overview_panel_returns_data_from_all_our_exporters() {
    let _container = Container::run(
        &[
            "--cpus",
            "0.5",
            "-m",
            "64m",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ],
        // Some CPU (for the throttling panel) and page cache; block I/O may stay unaccounted
        // (see the Block I/O panels' description).
        "while true; do head -c 1048576 /dev/zero > /x; cat /x > /dev/null; sleep 0.2; done",
    );
    let dir = tempfile::tempdir().unwrap();
    let redis_port = free_port();
    let _redis = start_redis(redis_port, dir.path(), &["--maxmemory", "100mb"]);
    let redis = redis_exporter(redis_port);
    let cluster = PgCluster::start();
    let pg = pg_exporter(&cluster);
    let host = simple_exporter("host-exporter");
    let containers = simple_exporter("container-exporter");
    let docker_api = simple_exporter("docker-api");
    let pipeline = AlertPipeline::start(&[
        ("redis", &target(&redis)),
        ("postgres", &target(&pg)),
        ("node", &target(&host)),
        ("cadvisor", &target(&containers)),
        ("docker-api", &target(&docker_api)),
    ])
    .unwrap();
    let base = pipeline.prometheus_url();
    assert_every_query_returns_data(&base, "containers.json");
    assert_every_query_returns_data(&base, "overview.json");
}
