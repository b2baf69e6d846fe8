//! Starting one of the six services (shipped build) on a free loopback port, with the backends
//! it talks to: a private PostgreSQL cluster, a private redis-server, the Docker engine, and a
//! docker-api for the dashboard.

use std::time::Duration;

use testkit::postgres::PgCluster;
use testkit::redis::start_redis;
use testkit::{free_port, ServiceProcess};

use crate::binaries::shipped_binary;

/// The real backends of the services under test, started once per test.
pub struct Backends {
    pg: Option<PgCluster>,
    redis: Option<(ServiceProcess, tempfile::TempDir)>,
    /// The docker-api the dashboard forwards to.
    docker_api: Option<ServiceProcess>,
}

impl Backends {
    pub fn start() -> Self {
        let services = crate::binaries::services();
        let wants = |p: &str| services.contains(&p);
        if wants("container-exporter") || wants("docker-api") || wants("dashboard") {
            testkit::docker::require_docker();
        }
        Self {
            pg: wants("pg-exporter").then(PgCluster::start),
            redis: wants("redis-exporter").then(|| {
                let dir = tempfile::tempdir().expect("temp dir for redis");
                (start_redis(free_port(), dir.path(), &[]), dir)
            }),
            docker_api: wants("dashboard").then(|| start_process("docker-api", &[], &[])),
        }
    }

    /// The environment and flags that point `package` at its backend.
    fn wiring(&self, package: &str) -> (Vec<(&'static str, String)>, Vec<String>) {
        match package {
            "pg-exporter" => {
                let pg = self.pg.as_ref().unwrap_or_else(|| backend_missing(package));
                (vec![("DATA_SOURCE_NAME", pg.uri("postgres"))], vec![])
            }
            "redis-exporter" => {
                let (redis, _) = self
                    .redis
                    .as_ref()
                    .unwrap_or_else(|| backend_missing(package));
                (
                    vec![],
                    vec![format!("--redis.addr=redis://127.0.0.1:{}", redis.port)],
                )
            }
            "dashboard" => {
                let api = self
                    .docker_api
                    .as_ref()
                    .unwrap_or_else(|| backend_missing(package));
                (
                    vec![],
                    vec![format!("--docker-api.url=http://127.0.0.1:{}", api.port)],
                )
            }
            _ => (vec![], vec![]),
        }
    }
}

/// A running service under attack.
pub struct Target {
    pub package: &'static str,
    pub process: ServiceProcess,
}

impl Target {
    /// `package` with its real backend and `extra` flags.
    pub fn start(package: &'static str, backends: &Backends, extra: &[&str]) -> Self {
        let (env, mut args) = backends.wiring(package);
        args.extend(extra.iter().map(|a| a.to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::start_with(package, &env, &args)
    }

    /// `package` with exactly these environment variables and flags (besides the address).
    pub fn start_with(package: &'static str, env: &[(&str, &str)], args: &[&str]) -> Self {
        Self {
            package,
            process: start_process(package, env, args),
        }
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// The paths answered by the shared scrape handler (where the scrape-timeout header, the
    /// query string and `--web.max-requests` are handled).
    pub fn metric_paths(&self) -> &'static [&'static str] {
        match self.package {
            "pg-exporter" => &["/metrics", "/probe"],
            "redis-exporter" => &["/metrics", "/scrape"],
            _ => &["/metrics"],
        }
    }

    /// The metric name prefix of the service's own families (`docker_api`, `pg_exporter`).
    pub fn metric_prefix(&self) -> String {
        self.package.replace('-', "_")
    }

    /// GETs `path` and returns the body of a 200, or an error with the status and the log.
    pub fn scrape(&self, path: &str) -> Result<String, String> {
        let url = self.process.url(path);
        match testkit::http::get_with(&url, &[], Duration::from_secs(30)) {
            Ok(r) if r.status == 200 => Ok(r.body),
            Ok(r) => Err(format!("GET {url}: {} {}", r.status, r.body)),
            Err(e) => Err(format!("GET {url}: {e}")),
        }
    }

    /// The value of the sample `name{labels}` in a scrape of `/metrics` (0 when absent).
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Result<f64, String> {
        let body = self.scrape("/metrics")?;
        let families = testkit::parse_exposition(&body).map_err(|e| format!("parse: {e:?}"))?;
        Ok(families
            .values()
            .flat_map(|f| f.samples.iter())
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum())
    }
}

fn backend_missing<T>(package: &str) -> T {
    panic!("{package}: its backend was not started (is it among CLUSTERMON_ABUSE_SERVICES?)")
}

fn start_process(package: &'static str, env: &[(&str, &str)], args: &[&str]) -> ServiceProcess {
    let port = free_port();
    let mut all = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--log.level=warn".to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    ServiceProcess::start_with_env(shipped_binary(package), &all, env, port)
}
