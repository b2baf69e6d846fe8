//! Long history from a real Prometheus (Debian's `prometheus`, behind basic auth) holding 7 days
//! of a container's figures, backfilled with `promtool tsdb create-blocks-from openmetrics`:
//! the dashboard's `/history/*` answers at most 1,000 points spanning the 7 days with the
//! backfilled values and limits, a container Docker no longer has stays reachable, and the page
//! draws the 7-day chart in headless Chromium.
//!
//! `DASHBOARD_SCREENSHOT=path` makes the browser test save the page (`scripts/screenshot-dashboard`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{start_dashboard, start_docker_api, Browser};
use serde_json::{json, Value};
use testkit::docker::{require_docker, Container};
use testkit::{free_port, require_command, ServiceProcess};

const DAY: u64 = 86_400;
/// Backfilled samples are this far apart (a scrape every 2 minutes keeps the file small).
const SAMPLE_EVERY: u64 = 120;
const MIB: f64 = 1024.0 * 1024.0;

/// The backfilled CPU of day `d` (0 = the oldest of the 7): 5 % more each day.
fn cpu_percent_of_day(d: u64) -> f64 {
    5.0 * (d + 1) as f64
}

fn memory_mib_of_day(d: u64) -> f64 {
    100.0 + 10.0 * d as f64
}

