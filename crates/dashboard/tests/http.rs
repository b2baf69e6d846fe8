//! The dashboard over plain HTTP, against the real docker-api binary (and the real Docker
//! engine and Alertmanager where a test says so): its own endpoints, the forwarder's rules,
//! and what it answers when docker-api is down or silent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{json_body, start_dashboard, Stack};
use serde_json::json;
use testkit::docker::{require_docker, Container};
use testkit::http::request;
use testkit::{free_port, get};

const T: Duration = Duration::from_secs(10);

#[test]
fn serves_the_page_its_assets_health_and_promtool_clean_metrics() {
    require_docker();
    let stack = Stack::start();
    let page = get(&stack.dashboard.url("/"));
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(
        page.body.contains("<title>clustermon</title>") && page.body.contains("/assets/app.js")
    );
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    let chart = get(&stack.dashboard.url("/assets/chart.min.js"));
    assert_eq!(chart.status, 200);
    assert!(chart.body.contains("Chart.js v3.9.1"));
    assert!(get(&stack.dashboard.url("/assets/chart.js-LICENSE"))
        .body
        .contains("MIT"));
    assert!(get(&stack.dashboard.url("/assets/app.js"))
        .body
        .contains("EventSource"));

    let health = get(&stack.dashboard.url("/health"));
    assert_eq!(health.status, 200, "{}", health.body);
    let health = json_body(&health);
    assert_eq!(health["service"], "dashboard");
    assert_eq!(health["docker_api"]["reachable"], true, "{health}");
    assert_eq!(health["docker_api"]["health"]["service"], "docker-api");
    assert_eq!(health["alertmanager"]["configured"], false);

    get(&stack.dashboard.url("/api/containers"));
    let metrics = get(&stack.dashboard.url("/metrics"));
    assert_eq!(metrics.status, 200);
    let complaints = testkit::promtool_check_metrics(&metrics.body);
    assert!(complaints.is_empty(), "promtool: {complaints}");
    let families = testkit::parse_exposition(&metrics.body).unwrap();
    assert_eq!(families["dashboard_docker_api_up"].value(&[]), Some(1.0));
    let answered = families["dashboard_upstream_requests_total"]
        .value(&[("upstream", "docker-api"), ("outcome", "answered")])
        .unwrap();
    assert!(answered >= 1.0, "{answered}");
    assert!(families.contains_key("process_resident_memory_bytes"));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dashboard"))
        .args([
            &format!("--web.listen-address=127.0.0.1:{}", stack.dashboard.port),
            "healthcheck",
        ])
        .status()
        .unwrap();
    assert!(
        out.success(),
        "healthcheck against a running dashboard must exit 0"
    );
}

