//! Helpers for tests against the real Docker engine: a tiny local image, labelled containers
//! removed on drop, scraping our exporter, and reading the cgroup files ourselves.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use testkit::{Family, ServiceProcess};

pub const IMAGE: &str = "clustermon/container-exporter-test:1";

/// Fails the test with a clear message when Docker is not reachable.
pub fn require_docker() {
    testkit::require_command("docker", "docker.io");
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "this test needs a running Docker daemon (docker info failed: {}); start it with `systemctl start docker`",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("this test needs Docker: cannot run `docker`: {e}"),
    }
}

/// Builds the test image (`FROM scratch` + Debian's static busybox) once per test binary.
pub fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_docker();
        let busybox = PathBuf::from("/bin/busybox");
        assert!(
            busybox.is_file(),
            "this test needs a static busybox at /bin/busybox: run `apt-get install busybox-static`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(&busybox, dir.path().join("busybox")).expect("copy busybox");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/sh\"]\n",
        )
        .expect("write Dockerfile");
        let out = Command::new("docker")
            .args(["build", "-q", "-t", IMAGE])
            .arg(dir.path())
            .output()
            .expect("run docker build");
        assert!(out.status.success(), "docker build failed: {}", String::from_utf8_lossy(&out.stderr));
    });
    IMAGE
}

/// A running test container, removed (forcefully) when dropped, even if the test failed.
pub struct Container {
    pub id: String,
    pub name: String,
}

impl Container {
    /// `docker run -d --label clustermon.test=1 --name <unique> <extra...> IMAGE sh -c <script>`.
    pub fn run(extra: &[&str], script: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cm-ce-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let image = image();
        let out = Command::new("docker")
            .args(["run", "-d", "--label", "clustermon.test=1", "--name", &name])
            .args(extra)
            .args([image, "sh", "-c", script])
            .output()
            .expect("run docker run");
        assert!(
            out.status.success(),
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Self { id, name }
    }

    pub fn inspect(&self, format: &str) -> String {
        let out = Command::new("docker")
            .args(["inspect", "-f", format, &self.id])
            .output()
            .expect("docker inspect");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn exec(&self, script: &str) -> String {
        let out = Command::new("docker")
            .args(["exec", &self.id, "sh", "-c", script])
            .output()
            .expect("docker exec");
        assert!(
            out.status.success(),
            "docker exec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn cgroup_id(&self) -> String {
        format!("/docker/{}", self.id)
    }

    /// A v1 cgroup file of this container (this host runs the cgroupfs driver).
    pub fn cgroup_file(&self, controller: &str, file: &str) -> String {
        std::fs::read_to_string(format!(
            "/sys/fs/cgroup/{controller}/docker/{}/{file}",
            self.id
        ))
        .unwrap_or_else(|e| panic!("read {controller}/{file}: {e}"))
    }

    pub fn cgroup_u64(&self, controller: &str, file: &str) -> u64 {
        self.cgroup_file(controller, file)
            .trim()
            .parse()
            .expect("number in cgroup file")
    }

    pub fn stop(&self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts our exporter on a free port with extra flags.
pub fn exporter(extra: &[&str]) -> ServiceProcess {
    let port = testkit::free_port();
    let mut args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    args.extend(extra.iter().map(|s| s.to_string()));
    ServiceProcess::start(env!("CARGO_BIN_EXE_container-exporter"), &args, port)
}

pub fn scrape(exporter: &ServiceProcess) -> (String, BTreeMap<String, Family>) {
    let response = testkit::get(&exporter.url("/metrics"));
    assert_eq!(response.status, 200, "{}", response.body);
    let families = testkit::parse_exposition(&response.body).expect("valid exposition");
    (response.body, families)
}

/// The value of `family` for the container named `name` (plus extra label matches).
pub fn value(
    families: &BTreeMap<String, Family>,
    family: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> Option<f64> {
    let mut labels = vec![("name", name)];
    labels.extend_from_slice(extra);
    families.get(family)?.value(&labels)
}

/// Scrapes until `ready` holds (or panics after `limit`), returning that scrape.
pub fn scrape_until(
    exporter: &ServiceProcess,
    limit: Duration,
    what: &str,
    ready: impl Fn(&BTreeMap<String, Family>) -> bool,
) -> BTreeMap<String, Family> {
    let start = Instant::now();
    loop {
        let (_, families) = scrape(exporter);
        if ready(&families) {
            return families;
        }
        assert!(
            start.elapsed() < limit,
            "{what} not seen within {limit:?}; exporter log:\n{}",
            exporter.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One line of `docker stats --no-stream` for a container: (cpu %, memory used bytes, block
/// read bytes, block write bytes).
pub fn docker_stats(name: &str) -> (f64, f64, f64, f64) {
    let out = Command::new("docker")
        .args([
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}}|{{.MemUsage}}|{{.BlockIO}}",
            name,
        ])
        .output()
        .expect("docker stats");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(parts.len(), 3, "unexpected docker stats output {text:?}");
    let cpu: f64 = parts[0].trim_end_matches('%').parse().expect("cpu %");
    let mem = parse_size(parts[1].split('/').next().unwrap_or_default());
    let mut io = parts[2].split('/');
    let read = parse_size(io.next().unwrap_or_default());
    let write = parse_size(io.next().unwrap_or_default());
    (cpu, mem, read, write)
}

/// `12.5MiB`, `3kB`, `0B` as the docker CLI prints sizes.
pub fn parse_size(text: &str) -> f64 {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("size {text:?}"));
    let factor = match unit {
        "B" | "" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unknown unit {other:?} in {text:?}"),
    };
    n * factor
}
