//! Starting one of the six services (shipped build) on a free loopback port, with the backends
//! it talks to: a private PostgreSQL cluster, a private redis-server, the Docker engine, and a
//! docker-api for the dashboard.

use std::time::Duration;

use testkit::postgres::PgCluster;
use testkit::redis::start_redis;
use testkit::{free_port, ServiceProcess};

use crate::binaries::shipped_binary;

/// The real backends, started once per test.
pub struct Backends {
    pub pg: PgCluster,
    pub redis: ServiceProcess,
    _redis_dir: tempfile::TempDir,
    /// The docker-api the dashboard forwards to.
    pub docker_api: ServiceProcess,
}

impl Backends {
    pub fn start() -> Self {
        testkit::docker::require_docker();
        let pg = PgCluster::start();
        let redis_dir = tempfile::tempdir().expect("temp dir for redis");
        let redis = start_redis(free_port(), redis_dir.path(), &[]);
        let docker_api = start_process("docker-api", &[], &[]);
        Self {
            pg,
            redis,
            _redis_dir: redis_dir,
            docker_api,
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
        let pg = backends.pg.uri("postgres");
        let redis = format!("--redis.addr=redis://127.0.0.1:{}", backends.redis.port);
        let docker_api = format!(
            "--docker-api.url=http://127.0.0.1:{}",
            backends.docker_api.port
        );
        let (env, mut args): (Vec<(&str, &str)>, Vec<&str>) = match package {
            "pg-exporter" => (vec![("DATA_SOURCE_NAME", pg.as_str())], vec![]),
            "redis-exporter" => (vec![], vec![redis.as_str()]),
            "dashboard" => (vec![], vec![docker_api.as_str()]),
            _ => (vec![], vec![]),
        };
        args.extend_from_slice(extra);
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

fn start_process(package: &'static str, env: &[(&str, &str)], args: &[&str]) -> ServiceProcess {
    let port = free_port();
    let mut all = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--log.level=warn".to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    ServiceProcess::start_with_env(shipped_binary(package), &all, env, port)
}
