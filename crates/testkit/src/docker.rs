//! Tests against the real Docker engine: a check that it answers, a tiny local image
//! (`FROM scratch` + Debian's static busybox), labelled containers removed on drop, and the
//! host a test ran on ([`HostFacts`], [`name_host_in_failures`]) so a failure says which one.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// The test image every crate's Docker tests run.
pub const TEST_IMAGE: &str = "clustermon/test-busybox:1";

/// Fails the test with a clear message when Docker is not reachable; from then on a failure
/// of the test names this host ([`name_host_in_failures`]).
pub fn require_docker() {
    engine_answers();
    name_host_in_failures();
}

/// Fails with a clear message when this machine's Docker is not reachable.
fn engine_answers() {
    crate::require_command("docker", "docker.io");
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

/// What `docker info` says about an engine's host: what a failing engine check depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    pub os: String,
    pub kernel: String,
    pub cgroup_version: String,
    pub cgroup_driver: String,
    pub storage_driver: String,
    pub docker_version: String,
}

impl HostFacts {
    /// `docker info` of the engine at `docker_host` (`tcp://…`; this machine's when `None`).
    pub fn read(docker_host: Option<&str>) -> Result<Self, String> {
        let mut docker = Command::new("timeout");
        docker.args(["60", "docker"]);
        if let Some(host) = docker_host {
            docker.args(["-H", host]);
        }
        let out = docker
            .args(["info", "--format", "{{json .}}"])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("run docker info: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "docker info failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let info: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("docker info is not JSON: {e}"))?;
        let text = |key: &str| match &info[key] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "?".into(),
            other => other.to_string(),
        };
        Ok(Self {
            os: text("OperatingSystem"),
            kernel: text("KernelVersion"),
            cgroup_version: text("CgroupVersion"),
            cgroup_driver: text("CgroupDriver"),
            storage_driver: text("Driver"),
            docker_version: text("ServerVersion"),
        })
    }

    /// `WHO: Debian GNU/Linux 12 (bookworm), kernel 6.1.0, cgroup v1, cgroupfs driver,
    /// fuse-overlayfs, Docker 20.10.24`.
    pub fn line(&self, who: &str) -> String {
        format!(
            "{who}: {}, kernel {}, cgroup v{}, {} driver, {}, Docker {}",
            self.os,
            self.kernel,
            self.cgroup_version,
            self.cgroup_driver,
            self.storage_driver,
            self.docker_version
        )
    }
}

/// This machine's engine host in one line (`host: …`, see [`HostFacts::line`]), read with
/// `docker info` once per test binary; says so when the engine did not answer.
pub fn host_description() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| match HostFacts::read(None) {
        Ok(facts) => facts.line("host"),
        Err(e) => format!("host: {} (Docker not answering: {e})", hostname()),
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into())
}

/// Makes every later panic of this test binary (a failed assertion, in any thread) print
/// [`host_description`] on the line before the panic message, so an engine check that fails
/// here says which host it ran on, as vm-e2e's guest checks do. Reads `docker info` now (not
/// while panicking: the engine may be what failed). Called by [`require_docker`], hence by
/// every test that starts a [`Container`]; idempotent.
pub fn name_host_in_failures() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let line = host_description();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            eprintln!("{line}");
            default(info);
        }));
    });
}

/// Builds [`TEST_IMAGE`] once per test binary and returns its name. Leaves failures as they
/// are: vm-e2e builds the image here for a guest whose failures name the guest.
pub fn test_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        engine_answers();
        let busybox = std::path::Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "this test needs a static busybox at /bin/busybox: run `apt-get install busybox-static`"
        );
        let dir = std::env::temp_dir().join(format!("clustermon-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create build context");
        std::fs::copy(busybox, dir.join("busybox")).expect("copy busybox");
        std::fs::write(
            dir.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/sh\"]\n",
        )
        .expect("write Dockerfile");
        let out = Command::new("docker")
            .args(["build", "-q", "-t", TEST_IMAGE])
            .arg(&dir)
            .output()
            .expect("run docker build");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "docker build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    TEST_IMAGE
}

/// A running test container labelled `clustermon.test=1`, removed (forcefully) when dropped,
/// even if the test failed.
pub struct Container {
    pub id: String,
    pub name: String,
}

impl Container {
    /// `docker run -d --label clustermon.test=1 --name <unique> <extra...> IMAGE sh -c <script>`.
    /// Like every container of this machine's engine, it makes the test's failures name this
    /// host ([`name_host_in_failures`]).
    pub fn run(extra: &[&str], script: &str) -> Self {
        Self::new(&["run", "-d"], extra, script)
    }

    /// `docker create`: the same container, never started.
    pub fn create(extra: &[&str], script: &str) -> Self {
        Self::new(&["create"], extra, script)
    }

    fn new(verb: &[&str], extra: &[&str], script: &str) -> Self {
        name_host_in_failures();
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cm-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let image = test_image();
        let out = Command::new("docker")
            .args(verb)
            .args(["--label", "clustermon.test=1", "--name", &name])
            .args(extra)
            .args([image, "sh", "-c", script])
            .output()
            .expect("run docker run");
        assert!(
            out.status.success(),
            "docker {verb:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Self { id, name }
    }

    /// `docker inspect -f FORMAT`.
    pub fn inspect(&self, format: &str) -> String {
        let out = Command::new("docker")
            .args(["inspect", "-f", format, &self.id])
            .output()
            .expect("docker inspect");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs `sh -c script` in the container and returns its stdout.
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

    /// The container's cgroup path as cAdvisor names it (`id` label) with the cgroupfs driver.
    pub fn cgroup_id(&self) -> String {
        format!("/docker/{}", self.id)
    }

    /// A v1 cgroup file of this container (the cgroupfs driver's layout).
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

    /// Removes the container now.
    pub fn stop(&self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.stop();
    }
}
