//! End to end with the real Docker engine (but not the compose stack): a container whose
//! health check we break and repair, our container-exporter and docker-api reporting its health,
//! and the alerting path of `alerting_tests::pipeline` (Prometheus with every rule file,
//! Alertmanager with the real config, a webhook receiver run by the test). An unhealthy
//! container makes ServiceHealthCheckFailing fire and reach the webhook with its name; a healthy
//! one again delivers the resolved notification.
//!
//! The pipeline runs on temporary copies in which every rule's `for:` is 2 s, Prometheus scrapes
//! and evaluates every second, and Alertmanager's `group_wait`/`group_interval` are 1 s; the
//! promtool unit tests in `prometheus/tests/` cover the real durations.
//!
//! Needs a running Docker daemon (`docker.io`), `/bin/busybox` (`busybox-static`), `prometheus`
//! and `prometheus-alertmanager`; builds `container-exporter` and `docker-api` from this
//! workspace if they are not built yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;
use std::time::{Duration, Instant};

use alerting_tests::http::prometheus_query;
use alerting_tests::paths;
use alerting_tests::pipeline::{matching_alerts, AlertPipeline};
use testkit::{free_port, ServiceProcess};

const IMAGE: &str = "clustermon/alerting-tests:1";

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `FROM scratch` with Debian's static busybox: no registry needed.
fn build_image() {
    testkit::require_command("docker", "docker.io");
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    assert!(
        info.is_ok_and(|o| o.status.success()),
        "this test needs a running Docker daemon (`docker info` failed)"
    );
    assert!(
        std::path::Path::new("/bin/busybox").is_file(),
        "this test needs /bin/busybox: run `apt-get install busybox-static`"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("busybox")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    docker(&["build", "-q", "-t", IMAGE, dir.path().to_str().unwrap()]);
}

/// A container removed when dropped, even when the test fails.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn has_series(prom: &str, query: &str) -> bool {
    prometheus_query(prom, query).is_ok_and(|r| !r.is_empty())
}

#[test]
fn unhealthy_container_fires_service_health_check_failing_and_resolves() {
    build_image();
    let name = format!("cm-alerting-health-{}", std::process::id());
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "clustermon.test=1",
        "--health-cmd",
        "test -f /ok",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        IMAGE,
        "sh",
        "-c",
        "touch /ok; exec sleep 3600",
    ]);
    let container = Container(name.clone());

    let ce_port = free_port();
    let container_exporter = ServiceProcess::start(
        paths::workspace_binary("container-exporter", "container-exporter").unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{ce_port}")],
        ce_port,
    );
    let api_port = free_port();
    let docker_api = ServiceProcess::start(
        paths::workspace_binary("docker-api", "docker-api").unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{api_port}")],
        api_port,
    );
    let pipeline = AlertPipeline::start(&[
        ("cadvisor", &format!("127.0.0.1:{ce_port}")),
        ("docker-api", &format!("127.0.0.1:{api_port}")),
    ])
    .unwrap();
    let prom = pipeline.prometheus_url();
    let logs = || {
        format!(
            "container-exporter log:\n{}\ndocker-api log:\n{}\n{}",
            container_exporter.logs(),
            docker_api.logs(),
            pipeline.diagnostics()
        )
    };

    // Healthy, as both exporters see it.
    let limit = Duration::from_secs(60);
    wait_until(limit, "the container healthy in Prometheus", || {
        has_series(
            &prom,
            &format!(r#"container_health_state{{name="{name}"}} == 1"#),
        ) && has_series(
            &prom,
            &format!(r#"docker_container_health_status{{name="{name}", health="healthy"}} == 1"#),
        )
    });

    // Break the health check: both exporters report it, the rule fires once for the container.
    docker(&["exec", &container.0, "rm", "/ok"]);
    let firing = pipeline
        .wait_for_alert(
            limit,
            "ServiceHealthCheckFailing",
            "firing",
            &[("name", &name)],
        )
        .unwrap_or_else(|| {
            panic!(
                "no ServiceHealthCheckFailing for {name} within {limit:?}; {}",
                logs()
            )
        });
    let alerts = matching_alerts(
        &firing,
        "ServiceHealthCheckFailing",
        "firing",
        &[("name", &name)],
    );
    assert_eq!(alerts.len(), 1, "{firing}");
    let labels = alerts[0]["labels"].as_object().unwrap();
    let mut keys: Vec<&str> = labels.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["alertname", "name", "severity"], "{}", alerts[0]);
    assert_eq!(labels["severity"], "critical");
    assert_eq!(
        alerts[0]["annotations"]["summary"],
        format!("Container {name} is unhealthy").as_str()
    );
    assert_eq!(firing["receiver"], "webhook");
    assert!(
        has_series(
            &prom,
            &format!(r#"container_health_state{{name="{name}"}} == 0"#)
        ),
        "{}",
        logs()
    );
    assert!(
        has_series(
            &prom,
            &format!(r#"docker_container_health_status{{name="{name}", health="unhealthy"}} == 1"#)
        ),
        "{}",
        logs()
    );

    // Repair it: the resolved notification arrives.
    docker(&["exec", &container.0, "touch", "/ok"]);
    pipeline
        .wait_for_alert(
            limit,
            "ServiceHealthCheckFailing",
            "resolved",
            &[("name", &name)],
        )
        .unwrap_or_else(|| {
            panic!(
                "no resolved ServiceHealthCheckFailing within {limit:?}; {}",
                logs()
            )
        });
}
