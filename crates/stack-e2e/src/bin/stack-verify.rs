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
use std::time::Duration;

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
    let verified = testkit::wait::until_every(
        "the stack to have no problem",
        wait,
        Duration::from_secs(2),
        || {
            let problems = stack.problems();
            if problems.is_empty() {
                Ok(())
            } else {
                Err(Problems(problems))
            }
        },
    );
    match verified {
        Ok(()) => {
            println!(
                "stack OK: {} exporters up, every Prometheus target UP, {} rule groups loaded, \
                 the seed's {} queries return data",
                stack.exporters.len(),
                stack_e2e::RULE_GROUPS.len(),
                stack.seed_queries().len()
            );
            ExitCode::SUCCESS
        }
        Err(timeout) => {
            eprintln!("stack NOT OK: {timeout}");
            ExitCode::FAILURE
        }
    }
}

/// The stack's problems, one per line, as the wait's last seen value.
struct Problems(Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} problems:", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: stack-verify [--wait SECONDS]");
    ExitCode::from(2)
}
