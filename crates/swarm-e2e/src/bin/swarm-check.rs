//! Runs the swarm checks against the lab `scripts/swarm-test` built and prints each with its
//! timing. Usage: swarm-check LAB.json

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use swarm_e2e::lab::Lab;
use swarm_e2e::{checks, security};
use testkit::lab_check::{self, check};

fn main() -> ExitCode {
    lab_check::exit("swarm-check", run())
}

fn run() -> anyhow::Result<()> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: swarm-check LAB.json")?
        .into();
    let lab = Lab::load(&path)?;
    let workers = lab.workers();
    let [partitioned, lost] = workers[..] else {
        anyhow::bail!("the checks want two workers, the lab has {}", workers.len());
    };
    check("targets UP on every node", || checks::targets_up(&lab))?;
    check("every target UP over TLS with basic auth", || {
        security::targets_secure(&lab)
    })?;
    check("published ports TLS-only with basic auth", || {
        security::published_ports_secure(&lab)
    })?;
    check(
        "secrets, limits, health checks and the overlay (docker inspect)",
        || security::inspected(&lab),
    )?;
    check("docker-api aggregate vs docker ps", || {
        checks::aggregate_agrees(&lab)
    })?;
    check("docker-api Swarm views", || checks::swarm_views(&lab))?;
    check(&format!("partition of {}", partitioned.name), || {
        checks::partition(&lab, partitioned)
    })?;
    check(&format!("loss of {}'s engine", lost.name), || {
        checks::node_loss(&lab, lost)
    })
}
