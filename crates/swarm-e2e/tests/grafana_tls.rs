//! Grafana over HTTPS in both stacks, checked without Grafana: no Grafana image exists on this
//! machine (no registry; the offline stacks run it with no replica or leave it out), so its TLS
//! is never exercised live here. What can be checked is everything Grafana would be given:
//! compose/docker-compose.yml and compose/stack.yml turn HTTPS on with a certificate and key
//! that `scripts/stack secrets` makes (run in a scratch copy of the repository layout), that
//! certificate verifies against the stack's CA under `cluster-grafana` and goes with the key (a
//! real TLS server, host-exporter, serves the pair and a rustls client checks it as the checks
//! do), the health checks and Prometheus' grafana jobs ask https, and the insecure overlays
//! turn it back to plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use testkit::Client;

const TLS_NAME: &str = "cluster-grafana";

fn repo_file(path: &str) -> PathBuf {
    testkit::workspace::workspace_root().join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn grafana(stack: &Value, path: &str) -> Value {
    let service = stack["services"]["cluster-grafana"].clone();
    assert!(!service.is_null(), "{path}: no cluster-grafana");
    service
}

/// An environment variable of a service (a mapping in our files).
fn env(service: &Value, key: &str) -> Option<String> {
    service["environment"][key].as_str().map(str::to_string)
}

/// The health check's command, as one string.
fn health(service: &Value) -> String {
    service["healthcheck"]["test"]
        .as_sequence()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `scripts/stack secrets` in a scratch directory laid out as the repository (the script works
/// relative to its own path): its compose/secrets/, as a fresh checkout gets them.
fn stack_secrets() -> tempfile::TempDir {
    testkit::require_command("openssl", "openssl");
    testkit::require_command("htpasswd", "apache2-utils");
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("scripts")).unwrap();
    std::fs::create_dir_all(root.path().join("compose")).unwrap();
    std::fs::copy(
        repo_file("scripts/stack"),
        root.path().join("scripts/stack"),
    )
    .unwrap();
    let out = Command::new("bash")
        .arg(root.path().join("scripts/stack"))
        .arg("secrets")
        .env("DOCKER_GID", "999")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/stack secrets: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

/// Where compose/docker-compose.yml's Grafana finds `in_container`: the host side of the bind
/// mount holding it, under `compose` (the file's own directory).
fn compose_host_path(service: &Value, in_container: &str, compose: &Path) -> PathBuf {
    for volume in service["volumes"].as_sequence().into_iter().flatten() {
        let spec = volume.as_str().unwrap_or_default();
        let mut parts = spec.split(':');
        let (Some(host), Some(target)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Some(rest) = in_container.strip_prefix(&format!("{target}/")) {
            if host.starts_with('.') {
                return compose.join(host).join(rest);
            }
        }
    }
    panic!("docker-compose.yml: no bind mount of the repository holds {in_container}")
}

/// Where compose/stack.yml's Grafana finds `in_container` (/run/secrets/<target>): the file of
/// the secret mounted there, under `compose`, and that secret's mount entry.
fn stack_secret_path(
    stack: &Value,
    service: &Value,
    in_container: &str,
    compose: &Path,
) -> (PathBuf, Value) {
    let target = in_container
        .strip_prefix("/run/secrets/")
        .unwrap_or_else(|| panic!("stack.yml: {in_container} is not a secret"));
    let entry = service["secrets"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|s| s["target"].as_str() == Some(target))
        .cloned()
        .unwrap_or_else(|| panic!("stack.yml: Grafana has no secret with target {target}"));
    let source = entry["source"].as_str().expect("a secret's source");
    let file = stack["secrets"][source]["file"]
        .as_str()
        .unwrap_or_else(|| panic!("stack.yml: secret {source} has no file"));
    (compose.join(file), entry)
}

/// Serves `cert` and `key` over TLS (host-exporter's web config) and asks it as the Swarm
/// checks and Prometheus would: checked against `ca` under cluster-grafana, at 127.0.0.1.
fn handshake_as_cluster_grafana(ca: &Path, cert: &Path, key: &Path, dir: &Path) {
    let (_server, port) = testkit::tls::serve_pair(cert, key, dir, "127.0.0.1");
    let client = Client::new(ca, None).unwrap().with_server_name(TLS_NAME);
    let response = client
        .get(&format!("https://127.0.0.1:{port}/health"))
        .unwrap_or_else(|e| panic!("{} as {TLS_NAME}: {e}", cert.display()));
    assert_eq!(response.status, 200, "{}", response.body);
}

#[test]
fn grafana_serves_https_with_the_certificate_scripts_stack_makes_for_cluster_grafana() {
    let scratch = stack_secrets();
    let compose = scratch.path().join("compose");
    let ca = compose.join("secrets/ca/ca.pem");

    let compose_file = yaml("compose/docker-compose.yml");
    let service = grafana(&compose_file, "docker-compose.yml");
    assert_eq!(
        env(&service, "GF_SERVER_PROTOCOL").as_deref(),
        Some("https")
    );
    let cert = env(&service, "GF_SERVER_CERT_FILE").expect("compose: GF_SERVER_CERT_FILE");
    let key = env(&service, "GF_SERVER_CERT_KEY").expect("compose: GF_SERVER_CERT_KEY");
    let compose_pair = (
        compose_host_path(&service, &cert, &compose),
        compose_host_path(&service, &key, &compose),
    );
    assert!(
        health(&service).contains("https://127.0.0.1:3000/"),
        "compose: Grafana's health check {}",
        health(&service)
    );

    let stack = yaml("compose/stack.yml");
    let service = grafana(&stack, "stack.yml");
    assert_eq!(
        env(&service, "GF_SERVER_PROTOCOL").as_deref(),
        Some("https")
    );
    let cert = env(&service, "GF_SERVER_CERT_FILE").expect("stack: GF_SERVER_CERT_FILE");
    let key = env(&service, "GF_SERVER_CERT_KEY").expect("stack: GF_SERVER_CERT_KEY");
    let (stack_cert, _) = stack_secret_path(&stack, &service, &cert, &compose);
    let (stack_key, key_entry) = stack_secret_path(&stack, &service, &key, &compose);
    // Grafana runs as 472; the key is its alone (YAML 1.1 reads 0400 as octal, serde_yaml
    // keeps it a string).
    assert_eq!(key_entry["uid"].as_str(), Some("472"), "{key_entry:?}");
    let mode = match &key_entry["mode"] {
        Value::String(s) => u64::from_str_radix(s, 8).ok(),
        v => v.as_u64(),
    };
    assert_eq!(mode, Some(0o400), "{key_entry:?}");
    assert!(
        health(&service).contains("https://127.0.0.1:3000/"),
        "stack: Grafana's health check {}",
        health(&service)
    );

    // Both stacks give Grafana the same pair, which the script made.
    assert_eq!(compose_pair, (stack_cert.clone(), stack_key.clone()));
    for file in [&stack_cert, &stack_key] {
        assert!(
            file.is_file(),
            "scripts/stack secrets made no {}",
            file.display()
        );
    }
    handshake_as_cluster_grafana(&ca, &stack_cert, &stack_key, scratch.path());
}

#[test]
fn prometheus_scrapes_grafana_over_https_checked_against_the_ca() {
    let job = |path: &str| -> Value {
        yaml(path)["scrape_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|j| j["job_name"].as_str() == Some("grafana"))
            .cloned()
            .unwrap_or_else(|| panic!("{path}: no grafana job"))
    };
    for path in [
        "prometheus/prometheus.yml",
        "prometheus/prometheus-swarm.yml",
    ] {
        let job = job(path);
        assert_eq!(job["scheme"].as_str(), Some("https"), "{path}: {job:?}");
        assert_eq!(
            job["tls_config"]["ca_file"].as_str(),
            Some("/run/secrets/clustermon_ca"),
            "{path}: {job:?}"
        );
    }
    // Swarm targets are task addresses: the name comes from server_name.
    assert_eq!(
        job("prometheus/prometheus-swarm.yml")["tls_config"]["server_name"].as_str(),
        Some(TLS_NAME)
    );
}

#[test]
fn the_insecure_overlays_give_grafana_plain_http_back() {
    for path in [
        "compose/docker-compose.insecure.yml",
        "compose/stack.insecure.yml",
    ] {
        let service = grafana(&yaml(path), path);
        assert_eq!(
            env(&service, "GF_SERVER_PROTOCOL").as_deref(),
            Some("http"),
            "{path}"
        );
        assert!(
            health(&service).contains("http://127.0.0.1:3000/"),
            "{path}: Grafana's health check {}",
            health(&service)
        );
    }
}
