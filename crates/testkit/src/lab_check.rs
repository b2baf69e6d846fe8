//! How a lab checker (`swarm-check`, `fleet-check`) reports: each check printed before it runs
//! and after, with its timing and what it saw; the first failure ends the run with exit code 1.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Instant;

/// Runs the check `name`, printing `check: NAME ...`, then `ok in Ns: DETAIL` or `FAILED after Ns`.
pub fn check<E>(name: &str, body: impl FnOnce() -> Result<String, E>) -> Result<(), E> {
    let started = Instant::now();
    println!("check: {name} ...");
    let result = body();
    let took = started.elapsed().as_secs_f64();
    match result {
        Ok(detail) => {
            println!("check: {name}: ok in {took:.1}s: {detail}");
            Ok(())
        }
        Err(e) => {
            println!("check: {name}: FAILED after {took:.1}s");
            Err(e)
        }
    }
}

/// The checker's exit: success, or `PROGRAM: FAIL: ERROR` (`{:#}`: an anyhow error's whole
/// chain) on standard error and exit code 1.
pub fn exit<E: Display>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: FAIL: {e:#}");
            ExitCode::FAILURE
        }
    }
}
