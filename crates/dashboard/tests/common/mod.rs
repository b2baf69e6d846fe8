//! Starting the real docker-api and dashboard binaries; headless Chromium over WebDriver is
//! `testkit::browser` (re-exported here as `Browser` and `CELL`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
// Not every test binary that includes this module opens a page.
#[allow(unused_imports)]
pub use testkit::browser::{Browser, CELL};
use testkit::{free_port, ServiceProcess};

/// docker-api's binary from this workspace's target directory (built now if missing).
pub fn docker_api_binary() -> PathBuf {
    testkit::workspace::workspace_binary("docker-api", "docker-api")
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The real docker-api on `port`, sampling every second (its default is 2 s), so the page
/// shows a change within a couple of seconds.
pub fn start_docker_api(port: u16) -> ServiceProcess {
    start_docker_api_with(port, &[])
}

/// The same, with more flags (e.g. cluster mode's `--node.name` and `--cluster.peers`).
pub fn start_docker_api_with(port: u16, extra: &[String]) -> ServiceProcess {
    let mut args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--stats.interval=1s".into(),
        "--log.level=warn".into(),
    ];
    args.extend(extra.iter().cloned());
    let process = ServiceProcess::start(docker_api_binary(), &args, port);
    // It answers 503 until it has connected to the daemon and listed the containers.
    let url = process.url("/api/containers");
    let start = Instant::now();
    while testkit::http::get_with(&url, &[], Duration::from_secs(2)).map(|r| r.status) != Ok(200) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "docker-api did not list containers within 15 s; log:\n{}",
            process.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    process
}

/// The dashboard forwarding to `docker_api_url`, with extra flags.
pub fn start_dashboard(docker_api_url: &str, extra: &[&str]) -> ServiceProcess {
    let port = free_port();
    let mut args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--docker-api.url={docker_api_url}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    ServiceProcess::start(env!("CARGO_BIN_EXE_dashboard"), &args, port)
}

/// docker-api and a dashboard in front of it.
pub struct Stack {
    pub docker_api: ServiceProcess,
    pub docker_api_port: u16,
    pub dashboard: ServiceProcess,
}

impl Stack {
    pub fn start() -> Self {
        let docker_api_port = free_port();
        let docker_api = start_docker_api(docker_api_port);
        let dashboard = start_dashboard(&format!("http://127.0.0.1:{docker_api_port}"), &[]);
        Self {
            docker_api,
            docker_api_port,
            dashboard,
        }
    }
}

pub fn json_body(response: &testkit::Response) -> Value {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.body))
}
