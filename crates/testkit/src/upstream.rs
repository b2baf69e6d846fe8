//! Today's upstream exporters (Debian 13's node_exporter, postgres_exporter, redis_exporter),
//! where `scripts/install-upstream-current` unpacks them: the one lookup that the parity tests,
//! the guest's tests and `bench --upstream current` share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unpacked root: `UPSTREAM_CURRENT_ROOT`, else `$XDG_CACHE_HOME` (or `~/.cache`) +
/// `upstream-trixie/root`.
pub fn current_root() -> Result<PathBuf, String> {
    if let Some(root) = std::env::var_os("UPSTREAM_CURRENT_ROOT") {
        return Ok(root.into());
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("neither UPSTREAM_CURRENT_ROOT, XDG_CACHE_HOME nor HOME is set")?;
    Ok(cache.join("upstream-trixie/root"))
}

/// Debian 13's program `name` (`prometheus-node-exporter`, ...), or what to run to get it.
pub fn current_program(name: &str) -> Result<PathBuf, String> {
    let path = current_root()?.join("usr/bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: run `bash scripts/install-upstream-current` (or set \
             UPSTREAM_CURRENT_ROOT to where it unpacked Debian 13's exporters)",
            path.display()
        ))
    }
}

/// Debian 13's program `name` and its `--version` line, which must contain `pinned` as written
/// (`version 1.9.0 `; redis_exporter prints `Redis Metrics Exporter 1.69.0-1`): a newer package
/// must not change a result silently. Panics saying what to run.
pub fn pinned_program(name: &str, pinned: &str) -> (PathBuf, String) {
    let binary =
        current_program(name).unwrap_or_else(|e| panic!("this test needs {name} {pinned}: {e}"));
    let line = version_line(&binary);
    assert!(
        line.contains(pinned),
        "{} is not {pinned:?} but {line:?}: run `scripts/install-upstream-current`",
        binary.display()
    );
    (binary, line)
}

/// The first line `binary --version` prints (on stdout or stderr).
pub fn version_line(binary: &Path) -> String {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", binary.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().next().unwrap_or("").trim().to_string()
}
