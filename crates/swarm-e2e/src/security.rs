//! The secured stack's checks: every target scraped over TLS with basic auth, the published
//! ports TLS-only with basic auth, and what `docker service inspect` and `docker network
//! inspect` show of the secrets, limits, health checks and the overlay network.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::Value;
use testkit::wait::until_deadline;
use testkit::{Client, Credentials};

use crate::clients;
use crate::lab::{Lab, TLS_ALERTMANAGER, TLS_DASHBOARD, TLS_DOCKER_API, TLS_PROMETHEUS};

/// The services that serve HTTPS with basic auth from their own web-config file, as
/// `<stack>_<service>`: each has the secrets `web.yml`, `cert.pem` and `key.pem`.
pub const SECURED_SERVICES: [&str; 8] = [
    "cluster-prometheus",
    "cluster-alertmanager",
    "cluster-host-exporter",
    "cluster-pg-exporter",
    "cluster-redis-exporter",
    "cluster-container-exporter",
    "cluster-docker-api",
    "cluster-dashboard",
];

/// The services whose ports the stack publishes: the secured ones above, and Grafana (HTTPS
/// from its own settings, its own login; no replica in the offline lab).
pub const PUBLISHED_SERVICES: [&str; 5] = [
    "cluster-prometheus",
    "cluster-alertmanager",
    "cluster-docker-api",
    "cluster-dashboard",
    "cluster-grafana",
];

/// The secrets docker-api asks its peers with: the CA their certificates are checked against
/// and the web user peer's password file.
pub const DOCKER_API_PEER_SECRETS: [&str; 2] = ["clustermon_ca", "web_peer_password"];

/// One published port: what answers there, where, and a path that needs a login.
struct Published {
    what: String,
    address: String,
    port: u16,
    path: &'static str,
    tls_name: &'static str,
}

/// Every active target UP and scraped over `https://`, and Prometheus' Alertmanager reached
/// over `https://` (retried while targets are still coming up).
pub fn targets_secure(lab: &Lab) -> anyhow::Result<String> {
    let prometheus = lab.prometheus_api();
    let deadline = Instant::now() + Duration::from_secs(60);
    let jobs = until_deadline(
        "every target UP over https",
        deadline,
        || -> anyhow::Result<Vec<String>> {
            let targets = prometheus.targets().map_err(anyhow::Error::msg)?;
            ensure!(!targets.is_empty(), "no active target");
            let mut jobs: Vec<String> = Vec::new();
            for target in &targets {
                let job = target.job();
                ensure!(
                    target.scrape_url.starts_with("https://"),
                    "job {job} scrapes {} (not https)",
                    target.scrape_url
                );
                ensure!(
                    target.is_up(),
                    "job {job} target {} is {}: {}",
                    target.scrape_url,
                    target.health,
                    target.last_error
                );
                if !jobs.iter().any(|j| j == job) {
                    jobs.push(job.to_string());
                }
            }
            for wanted in [
                "prometheus",
                "alertmanager",
                "postgres",
                "redis",
                "docker-api",
            ] {
                ensure!(
                    jobs.iter().any(|j| j == wanted),
                    "no {wanted} target; jobs {jobs:?}"
                );
            }
            let managers = prometheus
                .api("/api/v1/alertmanagers")
                .map_err(anyhow::Error::msg)?;
            let urls: Vec<&str> = managers["activeAlertmanagers"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m["url"].as_str()).collect())
                .unwrap_or_default();
            ensure!(
                !urls.is_empty() && urls.iter().all(|u| u.starts_with("https://")),
                "Prometheus' Alertmanagers: {urls:?}, want https:// only"
            );
            Ok(jobs)
        },
    )?;
    Ok(format!(
        "every target of {} jobs UP ({}), all over https; alerts to Alertmanager over https",
        jobs.len(),
        jobs.join(", ")
    ))
}

