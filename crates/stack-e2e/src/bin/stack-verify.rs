//! `scripts/verify`: checks a running stack (the seed's deployment steps 4–6 and its example
//! queries) and exits non-zero with the list of what is wrong.
//!
//! Usage: stack-verify [--wait SECONDS]. With `--wait`, checks again every 2 s until all is well
//! or the time is up (rate queries need two scrapes, so a fresh stack needs up to a minute).
//! Ports and container names come from the same variables as the compose file
//! (`CLUSTERMON_PORT_<NAME>`, `CLUSTERMON_NAME`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use stack_e2e::Stack;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wait = match args.as_slice() {
        [] => Duration::ZERO,
        [flag, secs] if flag == "--wait" => match secs.parse() {
            Ok(s) => Duration::from_secs(s),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let stack = Stack::from_vars(|k| std::env::var(k).ok());
    let deadline = Instant::now() + wait;
    loop {
        let problems = stack.problems();
        if problems.is_empty() {
            println!(
                "stack OK: {} exporters up, every Prometheus target UP, {} rule groups loaded, \
                 the seed's {} queries return data",
                stack.exporters.len(),
                stack_e2e::RULE_GROUPS.len(),
                stack.seed_queries().len()
            );
            return ExitCode::SUCCESS;
        }
        if Instant::now() >= deadline {
            eprintln!("stack NOT OK ({} problems):", problems.len());
            for p in problems {
                eprintln!("  - {p}");
            }
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: stack-verify [--wait SECONDS]");
    ExitCode::from(2)
}
