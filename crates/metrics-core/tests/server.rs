//! The shared server, exercised over real HTTP on loopback with small in-test exporters.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_core::{
    BackendHealth, Exporter, MetricSet, Scrape, ScrapeError, Server, Service, WebConfig,
};

const SERVICE: Service = Service {
    name: "test-exporter",
    about: "exercises the shared server",
    version: "9.9.9",
    env_prefix: "TEST_EXPORTER",
};

/// Answers with one gauge after `delay`; `collect[]=bad` is a bad request; health follows `up`.
struct Sleepy {
    delay: Duration,
    up: bool,
    calls: AtomicUsize,
}

impl Exporter for Sleepy {
    async fn collect(&self, scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if scrape.params("collect[]").any(|c| c == "bad") {
            return Err(ScrapeError::BadRequest("unknown collector \"bad\"".into()));
        }
        if scrape.params("collect[]").any(|c| c == "panic") {
            panic!("a bug reached by one request");
        }
        tokio::time::sleep(self.delay).await;
        let mut set = MetricSet::new();
        set.gauge(
            "test_up",
            "Whether the backend answered.",
            &[],
            if self.up { 1.0 } else { 0.0 },
        );
        for i in 0..200 {
            set.counter(
                "test_things_total",
                "Things.",
                &[("n", &i.to_string())],
                i as f64,
            );
        }
        Ok(set)
    }

    fn shared_params(&self, _path: &str) -> &'static [&'static str] {
        &["collect[]"]
    }

    async fn health(&self) -> BackendHealth {
        BackendHealth::backend(
            "testdb",
            if self.up {
                Ok(())
            } else {
                Err("connection refused".into())
            },
        )
    }
}

fn start(delay: Duration, up: bool) -> (String, Arc<Sleepy>, metrics_core::RunningServer) {
    start_with(delay, up, WebConfig::default().max_requests)
}

