//! Helpers for clustermon's integration tests: start a service binary on a free port, scrape it
//! over HTTP or HTTPS with basic auth ([`client::Client`]), parse the Prometheus text format, run
//! `promtool check metrics`, ask Prometheus and Alertmanager ([`prometheus`]), poll with a bounded
//! wait ([`wait`]), and start a throwaway PostgreSQL cluster ([`postgres::PgCluster`]).
//!
//! Test-only code: failures panic with a message that says what is missing and how to get it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "browser")]
pub mod browser;
pub mod client;
pub mod docker;
pub mod exposition;
pub mod fake_daemon;
pub mod http;
pub mod lab_check;
pub mod netns;
pub mod node_parity;
pub mod parity;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod redis;
pub mod stream_caps;
pub mod tls;
pub mod upstream;
pub mod wait;
pub mod workspace;

pub use client::{Client, Credentials};
pub use exposition::{parse as parse_exposition, Family, Sample};
pub use http::{get, Response};
pub use process::{free_port, require_command, ServiceProcess};

/// Runs `promtool <args> <files>` from the repository root; returns whether it succeeded and
/// what it printed (stdout, then stderr).
pub fn promtool(args: &[&str], files: &[std::path::PathBuf]) -> (bool, String) {
    let promtool = require_command("promtool", "prometheus");
    let out = std::process::Command::new(promtool)
        .args(args)
        .args(files)
        .current_dir(workspace::workspace_root())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs `promtool check metrics` on `text`; returns its complaints (empty when clean).
pub fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let promtool = require_command("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let mut complaints = String::from_utf8_lossy(&out.stdout).into_owned();
    complaints.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && complaints.trim().is_empty() {
        complaints = format!("promtool exited with {}", out.status);
    }
    complaints.trim().to_string()
}
