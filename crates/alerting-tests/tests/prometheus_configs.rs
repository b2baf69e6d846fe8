//! The Prometheus configurations in `prometheus/`: the compose stack's, the Swarm stack's and the
//! scale-out ones in `prometheus/scale/` (docs/scaling.md) pass `promtool check config` (which
//! also checks every rule file they load) without warnings, and the scale-out recording rules
//! pass `promtool check rules`. Needs `promtool` (Debian package `prometheus`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use alerting_tests::paths;

use testkit::promtool;

fn assert_clean(args: &[&str], files: &[PathBuf]) {
    let (ok, output) = promtool(args, files);
    assert!(ok, "promtool {args:?} failed:\n{output}");
    assert!(
        !output.to_lowercase().contains("warning"),
        "promtool {args:?} warned:\n{output}"
    );
}

#[test]
fn stack_and_swarm_configs_pass_promtool_check_config() {
    let dir = paths::workspace_root().join("prometheus");
    assert_clean(
        &["check", "config"],
        &[dir.join("prometheus.yml"), dir.join("prometheus-swarm.yml")],
    );
}

#[test]
fn scale_out_configs_pass_promtool_check_config() {
    let dir = paths::workspace_root().join("prometheus/scale");
    let configs = paths::yaml_files(&dir);
    assert!(
        configs.len() >= 2,
        "want the shard and the federation configs in {}, found {configs:?}",
        dir.display()
    );
    assert_clean(&["check", "config"], &configs);
    assert_clean(&["check", "rules"], &paths::yaml_files(&dir.join("rules")));
}
