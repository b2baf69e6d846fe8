//! Checks of a running clustermon stack: the seed's deployment steps 4–6 (every exporter answers
//! with its backend up, every Prometheus target is UP, the alert rule groups are loaded) and its
//! example PromQL queries. `scripts/verify` runs them from the command line; the end-to-end test
//! (`tests/stack.rs`) runs them against a stack it brings up itself. The stack is secure by
//! default (HTTPS with the stack's CA, basic auth): the checks log in as the web user
//! `prometheus` with the password files `scripts/stack secrets` wrote.

use std::path::Path;

use serde_json::Value;
use testkit::prometheus::{Prometheus, Target};

pub use testkit::{Client, Credentials};

/// The alert rule groups of `prometheus/alerts/rules.yml`, with their rule counts (the seed's).
pub const RULE_GROUPS: &[(&str, usize)] = &[
    ("container_alerts", 4),
    ("database_alerts", 4),
    ("host_alerts", 3),
    ("service_health_alerts", 3),
];

/// Scrape jobs that every stack has (Grafana and MinIO only exist in the online stack).
pub const REQUIRED_JOBS: &[&str] = &[
    "prometheus",
    "alertmanager",
    "cadvisor",
    "postgres",
    "redis",
    "node",
    "docker-api",
];

/// One of our exporters, reached on its published host port.
#[derive(Debug, Clone)]
pub struct Exporter {
    pub service: &'static str,
    pub url: String,
    /// What its metrics must show for the exporter and its backend to count as working.
    pub expect: Expect,
}

#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// A gauge such as `pg_up` that must be 1.
    Up(&'static str),
    /// A family that must have at least one sample.
    Family(&'static str),
}

/// Where the stack is: host ports as published by `compose/docker-compose.yml`.
#[derive(Debug, Clone)]
pub struct Stack {
    pub prometheus: String,
    pub exporters: Vec<Exporter>,
    /// Prefix of the container names (`cluster` gives `cluster-postgres`, ...).
    pub container_prefix: String,
    /// How requests reach the stack: CA and credentials, or plain.
    pub client: Client,
}

impl Stack {
    /// The stack as the compose file publishes it, given a way to look up its environment
    /// (`CLUSTERMON_PORT_<NAME>` and `CLUSTERMON_NAME`, the same variables compose reads).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let port = |name: &str, default: u16| {
            var(&format!("CLUSTERMON_PORT_{name}"))
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(default)
        };
        let url = |name: &str, default: u16| format!("http://127.0.0.1:{}", port(name, default));
        let exporter = |service, name, default, expect| Exporter {
            service,
            url: url(name, default),
            expect,
        };
        Self {
            prometheus: url("PROMETHEUS", 9090),
            exporters: vec![
                exporter(
                    "host-exporter",
                    "HOST_EXPORTER",
                    9100,
                    Expect::Family("node_cpu_seconds_total"),
                ),
                exporter("pg-exporter", "PG_EXPORTER", 9187, Expect::Up("pg_up")),
                exporter(
                    "redis-exporter",
                    "REDIS_EXPORTER",
                    9121,
                    Expect::Up("redis_up"),
                ),
                exporter(
                    "container-exporter",
                    "CONTAINER_EXPORTER",
                    8080,
                    Expect::Family("container_cpu_usage_seconds_total"),
                ),
                exporter("docker-api", "DOCKER_API", 3001, Expect::Up("docker_up")),
            ],
            container_prefix: var("CLUSTERMON_NAME").unwrap_or_else(|| "cluster".into()),
            client: Client::plain(),
        }
    }

    /// The stack as `scripts/stack` runs it from `compose_dir`: secure (see [`Stack::secure`])
    /// unless `scripts/stack up --insecure` left `compose/.insecure` or `CLUSTERMON_INSECURE=1`.
    pub fn for_compose(
        var: impl Fn(&str) -> Option<String>,
        compose_dir: &Path,
    ) -> Result<Self, String> {
        let insecure = var("CLUSTERMON_INSECURE").is_some_and(|v| v == "1")
            || compose_dir.join(".insecure").exists();
        let stack = Self::from_vars(var);
        if insecure {
            Ok(stack)
        } else {
            stack.secure(&compose_dir.join("secrets"))
        }
    }

    /// The secure stack: Prometheus and the exporters served over HTTPS, checked against
    /// `secrets/ca/ca.pem`, as the web user `prometheus`.
    pub fn secure(mut self, secrets: &Path) -> Result<Self, String> {
        let auth = Credentials::from_file("prometheus", &secrets.join("web_prometheus_password"))?;
        self.client = Client::new(&secrets.join("ca/ca.pem"), Some(auth))?;
        self.prometheus = self.prometheus.replacen("http://", "https://", 1);
        for e in self.exporters.iter_mut() {
            e.url = e.url.replacen("http://", "https://", 1);
        }
        Ok(self)
    }

    /// The seed's "Test Prometheus Queries", for this stack's container names.
    pub fn seed_queries(&self) -> Vec<String> {
        vec![
            format!(
                r#"rate(container_cpu_usage_seconds_total{{name=~"{}-.*"}}[5m])"#,
                self.container_prefix
            ),
            "(container_memory_usage_bytes / container_spec_memory_limit_bytes) * 100".into(),
            "pg_stat_activity_count".into(),
            "redis_memory_used_bytes".into(),
            r#"100 - (avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100)"#
                .into(),
        ]
    }

    /// Everything that is wrong with the stack, one line each; empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for exporter in &self.exporters {
            if let Err(e) = check_exporter(&self.client, exporter) {
                problems.push(format!("{}: {e}", exporter.service));
            }
        }
        match self.targets() {
            Ok(targets) => problems.extend(target_problems(&targets)),
            Err(e) => problems.push(format!("prometheus targets: {e}")),
        }
        match self.api("/api/v1/rules") {
            Ok(rules) => problems.extend(rule_problems(&rules)),
            Err(e) => problems.push(format!("prometheus rules: {e}")),
        }
        for query in self.seed_queries() {
            match self.query(&query) {
                Ok(0) => problems.push(format!("query returned no data: {query}")),
                Ok(_) => {}
                Err(e) => problems.push(format!("query {query}: {e}")),
            }
        }
        problems
    }

    /// The stack's Prometheus, asked through the stack's client.
    pub fn prometheus_api(&self) -> Prometheus {
        Prometheus::new(&self.prometheus, self.client.clone())
    }

    /// Prometheus' active targets (`/api/v1/targets`).
    pub fn targets(&self) -> Result<Vec<Target>, String> {
        self.prometheus_api().targets()
    }

    /// Runs an instant query; returns how many series it gave.
    pub fn query(&self, promql: &str) -> Result<usize, String> {
        self.prometheus_api().query(promql).map(|r| r.len())
    }

    /// Instant query returning the first series' value.
    pub fn query_value(&self, promql: &str) -> Result<Option<f64>, String> {
        self.prometheus_api().query_value(promql)
    }

    /// GETs a Prometheus API path and returns its `data`.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        self.prometheus_api().api(path)
    }
}

