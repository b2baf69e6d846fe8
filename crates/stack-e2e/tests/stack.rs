//! End-to-end test of the stack; needs Docker and docker-compose (or Compose v2), and the Debian
//! packages `scripts/install-test-deps` installs (the offline images are built from them).
//!
//! Builds every image offline (`scripts/build-images`), brings the offline stack up under a
//! project and container names of its own, with every published port on a free loopback port,
//! and checks what the issue asks: every container healthy, limits / users / read-only roots /
//! dropped capabilities as `docker inspect` reports them, every Prometheus target UP within 30 s
//! of `up` returning, `scripts/verify` passing, and the Redis and PostgreSQL fault drills; then
//! (`tests/alerting`) every Grafana panel query returning data from the stack's Prometheus, and
//! RedisDown and ServiceHealthCheckFailing reaching a webhook receiver on the host's port 9095
//! through the stack's Alertmanager, then resolving; likewise issue 22's ContainerOOMKilled (a
//! container whose children the kernel OOM-kills), ContainerCPUThrottled and HighCPUUsage (a busy
//! loop under a tenth of a core, then given more) and ContainerHealthFlapping (a health check
//! going unhealthy and back twice; `tests/alerting/incidents.rs`), HighMemoryUsage and
//! ContainerRestarting (`tests/alerting/limits.rs`). The stack is torn down with
//! its volumes when the test ends, whether it passed or not.
//!
//! The stack is the secure default (issue 19, `tests/secure`): every target UP over TLS with
//! basic auth, Prometheus' alerts sent to Alertmanager over TLS, 401 without or with wrong
//! credentials on every endpoint (docker-api and Alertmanager included), plain HTTP refused by
//! every port, networks, users, secrets and limits as `docker inspect` reports them, no password
//! in any container's environment, command line or health check, the dashboard's settings file
//! with https upstreams and a password file instead of passwords, and pg-exporter logged in as a
//! pg_monitor member that is no superuser, its families all there. The dashboard (issue 22)
//! answers a container's and the cluster's history from Prometheus for every range up to 7 days,
//! and links containers to Grafana's published port (the full stack; the offline one has none).
//!
//! `CLUSTERMON_IMAGE_PROFILE=dev` makes `scripts/build-images` package the binaries `cargo test`
//! has already built (stripped) instead of building the `image` profile: faster on a cold CI
//! machine, at the cost of testing unoptimised binaries. `CLUSTERMON_E2E_PREBUILT=1` skips the
//! build and uses the images already there (for iterating on the stack itself).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use stack_e2e::{target_problems, Credentials, Stack};

mod alerting;
mod secure;

/// Our services: (container suffix, NanoCpus, Memory) as the seed's table sets them; each
/// image is `clustermon/<suffix>`.
const RUST_SERVICES: &[(&str, i64, i64)] = &[
    ("host-exporter", 500_000_000, 256 << 20),
    ("pg-exporter", 500_000_000, 256 << 20),
    ("redis-exporter", 500_000_000, 256 << 20),
    ("container-exporter", 1_000_000_000, 512 << 20),
    ("docker-api", 1_000_000_000, 512 << 20),
    ("dashboard", 500_000_000, 256 << 20),
];

const MAX_IMAGE_BYTES: i64 = 15_000_000;

fn repo_root() -> PathBuf {
    testkit::workspace::workspace_root()
}

/// A compose project of this test; `down -v` when dropped, so a failing test leaves nothing.
struct Project {
    program: Vec<String>,
    name: String,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
    /// Holds the test's compose override file.
    scratch: tempfile::TempDir,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..]).args(["-p", &self.name]);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run compose");
        assert_success(&format!("compose {}", args.join(" ")), &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn container(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(out) = self.command(&["ps"]).output() {
                eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            }
            if let Ok(out) = self.command(&["logs", "--tail=30", "--no-color"]).output() {
                eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
        let _ = self
            .command(&["down", "-v", "--remove-orphans", "--timeout", "5"])
            .output();
    }
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `docker compose` when Compose v2 is installed, else docker-compose 1.29.
fn compose_program() -> Vec<String> {
    testkit::require_command("docker", "docker.io");
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        vec!["docker".into(), "compose".into()]
    } else {
        testkit::require_command("docker-compose", "docker-compose");
        vec!["docker-compose".into()]
    }
}

fn docker_inspect(what: &str) -> Value {
    let out = Command::new("docker")
        .args(["inspect", what])
        .output()
        .expect("run docker inspect");
    assert_success(&format!("docker inspect {what}"), &out);
    let list: Value = serde_json::from_slice(&out.stdout).expect("docker inspect JSON");
    list[0].clone()
}

fn docker(args: &[&str]) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert_success(&format!("docker {}", args.join(" ")), &out);
}

