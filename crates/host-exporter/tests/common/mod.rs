//! What the tests that run today's node_exporter share: where `scripts/install-upstream-current`
//! put it, and the version they pin.
#![allow(dead_code, clippy::expect_used)] // each test binary uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;

/// The node_exporter release the tests compare with: a newer package must not change a result
/// silently (bumping it is an edit here and in the install script).
pub const PINNED_VERSION: &str = "1.9.0";

/// Where `scripts/install-upstream-current` unpacks Debian 13's exporters.
pub fn upstream_current_root() -> PathBuf {
    if let Some(root) = std::env::var_os("UPSTREAM_CURRENT_ROOT") {
        return root.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    cache.join("upstream-trixie/root")
}

/// node_exporter 1.9.0 and its `--version` line; panics naming the script when it is missing
/// or another version is there.
pub fn current_node_exporter() -> (PathBuf, String) {
    let binary = upstream_current_root().join("usr/bin/prometheus-node-exporter");
    assert!(
        binary.is_file(),
        "this test needs node_exporter {PINNED_VERSION} at {}: run `scripts/install-upstream-current` \
         (or set UPSTREAM_CURRENT_ROOT to where it unpacked Debian 13's exporters)",
        binary.display()
    );
    let version = version_line(&binary);
    assert!(
        version.contains(&format!("version {PINNED_VERSION} ")),
        "{} is not node_exporter {PINNED_VERSION} but {version:?}: run `scripts/install-upstream-current`",
        binary.display()
    );
    (binary, version)
}

pub fn version_line(binary: &Path) -> String {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", binary.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().next().unwrap_or("").trim().to_string()
}
