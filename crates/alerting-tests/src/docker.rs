//! Test containers on the real Docker engine: a tiny local image (`FROM scratch` with Debian's
//! static busybox, so no registry is needed) and containers removed on drop.

use std::process::Command;
use std::sync::OnceLock;

/// The test image's tag.
pub const IMAGE: &str = "clustermon/alerting-tests:1";

/// Runs `docker args...`, panicking with its stderr when it fails; returns its trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run docker: {e}"));
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the test image once per test binary; panics saying what is missing when Docker or
/// busybox is not there.
pub fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        testkit::require_command("docker", "docker.io");
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output();
        assert!(
            info.is_ok_and(|o| o.status.success()),
            "this test needs a running Docker daemon (`docker info` failed)"
        );
        assert!(
            std::path::Path::new("/bin/busybox").is_file(),
            "this test needs /bin/busybox: run `apt-get install busybox-static`"
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let copied = std::fs::copy("/bin/busybox", dir.path().join("busybox"));
        assert!(copied.is_ok(), "copy /bin/busybox: {copied:?}");
        let written = std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        );
        assert!(written.is_ok(), "write the Dockerfile: {written:?}");
        docker(&[
            "build",
            "-q",
            "-t",
            IMAGE,
            &dir.path().display().to_string(),
        ]);
    });
    IMAGE
}

/// A container of the test image, labelled `clustermon.test=1`, removed when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <name> <options...> IMAGE sh -c <script>`.
    pub fn run(name: &str, options: &[&str], script: &str) -> Self {
        let image = image();
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        let mut args = vec!["run", "-d", "--name", name, "--label", "clustermon.test=1"];
        args.extend_from_slice(options);
        args.extend_from_slice(&[image, "sh", "-c", script]);
        docker(&args);
        Self {
            name: name.to_string(),
        }
    }

    /// `docker exec <container> args...`.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}