/// OpenMetrics text: 7 days of `name`'s cAdvisor families (CPU counter, working set, limits),
/// and 1 day of CPU for `removed` ending 2 hours ago; samples from `start`.
fn openmetrics(name: &str, removed: &str, start: u64, end: u64) -> String {
    let mut text = String::new();
    let mut cpu_seconds = 0.0;
    let mut t = start;
    while t < end {
        let d = (t - start) / DAY;
        let labels = format!(r#"{{name="{name}",id="/docker/{name}",image="busybox"}}"#);
        writeln!(
            text,
            "container_cpu_usage_seconds_total{labels} {cpu_seconds} {t}"
        )
        .unwrap();
        let memory = memory_mib_of_day(d) * MIB;
        writeln!(
            text,
            "container_memory_working_set_bytes{labels} {memory} {t}"
        )
        .unwrap();
        writeln!(
            text,
            "container_spec_memory_limit_bytes{labels} {} {t}",
            256.0 * MIB
        )
        .unwrap();
        writeln!(text, "container_spec_cpu_quota{labels} 50000 {t}").unwrap();
        writeln!(text, "container_spec_cpu_period{labels} 100000 {t}").unwrap();
        if t + 2 * 3600 + DAY >= end && t + 2 * 3600 < end {
            let gone = format!(r#"{{name="{removed}",id="/docker/{removed}",image="busybox"}}"#);
            writeln!(
                text,
                "container_cpu_usage_seconds_total{gone} {} {t}",
                cpu_seconds / 2.0
            )
            .unwrap();
        }
        cpu_seconds += cpu_percent_of_day(d) / 100.0 * SAMPLE_EVERY as f64;
        t += SAMPLE_EVERY;
    }
    text.push_str("# EOF\n");
    text
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Prometheus on a TSDB backfilled for `name` and `removed`, asking for basic auth
/// (`dashboard` with the password in the returned file).
struct Backfilled {
    prometheus: ServiceProcess,
    password_file: std::path::PathBuf,
    /// The first backfilled sample.
    start: u64,
    _dir: tempfile::TempDir,
}

fn backfilled_prometheus(name: &str, removed: &str) -> Backfilled {
    let promtool = require_command("promtool", "prometheus");
    let binary = require_command("prometheus", "prometheus");
    let htpasswd = require_command("htpasswd", "apache2-utils");
    let dir = tempfile::tempdir().unwrap();
    let end = now() - now() % SAMPLE_EVERY;
    let start = end - 7 * DAY;
    let input = dir.path().join("backfill.om");
    std::fs::write(&input, openmetrics(name, removed, start, end)).unwrap();
    let data = dir.path().join("data");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool tsdb create-blocks-from openmetrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = format!("pw-{}", std::process::id());
    let hash = Command::new(htpasswd)
        .args(["-nbBC", "10", "dashboard", &password])
        .output()
        .unwrap();
    let hash = String::from_utf8_lossy(&hash.stdout);
    let hash = hash.trim().split_once(':').unwrap().1.to_string();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  dashboard: '{hash}'\n")).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let password_file = dir.path().join("prometheus_password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let port = free_port();
    let prometheus = ServiceProcess::start(
        binary,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.config.file={}", web.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        port,
    );
    Backfilled {
        prometheus,
        password_file,
        start,
        _dir: dir,
    }
}

fn prometheus_flags(backfilled: &Backfilled, password_file: &Path) -> Vec<String> {
    vec![
        format!("--prometheus.url={}", backfilled.prometheus.url("")),
        "--prometheus.username=dashboard".into(),
        format!("--prometheus.password-file={}", password_file.display()),
        // Backfilled samples are 2 minutes apart: rate() must see two of them.
        "--prometheus.min-rate-window=5m".into(),
        "--grafana.url=http://grafana.example:3000".into(),
    ]
}

/// GETs `url` until it answers 200 (Prometheus answers 503 while it opens its TSDB).
fn get_ok(url: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let response = testkit::http::get_with(url, &[], Duration::from_secs(20));
        if let Ok(r) = &response {
            if r.status == 200 {
                return common::json_body(r);
            }
        }
        assert!(
            start.elapsed() < limit,
            "{url} did not answer 200 within {limit:?}: {response:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn series<'a>(body: &'a Value, name: &str) -> &'a Vec<Value> {
    body["series"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no series {name}: {body}"))
}

#[test]
fn prometheus_history_spans_7_days_in_at_most_1000_points_with_the_backfilled_values() {
    let tag = std::process::id();
    let (name, removed) = (format!("cm-hist-{tag}"), format!("cm-gone-{tag}"));
    let backfilled = backfilled_prometheus(&name, &removed);
    // docker-api is never asked for history here: a port where nothing listens.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let flags = prometheus_flags(&backfilled, &backfilled.password_file);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dashboard = start_dashboard(&nowhere, &flags);

    let body = get_ok(
        &dashboard.url(&format!("/history/containers/{name}?range=7d")),
        Duration::from_secs(60),
    );
    assert_eq!(body["source"], "prometheus", "{body}");
    assert_eq!(body["step_seconds"], 900);
    let cpu = series(&body, "cpu_percent");
    assert!(cpu.len() <= 1000, "{} points", cpu.len());
    let first = cpu[0][0].as_f64().unwrap() as u64;
    let last = cpu[cpu.len() - 1][0].as_f64().unwrap() as u64;
    assert!(
        last - first >= 7 * DAY - 3600,
        "the series spans {} s only",
        last - first
    );
    // Each point away from a day's boundary (where the rate window straddles two days) is the
    // day's backfilled CPU.
    let mut checked = 0;
    for point in cpu {
        let t = point[0].as_f64().unwrap() as u64;
        let into_day = (t - backfilled.start) % DAY;
        if !(1800..=DAY - 1800).contains(&into_day) {
            continue;
        }
        let want = cpu_percent_of_day((t - backfilled.start) / DAY);
        let got = point[1].as_f64().unwrap();
        assert!((got - want).abs() < 0.01, "at {t}: {got} % (want {want})");
        checked += 1;
    }
    assert!(checked >= 600, "only {checked} points checked");
    let memory = series(&body, "memory_bytes");
    let oldest = memory[0][1].as_f64().unwrap() / MIB;
    let newest = memory[memory.len() - 1][1].as_f64().unwrap() / MIB;
    assert!(
        (oldest - 100.0).abs() < 1e-6 && (newest - 160.0).abs() < 1e-6,
        "memory MiB, oldest {oldest} and newest {newest}"
    );
    let limits = (
        series(&body, "memory_limit_bytes")[0][1].as_f64().unwrap(),
        series(&body, "cpu_limit_percent")[0][1].as_f64().unwrap(),
    );
    assert_eq!(limits, (256.0 * MIB, 50.0));

    // The cluster's series hold the container too; a 1-hour range has a 5 s step.
    let cluster = get_ok(
        &dashboard.url("/history/cluster?range=1h"),
        Duration::from_secs(20),
    );
    assert_eq!(cluster["step_seconds"], 5);
    let cluster_cpu = series(&cluster, "cpu_percent");
    assert!(cluster_cpu.len() <= 1000 && !cluster_cpu.is_empty());
    assert!(cluster["series"].get("cpu_limit_percent").is_none());

    // A container Docker no longer has: its day of CPU is still there.
    let gone = get_ok(
        &dashboard.url(&format!("/history/containers/{removed}?range=24h")),
        Duration::from_secs(20),
    );
    assert!(
        series(&gone, "cpu_percent").len() > 500,
        "removed container's history: {gone}"
    );

    // What cannot be a name or a range never reaches Prometheus.
    for (path, why) in [
        (format!("/history/containers/{name}?range=5y"), "range"),
        ("/history/containers/a%22%7D?range=1h".to_string(), "name"),
        ("/history/containers/.x?range=1h".to_string(), "name"),
    ] {
        let r = testkit::get(&dashboard.url(&path));
        assert_eq!(r.status, 400, "{path} ({why}): {}", r.body);
    }
}

#[test]
fn a_wrong_prometheus_password_is_a_502_that_does_not_show_it() {
    let tag = std::process::id();
    let backfilled = backfilled_prometheus(&format!("cm-auth-{tag}"), &format!("cm-x-{tag}"));
    let wrong = backfilled._dir.path().join("wrong_password");
    std::fs::write(&wrong, "not-the-password-4711\n").unwrap();
    let flags = prometheus_flags(&backfilled, &wrong);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{}", free_port()), &flags);
    let start = Instant::now();
    let response = loop {
        let r = testkit::get(&dashboard.url("/history/cluster?range=6h"));
        // 503 from Prometheus still opening its TSDB passes through as a 502 with its text.
        if r.status == 502 && r.body.contains("401") {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no 401 from Prometheus: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let body = common::json_body(&response);
    assert_eq!(body["upstream"], "prometheus", "{body}");
    assert!(!response.body.contains("4711"), "{}", response.body);
    assert!(!dashboard.logs().contains("4711"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_shows_7_days_of_a_containers_cpu_with_its_limits_from_prometheus() {
    require_docker();
    // In a compose project with a busy neighbour, as the screenshot shows it.
    let project = format!("com.docker.compose.project=cm-shop-{}", std::process::id());
    let container = Container::run(
        &["--memory", "256m", "--cpus", "0.5", "--label", &project],
        "sleep 300",
    );
    let _neighbour = Container::run(
        &["--label", &project, "--cpus", "0.3"],
        "while :; do :; done",
    );
    let backfilled =
        backfilled_prometheus(&container.name, &format!("cm-none-{}", std::process::id()));
    let docker_api_port = free_port();
    let _docker_api = start_docker_api(docker_api_port);
    let flags = prometheus_flags(&backfilled, &backfilled.password_file);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{docker_api_port}"), &flags);
    // Prometheus has opened its TSDB.
    get_ok(
        &dashboard.url(&format!("/history/containers/{}?range=7d", container.name)),
        Duration::from_secs(60),
    );
    let browser = Browser::start(1400, 2100).await;
    browser.client.goto(&dashboard.url("/")).await.unwrap();
    browser
        .wait_for(
            "the container's row",
            Duration::from_secs(15),
            "return document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]') !== null;",
            vec![json!(container.name)],
        )
        .await;
    // Keyboard only: the 7 d button, then Enter on the container's row.
    browser
        .js(
            "document.querySelector('#ranges button[data-range=\"7d\"]').click(); \
             const tr = document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]'); \
             tr.focus(); tr.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})); return true;",
            vec![json!(container.name)],
        )
        .await;
    let chart = browser
        .wait_for(
            "the 7-day CPU chart with its limit",
            Duration::from_secs(20),
            "const c = Chart.getChart('chart-container-cpu'); const d = c.data.datasets[0].data; \
             const limit = c.data.datasets[1].data; \
             if (d.length < 600) return null; \
             return {n: d.length, span: (d[d.length - 1].x - d[0].x) / 1000, first: d[5].y, last: d[d.length - 5].y, \
                     limit: limit.length ? limit[0].y : null, min: c.options.scales.x.min, max: c.options.scales.x.max, \
                     memLimit: Chart.getChart('chart-container-memory').data.datasets[1].data.map(p => p.y)[0], \
                     pressed: document.querySelector('#ranges button[aria-pressed=true]').dataset.range, \
                     source: document.getElementById('history-source').textContent, \
                     grafana: document.getElementById('detail-grafana').hidden ? null : document.getElementById('detail-grafana').href};",
            vec![],
        )
        .await;
    assert!(chart["n"].as_u64().unwrap() <= 1000, "{chart}");
    assert!(
        chart["span"].as_f64().unwrap() >= (7 * DAY - 3600) as f64,
        "{chart}"
    );
    let near = |key: &str, want: f64| (chart[key].as_f64().unwrap() - want).abs() < 0.01;
    assert!(
        near("first", 5.0) && near("last", 35.0),
        "day 1 at 5 %, day 7 at 35 %: {chart}"
    );
    assert!(
        near("limit", 50.0) && near("memLimit", 256.0),
        "limits: {chart}"
    );
    assert_eq!(chart["pressed"], "7d");
    let axis = chart["max"].as_f64().unwrap() - chart["min"].as_f64().unwrap();
    assert!((axis / 1000.0 - (7 * DAY) as f64).abs() < 60.0, "{chart}");
    assert!(
        chart["source"].as_str().unwrap().contains("Prometheus"),
        "{chart}"
    );
    let grafana = chart["grafana"].as_str().unwrap();
    assert!(
        grafana.starts_with("http://grafana.example:3000/d/clustermon-containers/")
            && grafana.contains(&format!("var-container={}", container.name))
            && grafana.contains("from=now-7d"),
        "{grafana}"
    );
    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        tokio::time::sleep(Duration::from_secs(3)).await;
        browser
            .js(
                "document.activeElement.blur(); window.scrollTo(0, 0); return true;",
                vec![],
            )
            .await;
        std::fs::write(&path, browser.client.screenshot().await.unwrap()).unwrap();
        eprintln!("screenshot saved to {path}");
    }
    let errors = browser
        .js("return window.clustermon.state.errors;", vec![])
        .await;
    assert_eq!(errors, json!([]), "errors on the page");
    browser.close().await;
}

#[test]
fn without_prometheus_history_comes_from_docker_api_within_the_point_limit() {
    require_docker();
    let container = Container::run(&[], "while :; do :; done");
    let docker_api_port = free_port();
    let _docker_api = start_docker_api(docker_api_port);
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{docker_api_port}"), &[]);
    let url = dashboard.url(&format!("/history/containers/{}?range=15m", container.name));
    let start = Instant::now();
    let body = loop {
        let body = get_ok(&url, Duration::from_secs(20));
        if series(&body, "cpu_percent")
            .iter()
            .any(|p| p[1].as_f64().unwrap() > 20.0)
        {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no busy point in docker-api's history: {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(body["source"], "docker-api", "{body}");
    assert!(body["series"].get("read_bytes_per_sec").is_some(), "{body}");
    // docker-api keeps 24 h: a 7-day range gets those, and says so.
    let week = get_ok(
        &dashboard.url(&format!("/history/containers/{}?range=7d", container.name)),
        Duration::from_secs(20),
    );
    assert!(week["note"].as_str().unwrap().contains("24 h"), "{week}");
    assert!(series(&week, "cpu_percent").len() <= 1000);
    let cluster = get_ok(
        &dashboard.url("/history/cluster?range=1h"),
        Duration::from_secs(20),
    );
    assert!(!series(&cluster, "memory_bytes").is_empty(), "{cluster}");
    // docker-api's 404 for a container it never saw is passed on.
    let missing = testkit::get(&dashboard.url("/history/containers/cm-never-there?range=1h"));
    assert_eq!(missing.status, 404, "{}", missing.body);
}
