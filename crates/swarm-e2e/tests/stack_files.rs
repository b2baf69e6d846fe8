//! The Swarm stack files as shipped, read without a swarm: compose/stack.yml is secure by default
//! (every service limited and health-checked, no bind mount of the repository, the web-config
//! secrets on the secured services, the overlay encrypted and not attachable), and the insecure
//! Prometheus configuration is the secure one without its TLS and auth lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_yaml::Value;
use swarm_e2e::security::{PUBLISHED_SERVICES, SECURED_SERVICES};

fn repo_file(path: &str) -> PathBuf {
    testkit::workspace::workspace_root().join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn services(stack: &Value) -> Vec<(String, Value)> {
    stack["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
        .collect()
}

/// A service's value for `key`, looking through `<<` merge keys (serde_yaml leaves them).
fn get(service: &Value, key: &str) -> Value {
    if let Some(v) = service.get(key) {
        return v.clone();
    }
    service
        .get("<<")
        .map(|base| get(base, key))
        .unwrap_or(Value::Null)
}

#[test]
fn every_service_is_limited_and_health_checked_without_repository_mounts() {
    let stack = yaml("compose/stack.yml");
    for (name, service) in services(&stack) {
        let deploy = get(&service, "deploy");
        let limits = get(&get(&deploy, "resources"), "limits");
        assert!(
            limits.get("cpus").is_some() && limits.get("memory").is_some(),
            "{name}: limits {limits:?}"
        );
        assert!(
            get(&service, "healthcheck").get("test").is_some(),
            "{name}: no health check"
        );
        for volume in get(&service, "volumes").as_sequence().into_iter().flatten() {
            let source = volume.as_str().unwrap_or_default();
            assert!(
                !source.starts_with('.'),
                "{name}: bind mount of the repository {source}"
            );
        }
    }
}

#[test]
fn secured_services_get_their_web_config_certificate_and_key_as_secrets() {
    let stack = yaml("compose/stack.yml");
    let all = services(&stack);
    for wanted in SECURED_SERVICES {
        let (_, service) = all
            .iter()
            .find(|(n, _)| n == wanted)
            .unwrap_or_else(|| panic!("no service {wanted}"));
        let secrets = get(service, "secrets");
        let target = |t: &str| {
            secrets
                .as_sequence()
                .into_iter()
                .flatten()
                .find(|s| s.get("target").and_then(Value::as_str) == Some(t))
                .cloned()
        };
        for t in ["web.yml", "cert.pem"] {
            assert!(target(t).is_some(), "{wanted}: no secret {t}: {secrets:?}");
        }
        let key = target("key.pem").unwrap_or_else(|| panic!("{wanted}: no key.pem"));
        // YAML 1.1 (Docker's loader) reads 0400 as octal; serde_yaml keeps it a string.
        let mode = match key.get("mode") {
            Some(Value::String(s)) => u64::from_str_radix(s, 8).ok(),
            Some(v) => v.as_u64(),
            None => None,
        };
        assert_eq!(mode, Some(0o400), "{wanted}: {key:?}");
        let text = format!(
            "{:?}{:?}",
            get(service, "environment"),
            get(service, "command")
        );
        assert!(
            text.contains("/run/secrets/web.yml"),
            "{wanted}: does not read /run/secrets/web.yml"
        );
    }
}

/// Only services behind TLS and basic auth (and Grafana: HTTPS, its own login; see
/// tests/grafana_tls.rs) publish a port.
#[test]
fn only_secured_services_publish_ports() {
    let stack = yaml("compose/stack.yml");
    for (name, service) in services(&stack) {
        if !get(&service, "ports").is_null() {
            assert!(
                PUBLISHED_SERVICES.contains(&name.as_str()),
                "{name} publishes {:?}",
                get(&service, "ports")
            );
        }
    }
    for name in PUBLISHED_SERVICES {
        assert!(
            name == "cluster-grafana" || SECURED_SERVICES.contains(&name),
            "{name} is published without TLS"
        );
    }
}

/// docker-api asks its peers (task addresses) over HTTPS under its service's name, as the web
/// user peer with the password from a secret; the insecure overlay's command drops all of it
/// (plain peers would refuse none of it but would never answer TLS).
#[test]
fn docker_api_asks_its_peers_over_https_and_the_insecure_overlay_takes_it_back() {
    let stack = yaml("compose/stack.yml");
    let service = &stack["services"]["cluster-docker-api"];
    let command = get(service, "command");
    let args: Vec<&str> = command
        .as_sequence()
        .expect("docker-api's command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for wanted in [
        "--cluster.peer-scheme=https",
        "--cluster.peer-ca-file=/run/secrets/clustermon_ca",
        "--cluster.peer-server-name=cluster-docker-api",
        "--cluster.peer-username=peer",
        "--cluster.peer-password-file=/run/secrets/web_peer_password",
    ] {
        assert!(
            args.contains(&wanted),
            "docker-api: no {wanted} in {args:?}"
        );
    }
    let secrets = format!("{:?}", get(service, "secrets"));
    for wanted in ["clustermon_ca", "web_peer_password"] {
        assert!(secrets.contains(wanted), "docker-api: no secret {wanted}");
    }
    assert_eq!(
        stack["secrets"]["web_peer_password"]["file"].as_str(),
        Some("./secrets/web_peer_password")
    );
    let insecure = yaml("compose/stack.insecure.yml");
    let plain = format!(
        "{:?}",
        insecure["services"]["cluster-docker-api"]["command"]
    );
    assert!(
        plain.contains("--path.procfs") && !plain.contains("--cluster.peer"),
        "the insecure overlay's docker-api command: {plain}"
    );
}

#[test]
fn the_overlay_network_is_encrypted_and_not_attachable() {
    let stack = yaml("compose/stack.yml");
    let network = &stack["networks"]["monitoring"];
    assert_eq!(network["driver"].as_str(), Some("overlay"));
    assert_eq!(network["driver_opts"]["encrypted"].as_str(), Some("true"));
    assert_eq!(network["attachable"].as_bool(), Some(false));
}

/// The insecure overlay's Prometheus file is prometheus-swarm.yml without the lines that turn
/// TLS and authentication on (comments aside).
#[test]
fn the_insecure_prometheus_config_is_the_secure_one_without_tls_and_auth() {
    let read = |path: &str| std::fs::read_to_string(repo_file(path)).expect(path);
    let secure = read("prometheus/prometheus-swarm.yml");
    let insecure = read("prometheus/prometheus-swarm.insecure.yml");
    let code = |text: &str, drop_security: bool| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter(|l| {
                !drop_security
                    || !["scheme: https", "tls_config:", "basic_auth:"]
                        .iter()
                        .any(|k| l.trim_start().starts_with(k))
            })
            .map(str::to_string)
            .collect()
    };
    assert!(code(&secure, false).len() > code(&secure, true).len());
    assert_eq!(code(&secure, true), code(&insecure, false));
    assert!(
        !insecure.contains("https"),
        "the insecure file still names https"
    );
}
