//! A real OOM kill drill: a busybox container with a 16 MiB memory limit whose shell keeps
//! starting a child that needs 48 MiB, so the kernel's OOM killer kills the child (the container
//! lives on). Our container-exporter reports the kills in `container_oom_events_total`, and the
//! alerting path of `alerting_tests::pipeline` (Prometheus with every rule file, Alertmanager
//! with the real config, a webhook receiver run by the test) delivers ContainerOOMKilled for that
//! container; once the child stops being started the one-minute window empties and the resolved
//! notification arrives.
//!
//! The pipeline's copies shorten every `for:` to 2 s (the rule's one-minute window stays, so the
//! resolve takes a minute); the promtool unit tests in `prometheus/tests/` cover the real ones.
//!
//! Needs a running Docker daemon (`docker.io`), `/bin/busybox` (`busybox-static`), `prometheus`
//! and `prometheus-alertmanager`; builds `container-exporter` from this workspace if it is not
//! built yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use alerting_tests::paths;
use alerting_tests::pipeline::{assert_one_critical_alert, AlertPipeline};
use testkit::docker::Container;
use testkit::prometheus::Prometheus;
use testkit::wait::{check, expect};
use testkit::{free_port, ServiceProcess};

/// The child (`dd` with a 48 MiB block: its buffer is filled) needs 48 MiB in a 16 MiB container
/// without swap; it is started every second until `/stop` exists.
const OOM_LOOP: &str = "while [ ! -f /stop ]; do dd if=/dev/zero of=/dev/null bs=48M count=1 \
                        2>/dev/null; sleep 1; done; exec sleep 3600";

#[test]
fn oom_killed_container_fires_container_oom_killed_and_resolves() {
    testkit::docker::require_docker();
    let container = Container::run(&["-m", "16m", "--memory-swap", "16m"], OOM_LOOP);
    let name = container.name.clone();

    let ce_port = free_port();
    let container_exporter = ServiceProcess::start(
        paths::workspace_binary("container-exporter", "container-exporter").unwrap(),
        &[format!("--web.listen-address=127.0.0.1:{ce_port}")],
        ce_port,
    );
    let pipeline = AlertPipeline::start(&[("cadvisor", &format!("127.0.0.1:{ce_port}"))]).unwrap();
    let prom = Prometheus::plain(pipeline.prometheus_url());
    let logs = || {
        format!(
            "container-exporter log:\n{}\n{}",
            container_exporter.logs(),
            pipeline.diagnostics()
        )
    };

    // The kernel kills the child, the container keeps running, the count reaches Prometheus.
    let limit = Duration::from_secs(60);
    let kills = format!(r#"container_oom_events_total{{name="{name}"}} > 0"#);
    expect("OOM kills of the container in Prometheus", limit, || {
        let found = prom.query(&kills)?;
        check(!found.is_empty(), || {
            format!(
                "no {kills}; the container's state: {}",
                container.inspect("{{.State.Status}} {{.State.OOMKilled}}")
            )
        })
    });
    assert_eq!(container.inspect("{{.State.Status}}"), "running");

    let firing = pipeline
        .wait_for_alert(limit, "ContainerOOMKilled", "firing", &[("name", &name)])
        .unwrap_or_else(|| {
            panic!(
                "no ContainerOOMKilled for {name} within {limit:?}; {}",
                logs()
            )
        });
    assert_one_critical_alert(
        &firing,
        "ContainerOOMKilled",
        &[("name", &name)],
        &["alertname", "name", "severity"],
        &format!("Container {name} was OOM-killed"),
    );

    // No more kills: a minute later the window holds none and the alert resolves.
    container.exec("touch /stop");
    let resolve_limit = Duration::from_secs(150);
    pipeline
        .wait_for_alert(
            resolve_limit,
            "ContainerOOMKilled",
            "resolved",
            &[("name", &name)],
        )
        .unwrap_or_else(|| {
            panic!(
                "ContainerOOMKilled for {name} did not resolve within {resolve_limit:?}; {}",
                logs()
            )
        });
}
