//! The container list follows the daemon's events without waiting for the periodic refresh
//! (left at its 60 s default here), against the real Docker engine: a stopped container is
//! listed `exited` within seconds, every time, although the daemon's own list can still say
//! `running` just after the `die` event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::docker;
use serde_json::Value;
use testkit::docker::Container;
use testkit::{free_port, ServiceProcess};

fn state_of(process: &ServiceProcess, id: &str) -> Option<String> {
    let r = testkit::http::get_with(
        &process.url("/api/containers?all=true"),
        &[],
        Duration::from_secs(5),
    )
    .ok()?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    v["containers"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["state"].as_str().map(str::to_string))
}

fn wait_state(process: &ServiceProcess, id: &str, want: &str, round: usize) {
    let start = Instant::now();
    loop {
        let state = state_of(process, id);
        if state.as_deref() == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "round {round}: still {state:?}, not {want}, 10 s after the event\nlogs:\n{}",
            process.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn docker_stopped_containers_are_listed_exited_soon_after_each_stop() {
    testkit::docker::require_docker();
    let port = free_port();
    let args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--stats.interval=1s".to_string(),
    ];
    let process = ServiceProcess::start(env!("CARGO_BIN_EXE_docker-api"), &args, port);
    for round in 0..6 {
        let c = Container::run(&[], "sleep 300");
        wait_state(&process, &c.id, "running", round);
        // Quiet for a while (no listing in flight) before the stop, as a real one comes.
        std::thread::sleep(Duration::from_secs(2));
        docker(&["stop", "-t", "0", &c.id]);
        wait_state(&process, &c.id, "exited", round);
    }
}
