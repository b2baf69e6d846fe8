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
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