/// Waits (testkit::wait) until `check` is Ok; returns the time it took.
fn wait_for(what: &str, limit: Duration, check: impl FnMut() -> Result<(), String>) -> Duration {
    testkit::wait::expect_timed(what, limit, check).1
}

fn metric(stack: &Stack, service: &str, name: &str) -> Result<f64, String> {
    let exporter = stack
        .exporters
        .iter()
        .find(|e| e.service == service)
        .expect("known exporter");
    let url = format!("{}/metrics", exporter.url);
    let response = stack.client.get(&url)?;
    let families = testkit::parse_exposition(&response.body)?;
    families
        .get(name)
        .and_then(|f| f.value(&[]))
        .ok_or_else(|| format!("no {name} from {service}"))
}

fn target_health(stack: &Stack, job: &str) -> Result<String, String> {
    let targets = stack.targets()?;
    targets
        .iter()
        .find(|t| t.job() == job)
        .map(|t| t.health.clone())
        .ok_or_else(|| format!("no target for job {job}"))
}

#[test]
fn offline_stack_comes_up_with_every_target_up_within_30s() {
    let program = compose_program();
    let root = repo_root();

    if std::env::var_os("CLUSTERMON_E2E_PREBUILT").is_some() {
        eprintln!("CLUSTERMON_E2E_PREBUILT: using the images scripts/build-images made before");
    } else {
        let t = Instant::now();
        let out = Command::new(root.join("scripts/build-images"))
            .output()
            .expect("run scripts/build-images");
        assert_success("scripts/build-images", &out);
        eprintln!(
            "images built in {:.0?}:\n{}",
            t.elapsed(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = Command::new(root.join("scripts/stack"))
        .arg("secrets")
        .output()
        .expect("run scripts/stack secrets");
    assert_success("scripts/stack secrets", &out);

    let name = format!("cmtest{}", std::process::id());
    let mut env: Vec<(String, String)> = vec![("CLUSTERMON_NAME".into(), name.clone())];
    for port in [
        "PROMETHEUS",
        "ALERTMANAGER",
        "GRAFANA",
        "MINIO",
        "MINIO_CONSOLE",
        "HOST_EXPORTER",
        "PG_EXPORTER",
        "REDIS_EXPORTER",
        "CONTAINER_EXPORTER",
        "DOCKER_API",
        "DASHBOARD",
    ] {
        env.push((
            format!("CLUSTERMON_PORT_{port}"),
            testkit::free_port().to_string(),
        ));
    }
    let docker_gid = std::fs::metadata("/var/run/docker.sock")
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m).to_string())
        .expect("stat /var/run/docker.sock");
    env.push(("DOCKER_GID".into(), docker_gid));

    // Every container of the test carries clustermon.test=1, so CI's cleanup finds leftovers.
    let scratch = tempfile::tempdir().expect("create a temp dir");
    let compose_dir = root.join("compose");
    let mut files = vec![
        compose_dir.join("docker-compose.yml"),
        compose_dir.join("docker-compose.offline.yml"),
    ];
    let mut project = Project {
        program,
        name: name.clone(),
        files: files.clone(),
        env: env.clone(),
        scratch,
    };
    let services = project.run(&["config", "--services"]);
    // Grafana and MinIO are in the file but not in the offline stack.
    let expected_containers = services.lines().filter(|s| !s.trim().is_empty()).count() - 2;
    let mut override_yaml = String::from("services:\n");
    for service in services.lines().filter(|s| !s.trim().is_empty()) {
        override_yaml.push_str(&format!(
            "  {service}:\n    labels:\n      clustermon.test: \"1\"\n"
        ));
    }
    let override_file = project.scratch.path().join("test-labels.yml");
    std::fs::write(&override_file, override_yaml).expect("write the labels override");
    files.push(override_file);
    project.files = files;

    // Alertmanager's webhook receiver (host.docker.internal:9095), listening before the stack.
    let webhook = alerting::start_webhook();
    let t = Instant::now();
    project.run(&["up", "-d"]);
    let up_returned = Instant::now();
    eprintln!("`up -d` took {:.1?}", t.elapsed());

    let stack = Stack::from_vars(|k| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()))
        .secure(&compose_dir.join("secrets"))
        .expect("the stack's CA and the prometheus password in compose/secrets");

    // Every Prometheus target UP within 30 s of `up` returning (the seed waits 90 s).
    let all_up = wait_for(
        "every Prometheus target UP",
        Duration::from_secs(30),
        || {
            let problems = target_problems(&stack.targets()?);
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        },
    );
    eprintln!(
        "every Prometheus target UP {:.1?} after `up` returned (polled for {all_up:.1?})",
        up_returned.elapsed()
    );

    // Every container healthy.
    let ids = project.run(&["ps", "-q"]);
    let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        ids.len(),
        expected_containers,
        "containers of the offline stack: {ids:?}"
    );
    let healthy = wait_for("every container healthy", Duration::from_secs(60), || {
        let unhealthy: Vec<String> = ids
            .iter()
            .map(|id| docker_inspect(id))
            .filter(|c| c["State"]["Health"]["Status"] != "healthy")
            .map(|c| format!("{} is {}", c["Name"], c["State"]["Health"]["Status"]))
            .collect();
        if unhealthy.is_empty() {
            Ok(())
        } else {
            Err(unhealthy.join(", "))
        }
    });
    eprintln!(
        "every container healthy {:.1?} after `up` returned (waited {healthy:.1?} more)",
        up_returned.elapsed()
    );

    // ContainerCPUThrottled fires 10 minutes after the throttling began, ContainerHealthFlapping
    // resolves 15 minutes after the flapping began: begin both now, await their notifications at
    // the end, in the same window.
    let throttling = alerting::incidents::start_throttling(&stack);
    let flapping = alerting::incidents::start_flapping(&stack);
    // HighMemoryUsage waits 5 minutes; ContainerRestarting resolves 15 minutes after the loop's
    // restarts: the same window.
    let memory = alerting::limits::start_memory_pressure(&stack);
    let restarting = alerting::limits::start_restart_loop();

    // What docker inspect reports for our services: limits, user, read-only root, capabilities.
    let secret = std::fs::read_to_string(compose_dir.join("secrets/postgres_password"))
        .expect("read the generated postgres password");
    for (suffix, cpus, memory) in RUST_SERVICES {
        let c = docker_inspect(&project.container(suffix));
        let host = &c["HostConfig"];
        assert_eq!(host["NanoCpus"], *cpus, "{suffix} NanoCpus");
        assert_eq!(host["Memory"], *memory, "{suffix} Memory");
        assert_eq!(c["Config"]["User"], "65532:65532", "{suffix} user");
        assert_eq!(host["ReadonlyRootfs"], true, "{suffix} read-only root");
        assert_eq!(
            host["CapDrop"],
            serde_json::json!(["ALL"]),
            "{suffix} CapDrop"
        );
        assert!(
            host["SecurityOpt"]
                .as_array()
                .is_some_and(|o| o.iter().any(|s| s == "no-new-privileges:true")),
            "{suffix} no-new-privileges: {}",
            host["SecurityOpt"]
        );
        for bindings in host["PortBindings"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for b in bindings.as_array().into_iter().flatten() {
                assert_eq!(
                    b["HostIp"], "127.0.0.1",
                    "{suffix} publishes on loopback only"
                );
            }
        }
        let env = c["Config"]["Env"].to_string();
        assert!(
            !env.contains(secret.trim()),
            "{suffix}: a secret is in the environment"
        );
        for mount in c["Mounts"].as_array().into_iter().flatten() {
            if mount["Source"] == "/var/run/docker.sock" {
                assert_eq!(
                    mount["RW"], false,
                    "{suffix}: Docker socket must be read-only"
                );
            }
        }
        let image = format!("clustermon/{suffix}");
        let inspected = docker_inspect(&format!("{image}:latest"));
        let size = inspected["Size"].as_i64().expect("image size");
        let profile = inspected["Config"]["Labels"]["org.clustermon.cargo-profile"].clone();
        eprintln!(
            "{image}: {:.1} MB (cargo profile {profile})",
            size as f64 / 1e6
        );
        // The bound is for what ships (the `image` profile); dev binaries are bigger.
        if profile == "image" {
            assert!(
                size <= MAX_IMAGE_BYTES,
                "{image} is {size} bytes, over 15 MB"
            );
        }
    }

    secure_defaults(&project, &stack, &env, &compose_dir);

    // The dashboard serves its page (over HTTPS, to the user admin) and forwards /api/* to the
    // stack's docker-api with its own credentials.
    let port = |name: &str| {
        env.iter()
            .find(|(k, _)| k == &format!("CLUSTERMON_PORT_{name}"))
            .map(|(_, port)| port.clone())
            .expect("a published port")
    };
    let dashboard = format!("https://127.0.0.1:{}", port("DASHBOARD"));
    let admin = stack.client.with_auth(Some(
        Credentials::from_file("admin", &compose_dir.join("secrets/web_admin_password"))
            .expect("read the admin password"),
    ));
    let page = admin
        .get(&format!("{dashboard}/"))
        .expect("GET the dashboard's page");
    assert_eq!(page.status, 200, "dashboard page: {}", page.body);
    assert!(
        page.body.contains("<title>clustermon</title>"),
        "{}",
        page.body
    );
    let docker_api_name = project.container("docker-api");
    wait_for(
        "the dashboard forwards /api/containers",
        Duration::from_secs(20),
        || {
            let url = format!("{dashboard}/api/containers");
            let r = admin.get(&url)?;
            let body: Value =
                serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
            let listed = body["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["name"] == docker_api_name.as_str());
            if r.status == 200 && listed {
                Ok(())
            } else {
                Err(format!("{}: {}", r.status, r.body))
            }
        },
    );

    dashboard_history_and_links(&project, &admin, &dashboard, &env);

    // scripts/verify: exporters up, targets UP, rule groups, the seed's queries (the rate()
    // queries need two scrapes of a 30 s job, hence the wait).
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_stack-verify"))
        .args(["--wait", "90"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run stack-verify");
    assert_success("scripts/verify (stack-verify)", &out);
    eprintln!("scripts/verify passed after {:.1?}", t.elapsed());

    // Every Grafana panel query returns data from the stack's Prometheus; a health-checked test
    // container starts now so that docker-api has reported it healthy by the alert drills.
    let checked = alerting::start_health_checked_container();
    alerting::assert_every_panel_query_returns_data(&stack, Duration::from_secs(120));

    // Faults: a stopped backend shows as *_up 0 while its target stays UP; it recovers.
    for (backend, exporter, up, job) in [
        ("redis", "redis-exporter", "redis_up", "redis"),
        ("postgres", "pg-exporter", "pg_up", "postgres"),
    ] {
        docker(&["stop", "--time", "5", &project.container(backend)]);
        wait_for(
            &format!("{up} 0 with {backend} stopped"),
            Duration::from_secs(20),
            || match metric(&stack, exporter, up)? {
                0.0 => Ok(()),
                v => Err(format!("{up} is {v}")),
            },
        );
        assert_eq!(
            target_health(&stack, job).unwrap(),
            "up",
            "{job} target with {backend} down"
        );
        docker(&["start", &project.container(backend)]);
        let back = wait_for(
            &format!("{up} 1 after {backend} restarts"),
            Duration::from_secs(30),
            || match metric(&stack, exporter, up)? {
                1.0 => Ok(()),
                v => Err(format!("{up} is {v}")),
            },
        );
        eprintln!("{up} back to 1 {back:.1?} after `docker start {backend}`");
    }

    // An exporter that crashes is restarted by Docker (restart policy), and Prometheus scrapes
    // the new process. A real crash: SIGKILL from the host (`docker kill` counts as a manual stop,
    // after which no restart policy restarts a container).
    let exporter = project.container("redis-exporter");
    let pid = docker_inspect(&exporter)["State"]["Pid"].to_string();
    // The old process' start time as Prometheus last scraped it (whole seconds).
    let start_query = r#"process_start_time_seconds{job="redis"}"#;
    let old_start = stack
        .query_value(start_query)
        .unwrap()
        .expect("Prometheus has redis-exporter's process_start_time_seconds");
    let out = Command::new("kill")
        .args(["-KILL", &pid])
        .output()
        .expect("run kill");
    assert_success(
        &format!("kill -KILL {pid} (redis-exporter; needs root)"),
        &out,
    );
    let back = wait_for(
        "redis-exporter restarted and scraped again",
        Duration::from_secs(40),
        || {
            let c = docker_inspect(&exporter);
            if c["RestartCount"].as_i64().unwrap_or(0) < 1 {
                return Err(format!("not restarted: {}", c["State"]["Status"]));
            }
            match stack.query_value(start_query)? {
                Some(start) if start > old_start => Ok(()),
                other => Err(format!("Prometheus still has the old process: {other:?}")),
            }
        },
    );
    assert_eq!(target_health(&stack, "redis").unwrap(), "up");
    eprintln!("redis-exporter killed: restarted and its target UP again after {back:.1?}");

    // RedisDown and ServiceHealthCheckFailing through the stack's Alertmanager to the webhook.
    let stack_alerting = alerting::Alerting {
        webhook: &webhook,
        alertmanager: project.container("alertmanager"),
    };
    alerting::alert_drills(
        &stack,
        &stack_alerting,
        &project.container("redis"),
        &checked,
    );

    // Issue 22's incidents: an OOM kill, the CPU throttling and the health check flapping since
    // the start. The throttling first: its repair waits for its firing notification, and its
    // resolution (about 14 minutes after the start) comes before the flapping's (about 16); the
    // other order would hold the repair back until then.
    alerting::incidents::oom_drill(&stack, &stack_alerting);
    memory.finish(&stack, &stack_alerting);
    throttling.finish(&stack, &stack_alerting);
    flapping.finish(&stack, &stack_alerting);
    restarting.finish(&stack, &stack_alerting);
}

/// Issue 22's history and Grafana link through the dashboard: a container's and the cluster's
/// history come from the stack's Prometheus (over TLS, as the user dashboard), for every range up
/// to 7 days; the offline stack (no Grafana) shows no Grafana link, and the full stack's link is
/// Grafana's published port on this host, the address a browser opens.
fn dashboard_history_and_links(
    project: &Project,
    admin: &stack_e2e::Client,
    dashboard: &str,
    env: &[(String, String)],
) {
    let page_config = admin
        .get(&format!("{dashboard}/page-config"))
        .expect("GET /page-config");
    let page_config: Value = serde_json::from_str(&page_config.body).expect("page config JSON");
    assert_eq!(page_config["history_source"], "prometheus", "{page_config}");
    assert!(
        page_config["grafana_url"].is_null(),
        "the offline stack has no Grafana, yet a link: {page_config}"
    );

    let container = project.container("docker-api");
    let history = |path: &str| -> Result<Value, String> {
        let r = admin.get(&format!("{dashboard}/history/{path}"))?;
        let body: Value = serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
        if r.status == 200 && body["source"] == "prometheus" {
            Ok(body)
        } else {
            Err(format!("{path}: {} {}", r.status, r.body))
        }
    };
    let points = |body: &Value, series: &str| body["series"][series].as_array().map_or(0, Vec::len);
    // Two scrapes of container-exporter (every 10 s) give the first rate() points.
    let took = wait_for(
        "a container's and the cluster's 1 h history from Prometheus through the dashboard",
        Duration::from_secs(90),
        || {
            let mut missing = Vec::new();
            for path in [
                format!("containers/{container}?range=1h"),
                "cluster?range=1h".to_string(),
            ] {
                let body = history(&path)?;
                for series in ["cpu_percent", "memory_bytes"] {
                    if points(&body, series) < 2 {
                        missing.push(format!("{path}: {series}: {}", body["series"][series]));
                    }
                }
            }
            testkit::wait::check(missing.is_empty(), || missing.join("; "))
        },
    );
    eprintln!("the dashboard's history came from Prometheus after {took:.1?}");
    // Longer ranges: Prometheus' answer with the step that keeps a chart under 1,000 points
    // (their points lie on step boundaries, mostly before this young stack began).
    for (range, step) in [("15m", 5), ("6h", 30), ("24h", 120), ("7d", 900)] {
        let body = history(&format!("containers/{container}?range={range}")).unwrap();
        assert_eq!(body["step_seconds"], step, "{range}: {body}");
    }

    // The full stack's settings (without the offline overlay), as Compose renders them.
    let grafana_port = env
        .iter()
        .find(|(k, _)| k == "CLUSTERMON_PORT_GRAFANA")
        .map(|(_, v)| v.clone())
        .expect("Grafana's port");
    let full = full_stack_config(project);
    let link = full
        .lines()
        .find_map(|l| l.trim().strip_prefix("DASHBOARD_GRAFANA__URL:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no Grafana link in the full stack:\n{full}"));
    assert_eq!(link, format!("https://localhost:{grafana_port}"));
    // docker-compose 1.29 renders a port as 127.0.0.1:P:3000/tcp, Compose v2 as a mapping.
    let published = format!("127.0.0.1:{grafana_port}:3000");
    assert!(
        full.contains(&published) || full.contains(&format!("published: \"{grafana_port}\"")),
        "Grafana is not published on {grafana_port}"
    );
}

/// `compose config` of the full stack (docker-compose.yml alone, with the test's environment).
fn full_stack_config(project: &Project) -> String {
    let file = repo_root().join("compose/docker-compose.yml");
    let mut cmd = Command::new(&project.program[0]);
    cmd.args(&project.program[1..])
        .args(["-p", &project.name])
        .arg("-f")
        .arg(&file)
        .arg("config")
        .envs(project.env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("run compose config");
    assert_success("compose config (full stack)", &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 19's checks of the secure default: credentials, TLS, networks, users, secrets, limits,
/// PostgreSQL's monitoring role.
fn secure_defaults(project: &Project, stack: &Stack, env: &[(String, String)], compose: &Path) {
    let port = |name: &str| {
        env.iter()
            .find(|(k, _)| k == &format!("CLUSTERMON_PORT_{name}"))
            .map(|(_, port)| port.clone())
            .expect("a published port")
    };
    let mut endpoints: Vec<secure::Endpoint> = stack
        .exporters
        .iter()
        .map(|e| secure::Endpoint {
            name: e.service.to_string(),
            url: format!("{}/metrics", e.url),
        })
        .collect();
    endpoints.extend([
        secure::Endpoint {
            name: "dashboard".into(),
            url: format!("https://127.0.0.1:{}/metrics", port("DASHBOARD")),
        },
        secure::Endpoint {
            name: "prometheus".into(),
            url: format!("{}/api/v1/status/buildinfo", stack.prometheus),
        },
        secure::Endpoint {
            name: "alertmanager".into(),
            url: format!("https://127.0.0.1:{}/api/v2/status", port("ALERTMANAGER")),
        },
    ]);
    assert!(
        stack.prometheus.starts_with("https://"),
        "{}",
        stack.prometheus
    );
    secure::assert_endpoints_refuse_strangers(&endpoints, &stack.client);

    // Every target is scraped over TLS (Grafana and MinIO, scraped plain, are not in the
    // offline stack), and Prometheus sends its alerts to Alertmanager over TLS.
    for t in stack.targets().unwrap() {
        let (job, url) = (t.job(), &t.scrape_url);
        assert!(
            url.starts_with("https://"),
            "target {job} is scraped over {url}"
        );
    }
    let alertmanagers = stack.api("/api/v1/alertmanagers").unwrap();
    let active: Vec<&str> = alertmanagers["activeAlertmanagers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["url"].as_str())
        .collect();
    assert!(
        active.len() == 1 && active[0].starts_with("https://"),
        "Prometheus' Alertmanagers: {alertmanagers}"
    );

    // Networks: a compromised service reaches only what it must.
    let name = &project.name;
    let expected: &[(&str, &[&str])] = &[
        ("postgres", &["data-postgres"]),
        ("redis", &["data-redis"]),
        ("pg-exporter", &["data-postgres", "scrape"]),
        ("redis-exporter", &["data-redis", "scrape"]),
        ("host-exporter", &["scrape"]),
        ("container-exporter", &["scrape"]),
        ("prometheus", &["scrape"]),
        ("docker-api", &["front", "scrape"]),
        ("dashboard", &["front", "scrape"]),
        ("alertmanager", &["front", "scrape"]),
    ];
    for (suffix, nets) in expected {
        let c = docker_inspect(&project.container(suffix));
        let got = secure::networks(&c, name);
        let want: std::collections::BTreeSet<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(got, want, "{suffix}'s networks");
    }
    for net in ["data-postgres", "data-redis"] {
        let n = docker_inspect(&format!("{name}_{net}"));
        assert_eq!(n["Internal"], true, "network {net} is internal");
    }

    // Users, limits, health checks and lifecycle of the third-party services.
    for (suffix, user) in [
        ("postgres", "999:999"),
        ("redis", "999:999"),
        ("prometheus", "65534:65534"),
        ("alertmanager", "65534:65534"),
    ] {
        let c = docker_inspect(&project.container(suffix));
        assert_eq!(c["Config"]["User"], user, "{suffix} user");
        assert!(
            c["HostConfig"]["NanoCpus"].as_i64().unwrap_or(0) > 0,
            "{suffix} has a CPU limit"
        );
        assert!(
            c["HostConfig"]["Memory"].as_i64().unwrap_or(0) > 0,
            "{suffix} has a memory limit"
        );
        assert!(
            c["Config"]["Healthcheck"]["Test"].is_array(),
            "{suffix} has a health check"
        );
        assert!(
            !c["Args"].to_string().contains("enable-lifecycle"),
            "{suffix}: {}",
            c["Args"]
        );
    }

    // Secrets: where they are mounted, and never in an environment.
    let secrets = compose.join("secrets");
    let mut passwords = Vec::new();
    for file in [
        "postgres_password",
        "postgres_monitor_password",
        "redis_password",
        "web_admin_password",
        "web_prometheus_password",
        "web_dashboard_password",
    ] {
        let value = std::fs::read_to_string(secrets.join(file)).expect("read a secret");
        passwords.push((file, value.trim().to_string()));
    }
    let mounted = |suffix: &str| {
        secure::mounts(&docker_inspect(&project.container(suffix)))
            .into_iter()
            .map(|(dest, _, _)| dest)
            .collect::<Vec<_>>()
    };
    // Every container of the project: its environment, command line (entry point, arguments)
    // and health check command hold no password.
    let ids = project.run(&["ps", "-q"]);
    for id in ids.lines().filter(|l| !l.is_empty()) {
        let c = docker_inspect(id);
        let who = c["Name"].to_string();
        let env = c["Config"]["Env"].to_string();
        let cmd = format!(
            "{} {} {} {}",
            c["Path"], c["Args"], c["Config"]["Entrypoint"], c["Config"]["Cmd"]
        );
        let health = c["Config"]["Healthcheck"].to_string();
        for (file, value) in &passwords {
            assert!(
                !env.contains(value.as_str()),
                "{who}: {file} in the environment"
            );
            assert!(
                !cmd.contains(value.as_str()),
                "{who}: {file} on the command line"
            );
            assert!(
                !health.contains(value.as_str()),
                "{who}: {file} in the health check"
            );
        }
    }
    // The dashboard's settings: https upstreams without userinfo, the password as a file path.
    let settings = std::fs::read_to_string(secrets.join("dashboard.yml")).expect("dashboard.yml");
    for (file, value) in &passwords {
        assert!(
            !settings.contains(value.as_str()),
            "dashboard.yml holds {file}"
        );
    }
    for upstream in ["docker-api:3001", "alertmanager:9093", "prometheus:9090"] {
        let url = format!("url: https://cluster-{upstream}\n");
        assert!(
            settings.contains(&url),
            "dashboard.yml without {url:?}:\n{settings}"
        );
    }
    assert!(
        settings.contains("password_file: /run/secrets/web_dashboard_password"),
        "{settings}"
    );
    let dashboard = mounted("dashboard");
    for s in [
        "/run/secrets/web_dashboard_password",
        "/run/secrets/clustermon_ca",
    ] {
        assert!(
            dashboard.contains(&s.to_string()),
            "dashboard: {s}: {dashboard:?}"
        );
    }
    for (suffix, _, _) in RUST_SERVICES {
        let web = secure::mounts(&docker_inspect(&project.container(suffix)))
            .into_iter()
            .find(|(dest, _, _)| dest == "/etc/clustermon/web")
            .unwrap_or_else(|| panic!("{suffix}: no web-config mount"));
        assert!(
            web.1.ends_with(&format!("secrets/web/{suffix}")) && !web.2,
            "{suffix}'s web config: {web:?}"
        );
    }
    let pg_exporter = mounted("pg-exporter");
    assert!(pg_exporter.contains(&"/run/secrets/postgres_monitor_password".to_string()));
    assert!(
        !pg_exporter.contains(&"/run/secrets/postgres_password".to_string()),
        "pg-exporter must not see the superuser's password: {pg_exporter:?}"
    );
    assert!(mounted("redis-exporter").contains(&"/run/secrets/redis_password".to_string()));
    assert!(mounted("redis").contains(&"/run/secrets/redis_conf".to_string()));
    let prometheus = mounted("prometheus");
    for s in [
        "/run/secrets/web_prometheus_password",
        "/run/secrets/clustermon_ca",
    ] {
        assert!(prometheus.contains(&s.to_string()), "prometheus: {s}");
    }

    // PostgreSQL: the role pg-exporter's sessions use (found by its address on the database
    // network) is a pg_monitor member and nothing more, and pg_up with every family comes
    // through it.
    let exporter = docker_inspect(&project.container("pg-exporter"));
    let address = exporter["NetworkSettings"]["Networks"][format!("{name}_data-postgres")]
        ["IPAddress"]
        .as_str()
        .expect("pg-exporter's address on data-postgres")
        .to_string();
    let mut roles = String::new();
    wait_for(
        "a session of pg-exporter in pg_stat_activity",
        Duration::from_secs(20),
        || {
            let _ = pg_families(stack);
            roles = secure::psql(
                &project.container("postgres"),
                &format!(
                    "SELECT DISTINCT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, \
                     pg_has_role(r.oid, 'pg_monitor', 'MEMBER') FROM pg_stat_activity a \
                     JOIN pg_roles r ON r.rolname = a.usename WHERE a.client_addr = '{address}'"
                ),
            );
            if roles.is_empty() {
                Err("none yet".into())
            } else {
                Ok(())
            }
        },
    );
    assert_eq!(
        roles, "clustermon_monitor|f|f|f|t",
        "pg-exporter's role: name, super, createrole, createdb, pg_monitor member"
    );
    let families = pg_families(stack);
    for family in PG_FAMILIES {
        assert!(
            families.get(*family).is_some_and(|f| !f.samples.is_empty()),
            "pg-exporter as clustermon_monitor: no {family}"
        );
    }
    let collectors = families
        .get("pg_scrape_collector_success")
        .map(|f| f.samples.clone())
        .unwrap_or_default();
    assert!(!collectors.is_empty(), "no pg_scrape_collector_success");
    for sample in collectors {
        assert_eq!(
            sample.value, 1.0,
            "a pg-exporter collector fails as clustermon_monitor: {sample:?}"
        );
    }
    assert_eq!(
        families
            .get("pg_exporter_last_scrape_error")
            .and_then(|f| f.value(&[])),
        Some(0.0),
        "pg-exporter's last scrape had an error"
    );

    // Redis: the password is required.
    let out = Command::new("docker")
        .args(["exec", &project.container("redis"), "redis-cli", "get", "x"])
        .output()
        .expect("run redis-cli");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        answer.contains("NOAUTH"),
        "Redis without a password: {answer}"
    );
}

/// Families pg-exporter gives with the default collectors that a pg_monitor member can read
/// (settings, statistics of every session and database, locks, the background writer).
const PG_FAMILIES: &[&str] = &[
    "pg_up",
    "pg_static",
    "pg_postmaster_start_time_seconds",
    "pg_settings_max_connections",
    "pg_settings_shared_buffers_bytes",
    "pg_stat_activity_count",
    "pg_stat_activity_max_tx_duration",
    "pg_stat_database_xact_commit",
    "pg_stat_database_blks_read",
    "pg_database_size_bytes",
    "pg_locks_count",
    "pg_stat_bgwriter_buffers_alloc_total",
];

fn pg_families(stack: &Stack) -> std::collections::BTreeMap<String, testkit::Family> {
    let exporter = stack
        .exporters
        .iter()
        .find(|e| e.service == "pg-exporter")
        .expect("pg-exporter");
    let r = stack
        .client
        .get(&format!("{}/metrics", exporter.url))
        .expect("scrape pg-exporter");
    testkit::parse_exposition(&r.body).expect("pg-exporter's exposition")
}
