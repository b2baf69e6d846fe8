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

/// The postgres_exporter release the parity tests compare with: a newer package must not change
/// a result silently (bumping it is an edit here and in `scripts/install-upstream-current`).
pub const PINNED_UPSTREAM: &str = "0.17.1";

/// Where `scripts/install-upstream-current` unpacks Debian 13's exporters.
pub fn upstream_current_root() -> std::path::PathBuf {
    if let Some(root) = std::env::var_os("UPSTREAM_CURRENT_ROOT") {
        return root.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| panic!("HOME or XDG_CACHE_HOME must be set"));
    cache.join("upstream-trixie/root")
}

/// postgres_exporter 0.17.1 and its `--version` line; panics naming the install script when it
/// is missing or another version is there.
pub fn current_postgres_exporter() -> (std::path::PathBuf, String) {
    let binary = upstream_current_root().join("usr/bin/prometheus-postgres-exporter");
    assert!(
        binary.is_file(),
        "this test needs postgres_exporter {PINNED_UPSTREAM} at {}: run `scripts/install-upstream-current` \
         (or set UPSTREAM_CURRENT_ROOT to where it unpacked Debian 13's exporters)",
        binary.display()
    );
    let out = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", binary.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let version = text.lines().next().unwrap_or("").trim().to_string();
    assert!(
        version.contains(&format!("version {PINNED_UPSTREAM} ")),
        "{} is not postgres_exporter {PINNED_UPSTREAM} but {version:?}: run `scripts/install-upstream-current`",
        binary.display()
    );
    (binary, version)
}
