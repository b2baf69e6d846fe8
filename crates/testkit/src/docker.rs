//! Tests against the real Docker engine: a check that it answers, a tiny local image
//! (`FROM scratch` + Debian's static busybox) and labelled containers removed on drop.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The test image every crate's Docker tests run.
pub const TEST_IMAGE: &str = "clustermon/test-busybox:1";

/// Fails the test with a clear message when Docker is not reachable.
pub fn require_docker() {
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

/// Builds [`TEST_IMAGE`] once per test binary and returns its name.
pub fn test_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_docker();
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
    pub fn run(extra: &[&str], script: &str) -> Self {
        Self::new(&["run", "-d"], extra, script)
    }

    /// `docker create`: the same container, never started.
    pub fn create(extra: &[&str], script: &str) -> Self {
        Self::new(&["create"], extra, script)
    }

    fn new(verb: &[&str], extra: &[&str], script: &str) -> Self {
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