/// Every published port (docker-api's on every node): plain HTTP gets no answer of the service,
/// HTTPS without credentials and with a wrong password 401, with the right ones 200. The
/// dashboard's 200 for a docker-api path and for its alerts shows it reaches docker-api and
/// Alertmanager over HTTPS with its credentials.
pub fn published_ports_secure(lab: &Lab) -> anyhow::Result<String> {
    let (ca, user, password_file) = match (&lab.ca_file, &lab.web_user, &lab.web_password_file) {
        (Some(ca), Some(user), Some(file)) => (ca, user, file),
        _ => bail!("the lab names no ca_file, web_user and web_password_file"),
    };
    let right = Credentials::from_file(user, password_file).map_err(anyhow::Error::msg)?;
    let wrong = Credentials {
        user: user.clone(),
        password: format!("{}-wrong", right.password),
    };
    let https = Client::new(ca, None).map_err(anyhow::Error::msg)?;
    let mut report = Vec::new();
    for port in published(lab)? {
        let base = format!("{}:{}{}", port.address, port.port, port.path);
        let plain = Client::plain().with_timeout(Duration::from_secs(5));
        match plain.get(&format!("http://{base}")) {
            Err(_) => {}
            // Go's TLS servers answer a plain request with this 400 and nothing of theirs.
            Ok(r) if r.status == 400 => {}
            Ok(r) => bail!(
                "{}: plain http://{base} answered {} (a TLS port must not answer plain HTTP)",
                port.what,
                r.status
            ),
        }
        let client = https.with_server_name(port.tls_name);
        let url = format!("https://{base}");
        for (how, auth) in [
            ("no credentials", None),
            ("a wrong password", Some(wrong.clone())),
        ] {
            let response = client
                .with_auth(auth)
                .get(&url)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{}: GET {url} with {how}", port.what))?;
            ensure!(
                response.status == 401,
                "{}: GET {url} with {how}: status {}, want 401",
                port.what,
                response.status
            );
        }
        let response = client
            .with_auth(Some(right.clone()))
            .get(&url)
            .map_err(anyhow::Error::msg)?;
        ensure!(
            response.status == 200,
            "{}: GET {url} as {user}: status {}, want 200: {}",
            port.what,
            response.status,
            response.body
        );
        report.push(port.what);
    }
    if let (Some(port), Ok(manager)) = (lab.dashboard_port, lab.manager()) {
        let url = format!("https://{}:{port}/alerts", manager.address);
        let alerts = clients::get_json(
            &https
                .with_server_name(TLS_DASHBOARD)
                .with_auth(Some(right.clone())),
            &url,
        )?;
        ensure!(
            alerts["configured"] == true && alerts["alerts"].is_array(),
            "{url}: the dashboard did not read Alertmanager: {alerts}"
        );
        report.push("the dashboard's alerts from Alertmanager".into());
    }
    Ok(format!(
        "plain HTTP refused, 401 without and with a wrong password, 200 as {user}: {}",
        report.join(", ")
    ))
}

fn published(lab: &Lab) -> anyhow::Result<Vec<Published>> {
    let manager = lab.manager()?;
    let port_of = |url: &str| -> anyhow::Result<u16> {
        url.rsplit_once(':')
            .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
            .with_context(|| format!("no port in {url}"))
    };
    let mut ports = vec![
        Published {
            what: "Prometheus".into(),
            address: manager.address.clone(),
            port: port_of(&lab.prometheus)?,
            path: "/api/v1/status/buildinfo",
            tls_name: TLS_PROMETHEUS,
        },
        Published {
            what: "Alertmanager".into(),
            address: manager.address.clone(),
            port: port_of(&lab.alertmanager)?,
            path: "/api/v2/status",
            tls_name: TLS_ALERTMANAGER,
        },
    ];
    for node in &lab.nodes {
        ports.push(Published {
            what: format!("docker-api on {}", node.name),
            address: node.address.clone(),
            port: lab.docker_api_port,
            path: "/api/containers",
            tls_name: TLS_DOCKER_API,
        });
    }
    if let Some(port) = lab.dashboard_port {
        ports.push(Published {
            what: "the dashboard (docker-api through it)".into(),
            address: manager.address.clone(),
            port,
            path: "/api/containers",
            tls_name: TLS_DASHBOARD,
        });
    }
    Ok(ports)
}

