//! The files this crate tests, found from the workspace root.

use std::path::{Path, PathBuf};

/// The repository root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `prometheus/alerts`: the rule files Prometheus loads (`rule_files: [alerts/*.yml]`).
pub fn alert_rules_dir() -> PathBuf {
    workspace_root().join("prometheus/alerts")
}

/// `prometheus/tests`: the `promtool test rules` unit tests.
pub fn rule_tests_dir() -> PathBuf {
    workspace_root().join("prometheus/tests")
}

/// `alertmanager/alertmanager.yml`.
pub fn alertmanager_config() -> PathBuf {
    workspace_root().join("alertmanager/alertmanager.yml")
}

/// `alertmanager/templates`: notification templates, loaded relative to the config file.
pub fn alertmanager_templates_dir() -> PathBuf {
    workspace_root().join("alertmanager/templates")
}

/// `grafana/dashboards`: the dashboards' JSON.
pub fn dashboards_dir() -> PathBuf {
    workspace_root().join("grafana/dashboards")
}

/// `grafana/provisioning`: datasources and dashboard providers.
pub fn grafana_provisioning_dir() -> PathBuf {
    workspace_root().join("grafana/provisioning")
}

/// The `*.yml` files directly in `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "yml")
}

/// The files directly in `dir` whose extension is `extension`, sorted.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == extension))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A binary of this workspace (e.g. `redis-exporter`), built by Cargo into the same target
/// directory as the running test; built now with `cargo build -p <package>` if it is missing
/// (when only this crate's tests were asked for).
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