fn start_with(
    delay: Duration,
    up: bool,
    max_requests: usize,
) -> (String, Arc<Sleepy>, metrics_core::RunningServer) {
    let exporter = Arc::new(Sleepy {
        delay,
        up,
        calls: AtomicUsize::new(0),
    });
    let web = WebConfig {
        listen_address: "127.0.0.1:0".into(),
        scrape_timeout: Duration::from_secs(5),
        max_requests,
        ..WebConfig::default()
    };
    let server = Server::new(SERVICE, web, exporter.clone())
        .metrics_path("/probe")
        .start()
        .expect("start server");
    let base = format!("http://{}", server.addrs[0]);
    (base, exporter, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().build().unwrap()
}

#[tokio::test]
async fn metrics_are_text_format_with_process_metrics_and_gzip_on_request() {
    let (base, _, server) = start(Duration::ZERO, true);
    let handle = server.handle();
    tokio::spawn(server.run());

    let plain = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = plain.text().await.unwrap();
    assert!(text.contains("test_up 1"), "{text}");
    assert!(
        text.contains("# TYPE process_resident_memory_bytes gauge"),
        "{text}"
    );

    let zipped = client()
        .get(format!("{base}/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let bytes = zipped.bytes().await.unwrap();
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert!(unzipped.contains("test_things_total{n=\"199\"} 199"));
    assert!(
        bytes.len() < unzipped.len() / 2,
        "gzip should shrink the body"
    );

    // A client that refuses gzip, or names only other codings, gets plain text.
    for accept in ["gzip;q=0", "br", "identity"] {
        let r = client()
            .get(format!("{base}/metrics"))
            .header("Accept-Encoding", accept)
            .send()
            .await
            .unwrap();
        assert!(
            r.headers().get("content-encoding").is_none(),
            "Accept-Encoding: {accept} got {:?}",
            r.headers().get("content-encoding")
        );
        assert!(r.text().await.unwrap().contains("test_up 1"), "{accept}");
    }

    // Extra metric paths carry no process metrics: they describe a probed target.
    let probe = client()
        .get(format!("{base}/probe?target=x"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        probe.contains("test_up 1") && !probe.contains("process_"),
        "{probe}"
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn bad_request_from_the_exporter_is_a_400() {
    let (base, _, server) = start(Duration::ZERO, true);
    let handle = server.handle();
    tokio::spawn(server.run());
    let r = client()
        .get(format!("{base}/metrics?collect[]=bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("unknown collector"));
    handle.stop(true).await;
}

#[tokio::test]
async fn prometheus_timeout_header_bounds_a_slow_scrape() {
    let (base, _, server) = start(Duration::from_secs(30), true);
    let handle = server.handle();
    tokio::spawn(server.run());
    let t0 = Instant::now();
    let r = client()
        .get(format!("{base}/metrics"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
    assert!(r.text().await.unwrap().contains("timed out"));
    handle.stop(false).await;
}

#[tokio::test]
async fn concurrent_scrapes_share_one_collection() {
    let (base, exporter, server) = start(Duration::from_millis(300), true);
    let handle = server.handle();
    tokio::spawn(server.run());
    let c = client();
    let scrapes: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            let url = format!("{base}/metrics");
            tokio::spawn(async move { c.get(url).send().await.unwrap().status() })
        })
        .collect();
    for s in scrapes {
        assert_eq!(s.await.unwrap(), 200);
    }
    let calls = exporter.calls.load(Ordering::SeqCst);
    assert!(calls <= 2, "6 concurrent scrapes ran {calls} collections");
    handle.stop(true).await;
}

#[tokio::test]
async fn health_is_503_with_the_reason_when_the_backend_is_down() {
    let (base, _, server) = start(Duration::ZERO, false);
    let handle = server.handle();
    tokio::spawn(server.run());
    let r = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["version"], "9.9.9");
    assert_eq!(body["backend"]["reachable"], false);
    assert_eq!(body["backend"]["error"], "connection refused");
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);

    let landing = client()
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(landing.contains("href=\"/metrics\"") && landing.contains("href=\"/health\""));
    handle.stop(true).await;
}

#[tokio::test]
async fn graceful_stop_lets_an_in_flight_scrape_finish() {
    let (base, _, server) = start(Duration::from_millis(500), true);
    let handle = server.handle();
    let running = tokio::spawn(server.run());
    let c = client();
    let url = format!("{base}/metrics");
    let scrape = tokio::spawn(async move { c.get(url).send().await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.stop(true).await;
    assert_eq!(scrape.await.unwrap(), 200);
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn other_methods_get_a_json_405_and_head_is_served() {
    let (base, _, server) = start(Duration::ZERO, true);
    let handle = server.handle();
    tokio::spawn(server.run());
    for path in ["/metrics", "/probe", "/health", "/"] {
        let r = client().post(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()["allow"], "GET, HEAD");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["status"], 405);
        let head = client().head(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
    }
    handle.stop(true).await;
}

#[test]
fn hostile_timeout_headers_leave_the_configured_timeout() {
    use metrics_core::server::scrape_timeout_from_header;
    let ours = Duration::from_secs(10);
    for hostile in [
        "1e20",
        "1e300",
        "inf",
        "-inf",
        "NaN",
        "-1",
        "0",
        "",
        "ten",
        "18446744073709551616",
    ] {
        assert_eq!(
            scrape_timeout_from_header(Some(hostile), ours),
            ours,
            "header {hostile:?}"
        );
    }
    assert_eq!(
        scrape_timeout_from_header(Some("3"), ours),
        Duration::from_millis(2500)
    );
    assert_eq!(
        scrape_timeout_from_header(Some(" 1 "), ours),
        Duration::from_millis(900)
    );
    assert_eq!(scrape_timeout_from_header(None, ours), ours);
}

#[tokio::test]
async fn a_panicking_handler_costs_its_request_a_500_and_the_server_goes_on() {
    let (base, _, server) = start(Duration::ZERO, true);
    let handle = server.handle();
    tokio::spawn(server.run());
    let c = client();
    for _ in 0..3 {
        let r = c
            .get(format!("{base}/metrics?collect[]=panic"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
    }
    let r = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("test_exporter_requests_refused_total{reason=\"handler_panic\"} 3"),
        "panics are not counted:\n{body}"
    );
    handle.stop(false).await;
}

#[tokio::test]
async fn distinct_query_strings_share_one_collection() {
    let (base, exporter, server) = start(Duration::from_millis(500), true);
    let handle = server.handle();
    tokio::spawn(server.run());
    let c = client();
    let scrapes: Vec<_> = (0..8)
        .map(|n| {
            let c = c.clone();
            let url = format!("{base}/metrics?n={n}");
            tokio::spawn(async move { c.get(url).send().await.unwrap().status() })
        })
        .collect();
    for s in scrapes {
        assert_eq!(s.await.unwrap(), 200);
    }
    let calls = exporter.calls.load(Ordering::SeqCst);
    assert!(
        calls <= 2,
        "8 concurrent scrapes with distinct ignored parameters ran {calls} collections"
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn requests_over_the_limit_get_503_at_once_and_are_counted() {
    let (base, _, server) = start_with(Duration::from_secs(2), true, 2);
    let handle = server.handle();
    tokio::spawn(server.run());
    let c = client();
    // Distinct shared parameters: each request needs its own collection and holds its permit.
    let scrapes: Vec<_> = (0..5)
        .map(|n| {
            let c = c.clone();
            let url = format!("{base}/metrics?collect[]=c{n}");
            tokio::spawn(async move { c.get(url).send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for s in scrapes {
        statuses.push(s.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 200, 503, 503, 503]);
    let body = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("test_exporter_requests_refused_total{reason=\"max_requests\"} 3"),
        "refusals are not counted:\n{body}"
    );
    // /health is not a metric path: never refused.
    let health = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    handle.stop(true).await;
}