/// `docker service inspect` of every service of the stack: CPU and memory limits, a health
/// check, no bind mount of the repository, no published port but on the published services;
/// the secured ones with their web.yml, cert.pem and key.pem secrets (the key readable by its
/// owner alone), docker-api also with the CA and the peer password it asks its peers with; no
/// password in any environment.
/// `docker network inspect`: the overlay network not attachable, encrypted as the lab deployed it.
pub fn inspected(lab: &Lab) -> anyhow::Result<String> {
    let socket = &lab.manager()?.socket;
    let names = clients::docker(
        socket,
        &[
            "service",
            "ls",
            "--filter",
            &format!("label=com.docker.stack.namespace={}", lab.stack),
            "--format",
            "{{.Name}}",
        ],
    )?;
    let names: Vec<&str> = names.lines().collect();
    ensure!(names.len() >= 11, "the stack has services {names:?}");
    let repo = testkit::workspace::workspace_root();
    let passwords = passwords(lab)?;
    for name in &names {
        let spec = service_spec(socket, name)?;
        let short = name
            .strip_prefix(&format!("{}_", lab.stack))
            .unwrap_or(name);
        service_is_limited(name, &spec)?;
        no_repository_mount(name, &spec, &repo)?;
        no_password_in_environment(name, &spec, &passwords)?;
        if SECURED_SERVICES.contains(&short) {
            has_web_secrets(name, &spec)?;
        }
        if short == "cluster-docker-api" {
            asks_peers_over_tls(name, &spec)?;
        }
        if !PUBLISHED_SERVICES.contains(&short) {
            let ports = &spec["EndpointSpec"]["Ports"];
            ensure!(
                ports.as_array().is_none_or(Vec::is_empty),
                "{name}: publishes {ports}"
            );
        }
    }
    for wanted in SECURED_SERVICES {
        let full = format!("{}_{wanted}", lab.stack);
        ensure!(names.contains(&full.as_str()), "no service {full}");
    }
    let network = format!("{}_monitoring", lab.stack);
    let inspect = clients::docker(socket, &["network", "inspect", &network])?;
    let inspect: Value = serde_json::from_str(&inspect).context("docker network inspect")?;
    let net = &inspect[0];
    ensure!(
        net["Driver"] == "overlay",
        "{network}: driver {}",
        net["Driver"]
    );
    ensure!(
        net["Attachable"] == false,
        "{network}: Attachable {}",
        net["Attachable"]
    );
    let encrypted = net["Options"].get("encrypted").is_some();
    ensure!(
        encrypted == lab.overlay_encrypted,
        "{network}: encrypted {encrypted}, the lab deployed it with encrypted {} (options {})",
        lab.overlay_encrypted,
        net["Options"]
    );
    Ok(format!(
        "{} services with CPU/memory limits, health checks and no bind mount of the repository; \
         {} with web.yml, cert.pem and key.pem (0400) secrets; docker-api with the CA and \
         web_peer_password, asking its peers over https under {TLS_DOCKER_API}; no password in \
         any environment; {network}: overlay, not attachable, encrypted {encrypted}",
        names.len(),
        SECURED_SERVICES.len()
    ))
}

fn service_spec(socket: &str, name: &str) -> anyhow::Result<Value> {
    let text = clients::docker(socket, &["service", "inspect", name])?;
    let inspect: Value =
        serde_json::from_str(&text).with_context(|| format!("docker service inspect {name}"))?;
    Ok(inspect[0]["Spec"].clone())
}

fn service_is_limited(name: &str, spec: &Value) -> anyhow::Result<()> {
    let limits = &spec["TaskTemplate"]["Resources"]["Limits"];
    ensure!(
        limits["NanoCPUs"].as_u64().unwrap_or(0) > 0
            && limits["MemoryBytes"].as_u64().unwrap_or(0) > 0,
        "{name}: limits {limits}, want CPU and memory"
    );
    let test = &spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"];
    let first = test[0].as_str().unwrap_or_default();
    ensure!(
        first == "CMD" || first == "CMD-SHELL",
        "{name}: health check {test}"
    );
    Ok(())
}

