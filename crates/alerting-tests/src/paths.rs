//! The files this crate tests, found from the workspace root.

use std::path::{Path, PathBuf};

pub use testkit::workspace::{workspace_binary, workspace_root};

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
