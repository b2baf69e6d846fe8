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

use std::time::Duration;

use alerting_tests::paths;
use alerting_tests::pipeline::{assert_one_critical_alert, AlertPipeline};
use testkit::docker::Container;
use testkit::prometheus::Prometheus;
use testkit::{free_port, ServiceProcess};

/// Whether `query` gives at least one series; `Err` says what Prometheus gave instead.
fn has_series(prom: &str, query: &str) -> Result<(), String> {
    match Prometheus::plain(prom).query(query) {
        Ok(r) if !r.is_empty() => Ok(()),
        Ok(_) => Err(format!("no series for {query}")),
        Err(e) => Err(e),
    }
}

#[test]
fn unhealthy_container_fires_service_health_check_failing_and_resolves() {
    let container = Container::run(
        &[
            "--health-cmd",
            "test -f /ok",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
            "--health-retries",
            "1",
        ],
        "touch /ok; exec sleep 3600",
    );
    let name = container.name.clone();

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
    testkit::wait::expect("the container healthy in Prometheus", limit, || {
        has_series(
            &prom,
            &format!(r#"container_health_state{{name="{name}"}} == 1"#),
        )?;
        has_series(
            &prom,
            &format!(r#"docker_container_health_status{{name="{name}", health="healthy"}} == 1"#),
        )
    });

    // Break the health check: both exporters report it, the rule fires once for the container.
    container.exec("rm /ok");
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
    assert_one_critical_alert(
        &firing,
        "ServiceHealthCheckFailing",
        &[("name", &name)],
        &["alertname", "name", "severity"],
        &format!("Container {name} is unhealthy"),
    );
    if let Err(e) = has_series(
        &prom,
        &format!(r#"container_health_state{{name="{name}"}} == 0"#),
    ) {
        panic!("{e}\n{}", logs());
    }
    if let Err(e) = has_series(
        &prom,
        &format!(r#"docker_container_health_status{{name="{name}", health="unhealthy"}} == 1"#),
    ) {
        panic!("{e}\n{}", logs());
    }

    // Repair it: the resolved notification arrives.
    container.exec("touch /ok");
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