fn no_repository_mount(name: &str, spec: &Value, repo: &Path) -> anyhow::Result<()> {
    let mounts = spec["TaskTemplate"]["ContainerSpec"]["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for mount in &mounts {
        let source = mount["Source"].as_str().unwrap_or_default();
        ensure!(
            !(mount["Type"] == "bind" && Path::new(source).starts_with(repo)),
            "{name}: bind mount of the repository {source}"
        );
    }
    Ok(())
}

fn has_web_secrets(name: &str, spec: &Value) -> anyhow::Result<()> {
    let secrets = spec["TaskTemplate"]["ContainerSpec"]["Secrets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let file = |target: &str| {
        secrets
            .iter()
            .find(|s| s["File"]["Name"] == target)
            .map(|s| s["File"].clone())
    };
    for target in ["web.yml", "cert.pem", "key.pem"] {
        ensure!(
            file(target).is_some(),
            "{name}: no secret {target} in {secrets:?}"
        );
    }
    let key = file("key.pem").unwrap_or_default();
    ensure!(
        key["Mode"] == 0o400 && key["UID"] != "0",
        "{name}: key.pem {key}, want mode 0400 owned by the service's user"
    );
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    let mentions = |v: &Value| v.to_string().contains("/run/secrets/web.yml");
    ensure!(
        mentions(&container["Env"]) || mentions(&container["Args"]),
        "{name}: neither its environment nor its arguments name /run/secrets/web.yml"
    );
    Ok(())
}

/// docker-api's peer settings as the service carries them: the CA and peer password as
/// secrets; https, the service's name as the peers' certificate name and the web user peer in
/// its arguments, the password as a file path only.
fn asks_peers_over_tls(name: &str, spec: &Value) -> anyhow::Result<()> {
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    let secrets: Vec<&str> = container["Secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["File"]["Name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for wanted in DOCKER_API_PEER_SECRETS {
        ensure!(
            secrets.contains(&wanted),
            "{name}: no secret {wanted} in {secrets:?}"
        );
    }
    let args: Vec<&str> = container["Args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for wanted in [
        "--cluster.peer-scheme=https".to_string(),
        "--cluster.peer-ca-file=/run/secrets/clustermon_ca".to_string(),
        format!("--cluster.peer-server-name={TLS_DOCKER_API}"),
        "--cluster.peer-username=peer".to_string(),
        "--cluster.peer-password-file=/run/secrets/web_peer_password".to_string(),
    ] {
        ensure!(
            args.contains(&wanted.as_str()),
            "{name}: no {wanted} in its arguments {args:?}"
        );
    }
    Ok(())
}

/// The stack's web passwords, which no service may carry in its environment.
fn passwords(lab: &Lab) -> anyhow::Result<Vec<String>> {
    let Some(dir) = lab.web_password_file.as_deref().and_then(Path::parent) else {
        return Ok(Vec::new());
    };
    [
        "web_admin_password",
        "web_prometheus_password",
        "web_dashboard_password",
        "web_peer_password",
    ]
    .iter()
    .map(|f| {
        let path = dir.join(f);
        std::fs::read_to_string(&path)
            .map(|p| p.trim().to_string())
            .with_context(|| format!("reading {}", path.display()))
    })
    .collect()
}

fn no_password_in_environment(
    name: &str,
    spec: &Value,
    passwords: &[String],
) -> anyhow::Result<()> {
    let env = spec["TaskTemplate"]["ContainerSpec"]["Env"].to_string();
    let args = spec["TaskTemplate"]["ContainerSpec"]["Args"].to_string();
    for password in passwords.iter().filter(|p| !p.is_empty()) {
        ensure!(
            !env.contains(password.as_str()) && !args.contains(password.as_str()),
            "{name}: a web password in its environment or arguments"
        );
    }
    Ok(())
}