fn check_exporter(client: &Client, exporter: &Exporter) -> Result<(), String> {
    let url = format!("{}/metrics", exporter.url);
    let response = client.get(&url)?;
    if response.status != 200 {
        return Err(format!("{url}: HTTP {}", response.status));
    }
    let families = testkit::parse_exposition(&response.body)?;
    match exporter.expect {
        Expect::Up(name) => match families.get(name).and_then(|f| f.value(&[])) {
            Some(1.0) => Ok(()),
            Some(v) => Err(format!("{name} is {v}, not 1")),
            None => Err(format!("no {name} in {url}")),
        },
        Expect::Family(name) => match families.get(name) {
            Some(f) if !f.samples.is_empty() => Ok(()),
            _ => Err(format!("no {name} samples in {url}")),
        },
    }
}

/// Targets that are not UP, and required jobs that have no target at all.
pub fn target_problems(targets: &[Target]) -> Vec<String> {
    let mut problems: Vec<String> = targets
        .iter()
        .filter(|t| !t.is_up())
        .map(|t| {
            format!(
                "target {} ({}) is {}{}",
                t.job(),
                t.label("instance"),
                if t.health.is_empty() { "?" } else { &t.health },
                if t.last_error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", t.last_error)
                }
            )
        })
        .collect();
    for job in REQUIRED_JOBS {
        if !targets.iter().any(|t| t.job() == *job) {
            problems.push(format!("no target for scrape job {job}"));
        }
    }
    problems
}

/// Rule groups of [`RULE_GROUPS`] that are missing or have another number of rules.
pub fn rule_problems(rules: &Value) -> Vec<String> {
    let groups = rules["groups"].as_array().cloned().unwrap_or_default();
    RULE_GROUPS
        .iter()
        .filter_map(|(name, count)| {
            let group = groups.iter().find(|g| g["name"] == *name);
            match group.and_then(|g| g["rules"].as_array()).map(Vec::len) {
                None => Some(format!("rule group {name} is not loaded")),
                Some(n) if n != *count => {
                    Some(format!("rule group {name} has {n} rules, expected {count}"))
                }
                Some(_) => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_target_and_missing_job_are_reported() {
        let mut targets: Vec<Target> = REQUIRED_JOBS
            .iter()
            .map(|job| Target {
                labels: [("job", job.to_string()), ("instance", format!("{job}:1"))]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                scrape_url: format!("https://{job}:1/metrics"),
                health: "up".into(),
                last_error: String::new(),
            })
            .collect();
        assert!(target_problems(&targets).is_empty());
        targets[0].health = "down".into();
        targets[0].last_error = "connection refused".into();
        let removed = targets.pop().unwrap().job().to_string();
        let problems = target_problems(&targets);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("is down: connection refused"));
        assert_eq!(problems[1], format!("no target for scrape job {removed}"));
    }

    #[test]
    fn rule_groups_are_checked_by_name_and_count() {
        let rules = serde_json::json!({"groups": [
            {"name": "container_alerts", "rules": [1, 2, 3, 4]},
            {"name": "database_alerts", "rules": [1, 2, 3]},
            {"name": "host_alerts", "rules": [1, 2, 3]},
        ]});
        let problems = rule_problems(&rules);
        assert_eq!(
            problems,
            vec![
                "rule group database_alerts has 3 rules, expected 4".to_string(),
                "rule group service_health_alerts is not loaded".to_string(),
            ]
        );
    }

    #[test]
    fn ports_and_names_come_from_the_compose_variables() {
        let stack = Stack::from_vars(|k| match k {
            "CLUSTERMON_PORT_PROMETHEUS" => Some("19090".into()),
            "CLUSTERMON_NAME" => Some("t1".into()),
            _ => None,
        });
        assert_eq!(stack.prometheus, "http://127.0.0.1:19090");
        assert_eq!(stack.exporters[1].url, "http://127.0.0.1:9187");
        assert!(stack.seed_queries()[0].contains(r#"name=~"t1-.*""#));
    }
}
