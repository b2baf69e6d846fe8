//! `scripts/verify`: checks a running stack (the seed's deployment steps 4–6 and its example
//! queries) and exits non-zero with the list of what is wrong.
//!
//! Usage: stack-verify [--wait SECONDS]. With `--wait`, checks again every 2 s until all is well
//! or the time is up (rate queries need two scrapes, so a fresh stack needs up to a minute).
//! Ports and container names come from the same variables as the compose file
//! (`CLUSTERMON_PORT_<NAME>`, `CLUSTERMON_NAME`). The secure stack is reached over HTTPS with
//! the CA and the web user `prometheus`'s password from `compose/secrets/` (another directory:
//! `CLUSTERMON_SECRETS_DIR`); an `--insecure` stack (`compose/.insecure`, or
//! `CLUSTERMON_INSECURE=1`) over plain HTTP.

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
    let compose_dir = testkit::workspace::workspace_root().join("compose");
    let var = |k: &str| std::env::var(k).ok();
    let stack = match var("CLUSTERMON_SECRETS_DIR") {
        Some(dir) if var("CLUSTERMON_INSECURE").as_deref() != Some("1") => {
            Stack::from_vars(var).secure(std::path::Path::new(&dir))
        }
        _ => Stack::for_compose(var, &compose_dir),
    };
    let stack = match stack {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("stack-verify: {e} (run `scripts/stack secrets`, or see --help)");
            return ExitCode::from(2);
        }
    };
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
