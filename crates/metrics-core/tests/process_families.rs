//! Every service's `/metrics` carries the `process_*` families Go's client library exports on
//! Linux (all six services serve through `metrics_core::Server`, so one server here stands for
//! them), with this process's own values; other paths (`/probe`, `/scrape`) do not.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use metrics_core::{
    BackendHealth, Exporter, MetricSet, Scrape, ScrapeError, Server, Service, WebConfig,
};

const SERVICE: Service = Service {
    name: "process-test",
    about: "checks the process families",
    version: "0.0.1",
    env_prefix: "PROCESS_TEST",
};

struct One;

impl Exporter for One {
    async fn collect(&self, _scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let mut set = MetricSet::new();
        set.gauge("one_up", "Always 1.", &[], 1.0);
        Ok(set)
    }

    async fn health(&self) -> BackendHealth {
        BackendHealth::no_backend()
    }
}

/// `name value` of the first sample of `name` in a text exposition.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The `IpExt` `InOctets`/`OutOctets` of this network namespace, read independently with the
/// same `/proc` file `ip -s` and `nstat` read.
fn namespace_octets() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/self/net/netstat").unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("IpExt:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let get = |n: &str| {
        values[names.iter().position(|x| *x == n).unwrap()]
            .parse()
            .unwrap()
    };
    (get("InOctets"), get("OutOctets"))
}

#[tokio::test]
async fn metrics_has_go_clients_linux_process_families_and_probe_does_not() {
    let web = WebConfig {
        listen_address: "127.0.0.1:0".into(),
        scrape_timeout: Duration::from_secs(5),
        ..WebConfig::default()
    };
    let server = Server::new(SERVICE, web, Arc::new(One))
        .metrics_path("/probe")
        .start()
        .expect("start server");
    let base = format!("http://{}", server.addrs[0]);
    tokio::spawn(server.run());
    let client = reqwest::Client::builder().no_gzip().build().unwrap();

    let (in_before, out_before) = namespace_octets();
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (in_after, out_after) = namespace_octets();
    for (name, kind) in [
        ("process_virtual_memory_max_bytes", "gauge"),
        ("process_network_receive_bytes_total", "counter"),
        ("process_network_transmit_bytes_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "no {kind} {name} in:\n{text}"
        );
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max address space"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    let expected = if soft == "unlimited" {
        18446744073709551615.0
    } else {
        soft.parse().unwrap()
    };
    assert_eq!(
        value(&text, "process_virtual_memory_max_bytes"),
        Some(expected)
    );
    let received = value(&text, "process_network_receive_bytes_total").unwrap();
    let sent = value(&text, "process_network_transmit_bytes_total").unwrap();
    assert!(
        in_before <= received && received <= in_after,
        "received {received} not within {in_before}..{in_after}"
    );
    assert!(
        out_before <= sent && sent <= out_after,
        "sent {sent} not within {out_before}..{out_after}"
    );

    let probe = client
        .get(format!("{base}/probe"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        probe.contains("one_up 1") && !probe.contains("process_"),
        "{probe}"
    );
}
