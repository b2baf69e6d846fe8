//! What the integration tests share: starting the binary and encoding query parameters.
#![allow(dead_code)]

use testkit::{free_port, ServiceProcess};

pub const OURS: &str = env!("CARGO_BIN_EXE_pg-exporter");

/// pg-exporter on a free loopback port with `args` and `env`.
pub fn start_ours(args: &[&str], env: &[(&str, &str)]) -> ServiceProcess {
    let port = free_port();
    let mut all = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    all.extend(args.iter().map(|a| a.to_string()));
    ServiceProcess::start_with_env(OURS, &all, env, port)
}

/// `text` percent-encoded for a query string.
pub fn query_encode(text: &str) -> String {
    testkit::http::percent_encode(text)
}

/// The postgres_exporter release the parity tests compare with: a newer package must not change
/// a result silently (bumping it is an edit here and in `scripts/install-upstream-current`).
pub const PINNED_UPSTREAM: &str = "0.17.1";

/// postgres_exporter 0.17.1 and its `--version` line; panics naming the install script when it
/// is missing or another version is there.
pub fn current_postgres_exporter() -> (std::path::PathBuf, String) {
    testkit::upstream::pinned_program(
        "prometheus-postgres-exporter",
        &format!("version {PINNED_UPSTREAM} "),
    )
}