#[test]
fn forwards_get_and_head_under_api_to_docker_api() {
    require_docker();
    let container = Container::run(&[], "sleep 120");
    let stack = Stack::start();
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    // docker-api lists containers once it has synced with the daemon.
    let start = Instant::now();
    let forwarded = loop {
        let r = get(&stack.dashboard.url("/api/containers?all=true"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        let body = json_body(&r);
        if names(&body).contains(&container.name) || start.elapsed() > T {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(names(&forwarded).contains(&container.name), "{forwarded}");
    let direct = json_body(&get(&format!(
        "http://127.0.0.1:{}/api/containers?all=true",
        stack.docker_api_port
    )));
    assert!(names(&direct).contains(&container.name), "{direct}");

    // docker-api answers 503 until its first sample of the container.
    let stats_url = stack
        .dashboard
        .url(&format!("/api/containers/{}/stats", container.name));
    let start = Instant::now();
    let mut stats = get(&stats_url);
    while stats.status == 503 && start.elapsed() < T {
        std::thread::sleep(Duration::from_millis(200));
        stats = get(&stats_url);
    }
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert!(json_body(&stats)["memory"]["usage_bytes"].as_u64().unwrap() > 0);

    // docker-api's own errors pass through unchanged.
    let missing = get(&stack
        .dashboard
        .url("/api/containers/no-such-container-xyz/stats"));
    assert_eq!(missing.status, 404);
    assert_eq!(
        json_body(&missing)["error"],
        "no such container: no-such-container-xyz"
    );

    let head = request("HEAD", &stack.dashboard.url("/api/containers"), &[], &[], T).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn refuses_other_methods_and_anything_outside_api() {
    require_docker();
    let stack = Stack::start();
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = request(
            method,
            &stack.dashboard.url("/api/containers"),
            &[],
            b"{}",
            T,
        )
        .unwrap();
        assert_eq!(r.status, 405, "{method}: {}", r.body);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert!(json_body(&r)["error"].as_str().unwrap().contains(method));
    }
    assert_eq!(
        request("POST", &stack.dashboard.url("/"), &[], b"x", T)
            .unwrap()
            .status,
        405
    );
    // docker-api's own non-/api paths are not reachable through the dashboard.
    for path in ["/openapi.json", "/api", "/nope", "/apidocs"] {
        let r = get(&stack.dashboard.url(path));
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(json_body(&r)["status"], 404);
    }
    // Dot segments and encoded slashes would leave /api/ upstream: refused, sent nowhere.
    for path in [
        "/api/../health",
        "/api/containers/../../metrics",
        "/api/containers/a%2Fb/stats",
        "/api/%2e%2e/health",
    ] {
        let r = get(&stack.dashboard.url(path));
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(json_body(&r)["error"]
            .as_str()
            .unwrap()
            .starts_with("not forwarded"));
    }
}

#[test]
fn down_docker_api_gives_502_json_and_health_tells() {
    let dead = free_port();
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{dead}"), &[]);
    let r = get(&dashboard.url("/api/containers"));
    assert_eq!(r.status, 502, "{}", r.body);
    let body = json_body(&r);
    assert_eq!(body["status"], 502);
    assert_eq!(body["upstream"], "docker-api");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "docker-api at http://127.0.0.1:{dead} is unreachable"
        )),
        "{error}"
    );
    assert!(error.to_lowercase().contains("connect"), "{error}");
    // The event stream too: a JSON 502, which the page's EventSource treats as a failure.
    assert_eq!(get(&dashboard.url("/api/stats/stream")).status, 502);

    let health = get(&dashboard.url("/health"));
    assert_eq!(
        health.status, 200,
        "the dashboard itself still serves its page"
    );
    assert_eq!(json_body(&health)["docker_api"]["reachable"], false);
    let metrics = testkit::parse_exposition(&get(&dashboard.url("/metrics")).body).unwrap();
    assert_eq!(metrics["dashboard_docker_api_up"].value(&[]), Some(0.0));
    let failed = metrics["dashboard_upstream_requests_total"]
        .value(&[("upstream", "docker-api"), ("outcome", "failed")])
        .unwrap();
    assert!(failed >= 2.0, "{failed}");
    assert_eq!(get(&dashboard.url("/")).status, 200);
}

#[test]
fn silent_docker_api_gives_504_after_the_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dashboard = start_dashboard(
        &format!("http://127.0.0.1:{port}"),
        &["--docker-api.timeout=1s"],
    );
    let start = Instant::now();
    let r = get(&dashboard.url("/api/containers"));
    let took = start.elapsed();
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(json_body(&r)["error"]
        .as_str()
        .unwrap()
        .contains("did not answer within 1s"));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// Reads from `stream` until `count` `event: stats` frames arrived; returns the headers and
/// when each frame arrived.
fn read_frames(stream: &mut TcpStream, count: usize, limit: Duration) -> (String, Vec<Duration>) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut text = String::new();
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 65536];
    while arrivals.len() < count && start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                while text.matches("event: stats").count() > arrivals.len() {
                    arrivals.push(start.elapsed());
                }
            }
            Err(_) => continue,
        }
    }
    let headers = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    (headers, arrivals)
}

#[test]
fn event_stream_is_streamed_through_not_buffered() {
    require_docker();
    let stack = Stack::start();
    let mut stream = TcpStream::connect(("127.0.0.1", stack.dashboard.port)).unwrap();
    stream
        .write_all(
            b"GET /api/stats/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip\r\n\r\n",
        )
        .unwrap();
    let (headers, arrivals) = read_frames(&mut stream, 3, Duration::from_secs(10));
    let lower = headers.to_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{headers}");
    assert!(
        lower.contains("content-type: text/event-stream"),
        "{headers}"
    );
    assert!(
        !lower.contains("gzip"),
        "an event stream must not be compressed: {headers}"
    );
    // docker-api samples every second: each frame comes on its own, not in a batch at the end.
    assert_eq!(
        arrivals.len(),
        3,
        "frames seen: {arrivals:?}; headers: {headers}"
    );
    let spread = arrivals[2] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(1200),
        "frames arrived together: {arrivals:?}"
    );
}

#[test]
fn alerts_come_from_alertmanager_when_configured() {
    // Not configured: the page hides the panel.
    let dead = free_port();
    let plain = start_dashboard(&format!("http://127.0.0.1:{dead}"), &[]);
    let r = json_body(&get(&plain.url("/alerts")));
    assert_eq!(r, json!({"configured": false, "alerts": []}));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\n  group_wait: 0s\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let alertmanager = testkit::prometheus::start_alertmanager(&config, &data);
    testkit::prometheus::Alertmanager::plain(alertmanager.url(""))
        .post_alerts(&json!([{
            "labels": {"alertname": "DashboardTestAlert", "severity": "critical"},
            "annotations": {"summary": "raised by the dashboard test"},
        }]))
        .unwrap();
    let dashboard = start_dashboard(
        &format!("http://127.0.0.1:{dead}"),
        &[&format!("--alertmanager.url={}", alertmanager.url(""))],
    );
    let r = get(&dashboard.url("/alerts"));
    assert_eq!(r.status, 200, "{}", r.body);
    let body = json_body(&r);
    assert_eq!(body["configured"], true);
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{body}");
    assert_eq!(alerts[0]["labels"]["alertname"], "DashboardTestAlert");
    assert_eq!(
        alerts[0]["annotations"]["summary"],
        "raised by the dashboard test"
    );

    drop(alertmanager);
    let r = get(&dashboard.url("/alerts"));
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(json_body(&r)["upstream"], "alertmanager");
}
