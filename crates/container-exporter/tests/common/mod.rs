//! Helpers for tests against the real Docker engine: a tiny local image, labelled containers
//! removed on drop, scraping our exporter, and reading the cgroup files ourselves.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{Family, ServiceProcess};

pub use testkit::docker::{require_docker, Container};

/// Starts our exporter on a free port with extra flags.
pub fn exporter(extra: &[&str]) -> ServiceProcess {
    let port = testkit::free_port();
    let mut args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    args.extend(extra.iter().map(|s| s.to_string()));
    ServiceProcess::start(env!("CARGO_BIN_EXE_container-exporter"), &args, port)
}

pub fn scrape(exporter: &ServiceProcess) -> (String, BTreeMap<String, Family>) {
    let response = testkit::get(&exporter.url("/metrics"));
    assert_eq!(response.status, 200, "{}", response.body);
    let families = testkit::parse_exposition(&response.body).expect("valid exposition");
    (response.body, families)
}

/// The value of `family` for the container named `name` (plus extra label matches).
pub fn value(
    families: &BTreeMap<String, Family>,
    family: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> Option<f64> {
    let mut labels = vec![("name", name)];
    labels.extend_from_slice(extra);
    families.get(family)?.value(&labels)
}

/// Scrapes until `ready` holds (or panics after `limit`), returning that scrape.
pub fn scrape_until(
    exporter: &ServiceProcess,
    limit: Duration,
    what: &str,
    ready: impl Fn(&BTreeMap<String, Family>) -> bool,
) -> BTreeMap<String, Family> {
    let start = Instant::now();
    loop {
        let (_, families) = scrape(exporter);
        if ready(&families) {
            return families;
        }
        assert!(
            start.elapsed() < limit,
            "{what} not seen within {limit:?}; exporter log:\n{}",
            exporter.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One line of `docker stats --no-stream` for a container: (cpu %, memory used bytes, block
/// read bytes, block write bytes).
pub fn docker_stats(name: &str) -> (f64, f64, f64, f64) {
    let out = Command::new("docker")
        .args([
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}}|{{.MemUsage}}|{{.BlockIO}}",
            name,
        ])
        .output()
        .expect("docker stats");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(parts.len(), 3, "unexpected docker stats output {text:?}");
    let cpu: f64 = parts[0].trim_end_matches('%').parse().expect("cpu %");
    let mem = parse_size(parts[1].split('/').next().unwrap_or_default());
    let mut io = parts[2].split('/');
    let read = parse_size(io.next().unwrap_or_default());
    let write = parse_size(io.next().unwrap_or_default());
    (cpu, mem, read, write)
}

/// `12.5MiB`, `3kB`, `0B` as the docker CLI prints sizes.
pub fn parse_size(text: &str) -> f64 {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("size {text:?}"));
    let factor = match unit {
        "B" | "" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unknown unit {other:?} in {text:?}"),
    };
    n * factor
}
