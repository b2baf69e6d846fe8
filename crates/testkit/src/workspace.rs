//! This repository's files and binaries, found from the test that runs.

use std::path::{Path, PathBuf};

/// The repository root (testkit lives at `crates/testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A binary of this workspace (e.g. `redis-exporter`), built by Cargo into the same target
/// directory and profile as the running test; built now with `cargo build -p <package>` if it
/// is missing (when only one crate's tests were asked for).
pub fn workspace_binary(package: &str, binary: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test executable is not in target/<profile>/deps")?;
    let path = profile_dir.join(binary);
    if path.is_file() {
        return Ok(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", package, "--bin", binary])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("run cargo build -p {package}: {e}"))?;
    if status.success() && path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{binary} is not built and `cargo build -p {package}` failed ({status}); \
             expected it at {}",
            path.display()
        ))
    }
}

/// A binary of this workspace built with Cargo profile `profile` (e.g. `image`, which ships),
/// in the target directory of the running test. Cargo is always asked to build it, so it is
/// never older than the sources (a no-op when it is up to date).
pub fn profile_binary(package: &str, binary: &str, profile: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // target/<profile>/deps/<test>-<hash> -> target
    let target_dir = exe
        .ancestors()
        .nth(3)
        .ok_or("the test executable is not in target/<profile>/deps")?;
    let dir = match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    };
    let path = target_dir.join(dir).join(binary);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--profile",
            profile,
            "-p",
            package,
            "--bin",
            binary,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("run cargo build --profile {profile} -p {package}: {e}"))?;
    if status.success() && path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "`cargo build --profile {profile} -p {package}` failed ({status}); expected {}",
            path.display()
        ))
    }
}
