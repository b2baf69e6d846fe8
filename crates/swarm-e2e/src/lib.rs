//! Checks of clustermon on a real multi-node Docker Swarm: the lab's description
//! (`scripts/swarm-test` writes it), and clients for Prometheus, Alertmanager, docker-api and
//! each node's engine.

pub mod checks;
pub mod clients;
pub mod lab;

use std::time::{Duration, Instant};

/// Polls `probe` every half second until it returns `Ok`, or returns its last error at `deadline`.
pub fn wait_until<T>(
    deadline: Instant,
    mut probe: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    loop {
        match probe() {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}
