//! The dashboard's requests to docker-api and Alertmanager over TLS with basic auth: the real
//! docker-api binary and the real Alertmanager (Debian's `prometheus-alertmanager`), each with an
//! exporter-toolkit web configuration file (TLS, bcrypt user); the dashboard checks their
//! certificates with a CA file and reads its password from a file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{docker_api_binary, json_body, start_dashboard};
use serde_json::json;
use testkit::client::{Client, Credentials};
use testkit::docker::require_docker;
use testkit::tls::ProtectedService;
use testkit::{free_port, require_command, ServiceProcess};

const USER: &str = "dashboard";
const PASSWORD: &str = "upstream-s3cret";

/// A CA, a server certificate for localhost signed by it, a web configuration file with TLS
/// and the dashboard's bcrypt user, and the password file.
fn pki() -> ProtectedService {
    ProtectedService::new("upstream", USER, PASSWORD)
}

fn until_ok(what: &str, process: &ServiceProcess, check: impl Fn() -> Result<(), String>) {
    testkit::wait::until(what, Duration::from_secs(30), check)
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", process.logs()));
}

fn start_docker_api_tls(pki: &ProtectedService) -> ServiceProcess {
    let port = free_port();
    let args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--web.config.file={}", pki.web_config.display()),
        "--log.level=warn".into(),
    ];
    let process = ServiceProcess::start(docker_api_binary(), &args, port);
    let client = Client::new(
        &pki.ca,
        Some(Credentials::from_file(USER, &pki.password_file).unwrap()),
    )
    .unwrap();
    let url = format!("https://localhost:{port}/api/containers");
    until_ok("docker-api to list containers over TLS", &process, || {
        let status = client.get(&url)?.status;
        testkit::wait::check(status == 200, || format!("status {status}"))
    });
    process
}

fn start_alertmanager_tls(pki: &ProtectedService) -> ServiceProcess {
    let binary = require_command("prometheus-alertmanager", "prometheus-alertmanager");
    let config = pki.dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let data = pki.dir.path().join("am-data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", data.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--web.config.file={}", pki.web_config.display()),
        "--cluster.listen-address=".into(),
    ];
    let process = ServiceProcess::start(binary, &args, port);
    let client = Client::new(
        &pki.ca,
        Some(Credentials::from_file(USER, &pki.password_file).unwrap()),
    )
    .unwrap();
    let url = format!("https://localhost:{port}/-/ready");
    until_ok("Alertmanager to be ready over TLS", &process, || {
        let status = client.get(&url)?.status;
        testkit::wait::check(status == 200, || format!("status {status}"))
    });
    process
}

fn flags(pki: &ProtectedService, section: &str, password_file: &Path) -> Vec<String> {
    vec![
        format!("--{section}.ca-file={}", pki.ca.display()),
        format!("--{section}.username={USER}"),
        format!("--{section}.password-file={}", password_file.display()),
    ]
}

#[test]
fn docker_dashboard_reaches_docker_api_and_alertmanager_over_tls_with_basic_auth() {
    require_docker();
    let pki = pki();
    let docker_api = start_docker_api_tls(&pki);
    let alertmanager = start_alertmanager_tls(&pki);
    let am_client = Client::new(
        &pki.ca,
        Some(Credentials::from_file(USER, &pki.password_file).unwrap()),
    )
    .unwrap();
    let am_url = format!("https://localhost:{}", alertmanager.port);
    testkit::prometheus::Alertmanager::new(am_url.clone(), am_client)
        .post_alerts(&json!([{
            "labels": {"alertname": "UpstreamTlsAlert", "severity": "warning"},
            "annotations": {"summary": "raised by the dashboard's TLS test"},
        }]))
        .unwrap();

    let mut args = vec![format!("--alertmanager.url={am_url}")];
    args.extend(flags(&pki, "docker-api", &pki.password_file));
    args.extend(flags(&pki, "alertmanager", &pki.password_file));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dashboard = start_dashboard(&format!("https://localhost:{}", docker_api.port), &args);

    let list = testkit::http::get(&dashboard.url("/api/containers"));
    assert_eq!(list.status, 200, "{list:?}\n{}", dashboard.logs());
    assert!(json_body(&list)["containers"].is_array());
    until_ok("the posted alert on /alerts", &dashboard, || {
        let r = testkit::http::get_with(&dashboard.url("/alerts"), &[], Duration::from_secs(10))?;
        testkit::wait::check(
            r.status == 200 && r.body.contains("UpstreamTlsAlert"),
            || format!("{} {}", r.status, r.body),
        )
    });
    let health = json_body(&testkit::http::get(&dashboard.url("/health")));
    assert_eq!(health["docker_api"]["reachable"], true, "{health}");
    // The password is in no answer and no log line.
    let everything = format!(
        "{}{}{}",
        health,
        testkit::http::get(&dashboard.url("/metrics")).body,
        dashboard.logs()
    );
    assert!(!everything.contains(PASSWORD));

    // A wrong password: docker-api and Alertmanager refuse the dashboard.
    let wrong = pki.file("wrong", "not-the-password");
    let mut args = vec![format!("--alertmanager.url={am_url}")];
    args.extend(flags(&pki, "docker-api", &wrong));
    args.extend(flags(&pki, "alertmanager", &wrong));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = start_dashboard(&format!("https://localhost:{}", docker_api.port), &args);
    // (502, not 401: the browser's session is fine, the dashboard's credentials are not.)
    let r = testkit::http::get(&refused.url("/api/containers"));
    assert_eq!(r.status, 502, "{r:?}");
    assert!(
        r.body.contains("refused the dashboard's credentials"),
        "{}",
        r.body
    );
    assert_ne!(testkit::http::get(&refused.url("/alerts")).status, 200);

    // A CA that did not sign the upstreams' certificates: the handshake fails (502), nothing is sent.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = testkit::postgres::certificates(other.path(), "other");
    let args = [
        format!("--docker-api.ca-file={}", other_ca.display()),
        format!("--docker-api.username={USER}"),
        format!("--docker-api.password-file={}", pki.password_file.display()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let untrusted = start_dashboard(&format!("https://localhost:{}", docker_api.port), &args);
    let r = testkit::http::get(&untrusted.url("/api/containers"));
    assert_eq!(r.status, 502, "{r:?}");
    assert!(r.body.to_lowercase().contains("certificate"), "{}", r.body);
}
