//! Runs the fleet checks against the lab `scripts/fleet-test` built and prints each with its
//! timing. Usage: fleet-check LAB.json

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fleet_e2e::central::Central;
use fleet_e2e::checks;
use fleet_e2e::lab::Lab;

fn main() -> ExitCode {
    testkit::lab_check::exit("fleet-check", run())
}

fn run() -> anyhow::Result<()> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: fleet-check LAB.json")?
        .into();
    let lab = Lab::load(&path)?;
    // The last host starts out of the fleet file and is added to it; the one before it is cut off.
    let added = lab.hosts[lab.hosts.len() - 1].clone();
    let cut = lab
        .hosts
        .iter()
        .rev()
        .find(|h| h.veth.is_some())
        .context("no host with a link to cut")?
        .clone();
    let listed = &lab.hosts[..lab.hosts.len() - 1];
    let central = Central::start(&lab, listed)?;
    let logs = || {
        format!(
            "central docker-api log:\n{}\ncentral prometheus log (tail):\n{}",
            central.docker_api.logs(),
            tail(&central.prometheus.logs(), 30)
        )
    };
    let result = (|| {
        check(
            "each agent's docker-api protected (TLS, basic auth)",
            || checks::agents_docker_api_protected(&lab),
        )?;
        check(
            "targets UP with node labels, a host added by a line",
            || checks::targets_up_and_a_host_added(&lab, &central, &added),
        )?;
        check(
            "each host's containers under its name in docker-api",
            || checks::containers_under_each_host(&lab, &central),
        )?;
        check("the central docker-api asks every agent over TLS", || {
            checks::central_asks_agents_over_tls(&lab, &central)
        })?;
        check(&format!("{} cut off and back", cut.name), || {
            checks::cut_off_and_back(&lab, &central, &cut)
        })?;
        check(
            "no password in the central docker-api's log or answers",
            || checks::no_password_in_central(&lab, &central),
        )
    })();
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", logs()))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One check, printed with its timing by testkit's lab checker; a failure names the check.
fn check(name: &str, body: impl FnOnce() -> anyhow::Result<String>) -> anyhow::Result<()> {
    testkit::lab_check::check(name, || body().with_context(|| format!("check {name}")))
}
