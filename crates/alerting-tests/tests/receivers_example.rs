//! `alertmanager/receivers.example.yml`, the documented receivers (webhook, email, Slack,
//! Discord, Telegram): amtool accepts it, and every credential in it is read from a file under
//! `/run/secrets/`, none written inline.
//! Needs `amtool` (Debian package `prometheus-alertmanager`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;

use alerting_tests::paths;

/// The secret-file keys Alertmanager 0.26 added, with the inline key 0.25 knows instead.
const NEWER_FILE_KEYS: [(&str, &str); 3] = [
    ("url_file:", "url:"),
    ("webhook_url_file:", "webhook_url:"),
    ("bot_token_file:", "bot_token:"),
];

/// `line` with a 0.26 secret-file key turned into its inline key and a placeholder value.
fn with_inline_keys(line: &str) -> String {
    let body = line.trim_start().trim_start_matches("- ");
    let indent = &line[..line.len() - body.len()];
    for (newer, inline) in NEWER_FILE_KEYS {
        if body.starts_with(newer) {
            return format!("{indent}{inline} https://placeholder.example.org/");
        }
    }
    line.to_string()
}

fn example() -> PathBuf {
    paths::workspace_root().join("alertmanager/receivers.example.yml")
}

/// `amtool check-config` of `text`, written beside a copy of the templates it names.
fn check_config(dir: &Path, text: &str) -> (bool, String) {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for t in paths::files_with_extension(&paths::alertmanager_templates_dir(), "tmpl") {
        std::fs::copy(&t, templates.join(t.file_name().unwrap())).unwrap();
    }
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(testkit::require_command(
        "amtool",
        "prometheus-alertmanager",
    ))
    .args(["check-config", config.to_str().unwrap()])
    .output()
    .expect("run amtool");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && output.contains("SUCCESS"), output)
}

#[test]
fn receivers_example_passes_amtool_check_config() {
    let text = std::fs::read_to_string(example()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ok, output) = check_config(dir.path(), &text);
    if ok {
        return;
    }
    // Debian 12's amtool is 0.25: it may refuse only the three keys added in 0.26, nothing
    // else; with those swapped for their inline forms the rest must pass as written.
    let refused: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("not found in type"))
        .collect();
    assert!(
        !refused.is_empty()
            && refused.iter().all(|l| NEWER_FILE_KEYS
                .iter()
                .any(|(key, _)| l.contains(&format!("field {}", key.trim_end_matches(':'))))),
        "amtool refused the example for more than the 0.26 file keys:\n{output}"
    );
    let older: Vec<String> = text.lines().map(with_inline_keys).collect();
    let older = older.join("\n");
    let (ok, output) = check_config(dir.path(), &older);
    assert!(ok, "amtool check-config failed on:\n{older}\n{output}");
}

#[test]
fn receivers_example_has_every_channel_and_reads_every_credential_from_a_secret_file() {
    let text = std::fs::read_to_string(example()).unwrap();
    let config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let receivers = config["receivers"].as_sequence().unwrap();
    let configs = |kind: &str| -> Vec<&serde_yaml::Value> {
        receivers
            .iter()
            .flat_map(|r| r[kind].as_sequence().into_iter().flatten())
            .collect()
    };
    // Each channel, and the key holding its secret inline that must not be there.
    for (kind, inline) in [
        ("webhook_configs", "url"),
        ("email_configs", "auth_password"),
        ("slack_configs", "api_url"),
        ("discord_configs", "webhook_url"),
        ("telegram_configs", "bot_token"),
    ] {
        let found = configs(kind);
        assert!(!found.is_empty(), "no {kind} in the example");
        for c in found {
            assert!(c[inline].is_null(), "{kind} has an inline {inline}: {c:?}");
            let auth = &c["http_config"]["authorization"];
            assert!(
                auth["credentials"].is_null(),
                "{kind} has inline credentials"
            );
        }
    }
    for key in ["smtp_auth_password", "slack_api_url"] {
        assert!(config["global"][key].is_null(), "global {key} is inline");
    }
    // Every *_file names a secret.
    let files: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().split_once("_file:"))
        .map(|(_, v)| v.trim())
        .collect();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        assert!(f.starts_with("/run/secrets/"), "{f} is not a secret file");
    }
}
