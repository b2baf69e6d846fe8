//! Test harness for the cgroup v2 guest that `scripts/vm-host` boots: the guest's Docker through
//! its forwarded API, images built here and loaded there, labelled guest containers removed on
//! drop, a root shell in the guest, and the guest's `docker stats` figures.
//!
//! Every failure message starts with [`Guest::describe`] (`guest: Debian GNU/Linux 13, kernel
//! 6.12…, cgroup v2, systemd driver, overlay2, Docker 26.1.5`), so a failing check says which
//! host it failed on (the line `testkit::docker::HostFacts` gives, as for this machine's engine
//! tests). Test-only code: failures panic with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use testkit::docker::HostFacts;

/// `tcp://127.0.0.1:PORT`: the guest's Docker API (set by `scripts/vm-host run`).
pub const DOCKER_HOST_VAR: &str = "CLUSTERMON_VM_DOCKER_HOST";
/// `"8080=127.0.0.1:P1 8081=127.0.0.1:P2 ..."`: guest ports reachable from here.
pub const FORWARDS_VAR: &str = "CLUSTERMON_VM_FORWARDS";
/// What a run without the guest says.
pub const NOT_RUN: &str = "vm-e2e: CLUSTERMON_VM_DOCKER_HOST not set, guest checks not run \
     (run them with `scripts/vm-host run -- cargo test -p vm-e2e`)";
/// The tag of our service images built for the guest (`scripts/build-images --tag`).
pub const IMAGE_TAG: &str = "vm-e2e";

/// The guest, as `scripts/vm-host` exported it.
pub struct Guest {
    pub docker_host: String,
    forwards: BTreeMap<u16, String>,
}

impl Guest {
    /// The guest named by the environment; panics with how to get one when it is not set.
    pub fn get() -> &'static Guest {
        static GUEST: OnceLock<Guest> = OnceLock::new();
        GUEST.get_or_init(|| {
            let docker_host = std::env::var(DOCKER_HOST_VAR)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("{NOT_RUN}"));
            let forwards = parse_forwards(&std::env::var(FORWARDS_VAR).unwrap_or_default());
            let guest = Guest {
                docker_host,
                forwards,
            };
            let facts = guest.facts();
            eprintln!("vm-e2e: {}", facts.line("guest"));
            guest
        })
    }

    /// `docker info` of the guest, now (the storage driver changes with the image store).
    pub fn facts(&self) -> HostFacts {
        HostFacts::read(Some(&self.docker_host))
            .unwrap_or_else(|e| panic!("guest at {}: {e}", self.docker_host))
    }

    /// The host line every failure message starts with (`guest: Debian GNU/Linux 13 (trixie),
    /// kernel …`, the form host-side engine tests print as `host: …`); falls back to the
    /// address when the guest's Docker does not answer.
    pub fn describe(&self) -> String {
        match HostFacts::read(Some(&self.docker_host)) {
            Ok(facts) => facts.line("guest"),
            Err(e) => format!("guest at {} (Docker not answering: {e})", self.docker_host),
        }
    }

    /// `docker -H <guest> ARGS`, bounded to 2 minutes (the guest is slow, not hung).
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("120")
            .arg("docker")
            .args(["-H", &self.docker_host])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// `docker -H <guest> ARGS`, which must succeed; its stdout, trimmed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "{}: docker {args:?} failed: {}",
            self.describe(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `127.0.0.1:PORT` where the guest's TCP `guest_port` is forwarded.
    pub fn forward(&self, guest_port: u16) -> &str {
        self.forwards.get(&guest_port).unwrap_or_else(|| {
            panic!(
                "guest port {guest_port} is not forwarded ({FORWARDS_VAR}={:?}; scripts/vm-host forwards 8080-8083)",
                std::env::var(FORWARDS_VAR).unwrap_or_default()
            )
        })
    }

    /// Copies images of this machine's engine into the guest (`docker save | docker load`).
    pub fn load(&self, images: &[&str]) {
        if let Err(e) = self.try_load(images) {
            panic!("{}: {e}", self.describe());
        }
    }

    /// [`Guest::load`] without panicking.
    pub fn try_load(&self, images: &[&str]) -> Result<(), String> {
        let out = Command::new("bash")
            .args([
                "-c",
                "set -o pipefail; docker save \"${@:2}\" | timeout 300 docker -H \"$1\" load -q",
                "load",
                &self.docker_host,
            ])
            .args(images)
            .output()
            .map_err(|e| format!("run docker save | docker load: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "loading {images:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// The test image (`testkit::docker::test_image`, built here) loaded into the guest.
    pub fn test_image(&self) -> &'static str {
        let image = testkit::docker::test_image();
        self.load(&[image]);
        image
    }

    /// Runs `script` as root in the guest itself (its namespaces, through a privileged helper
    /// container entering pid 1's); its stdout. The test image must be loaded.
    pub fn shell(&self, script: &str) -> String {
        self.try_shell(script)
            .unwrap_or_else(|e| panic!("{}: {e}", self.describe()))
    }

    /// [`Guest::shell`] without panicking.
    pub fn try_shell(&self, script: &str) -> Result<String, String> {
        let out = self.docker(&[
            "run",
            "--rm",
            "--privileged",
            "--pid=host",
            "--label",
            "clustermon.test=1",
            testkit::docker::TEST_IMAGE,
            "nsenter",
            "-t",
            "1",
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
            "/bin/sh",
            "-c",
            script,
        ]);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "guest shell `{script}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Copies the files of the local folder `local` into the guest's folder `guest_dir`
    /// (created; files of the same name replaced): `tar` here, `tar x` there in a container of
    /// the test image with `guest_dir` mounted. The test image must be loaded.
    pub fn copy_in(&self, local: &std::path::Path, guest_dir: &str) {
        let out = Command::new("bash")
            .args([
                "-c",
                "set -o pipefail; tar -ch -C \"$2\" . | timeout 300 docker -H \"$1\" run -i --rm \
                 --label clustermon.test=1 -v \"$3:/dst\" \"$4\" tar x -C /dst",
                "copy-in",
                &self.docker_host,
            ])
            .arg(local)
            .args([guest_dir, testkit::docker::TEST_IMAGE])
            .output()
            .expect("run tar | docker run tar x");
        assert!(
            out.status.success(),
            "{}: copying {} into the guest's {guest_dir} failed: {}",
            self.describe(),
            local.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    /// Switches the guest's Docker to the containerd image store (`containerd: true`) or back
    /// to its graph drivers (overlay2), restarts it and waits until it answers with the new
    /// store. A restarted Docker stops every container, and the two stores hold different
    /// images. `systemctl reset-failed` first: Docker's unit allows 3 starts a minute.
    pub fn set_image_store(&self, containerd: bool) -> Result<(), String> {
        let (config, driver) = if containerd {
            (
                r#"{"features": {"containerd-snapshotter": true}}"#,
                "overlayfs",
            )
        } else {
            ("{}", "overlay2")
        };
        self.try_load(&[testkit::docker::TEST_IMAGE])?;
        // The restart runs as its own unit, a few seconds later: it stops the helper container
        // this runs in, whose `docker run` may then report an error although all went well.
        let queued = self.try_shell(&format!(
            "echo '{config}' >/etc/docker/daemon.json && systemd-run --no-block --collect \
             /bin/sh -c 'sleep 3; systemctl reset-failed docker; systemctl restart docker'"
        ));
        if let Err(e) = queued {
            if !e.contains("Running as unit") {
                return Err(e);
            }
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(240) {
            let out = self.docker(&["info", "--format", "{{.Driver}}"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == driver {
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        Err(format!(
            "Docker did not come back with storage driver {driver} within 240 s"
        ))
    }

    /// `docker stats --no-stream` of one container in the guest.
    pub fn docker_stats(&self, id: &str) -> DockerStats {
        let line = self.docker_ok(&["stats", "--no-stream", "--format", "{{json .}}", id]);
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("docker stats output {line:?}: {e}"));
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let cpu = field("CPUPerc");
        let mem = field("MemUsage");
        let (used, limit) = mem
            .split_once(" / ")
            .unwrap_or_else(|| panic!("docker stats MemUsage {mem:?}"));
        DockerStats {
            cpu_percent: cpu
                .trim_end_matches('%')
                .parse()
                .unwrap_or_else(|e| panic!("docker stats CPUPerc {cpu:?}: {e}")),
            memory_used_bytes: parse_size(used)
                .unwrap_or_else(|| panic!("docker stats MemUsage {mem:?}")),
            memory_limit_bytes: parse_size(limit)
                .unwrap_or_else(|| panic!("docker stats MemUsage {mem:?}")),
        }
    }

    /// The median of `n` `docker stats --no-stream` CPU readings that a container limited to
    /// `cap` percent can show (up to `cap` + 10); `None` when none could. On a guest under
    /// software emulation on a busy host, the daemon's system CPU delta (from the guest's
    /// tick-based `/proc/stat`) falls short and `docker stats` overstates: 97 % and 158 % were
    /// seen for a `--cpus 0.5` container while this host's load average was 6-14.
    pub fn docker_stats_cpu(&self, id: &str, n: usize, cap: f64) -> Option<f64> {
        let readings: Vec<f64> = (0..n.max(1))
            .map(|_| self.docker_stats(id).cpu_percent)
            .collect();
        let mut possible: Vec<f64> = readings
            .iter()
            .copied()
            .filter(|p| *p <= cap + 10.0)
            .collect();
        possible.sort_by(f64::total_cmp);
        eprintln!("docker stats CPU readings of {id}: {readings:?}");
        if possible.is_empty() {
            eprintln!(
                "vm-e2e: WARNING: every docker stats reading of {id} is above its {cap} % limit \
                 (this host is too busy for the guest's tick accounting): not comparable"
            );
            return None;
        }
        Some(possible[possible.len() / 2])
    }

    /// `docker inspect --size`'s `SizeRw`: the writable layer's size as Docker computes it for
    /// `docker ps -s`.
    pub fn layer_size(&self, id: &str) -> u64 {
        let text = self.docker_ok(&["inspect", "--size", "--format", "{{.SizeRw}}", id]);
        text.parse()
            .unwrap_or_else(|e| panic!("SizeRw of {id}: {text:?}: {e}"))
    }

    /// Our service images (`container-exporter`, `docker-api`) built here once by
    /// `scripts/build-images` from the binaries `cargo test` built (`--profile dev`), then
    /// loaded into the guest; their names. With `CLUSTERMON_VM_IMAGES_BUILT=1` the images
    /// already tagged `vm-e2e` here are used as they are.
    pub fn service_images(&self) -> [String; 2] {
        static BUILT: OnceLock<()> = OnceLock::new();
        BUILT.get_or_init(|| {
            if std::env::var("CLUSTERMON_VM_IMAGES_BUILT").is_ok_and(|v| v == "1") {
                return;
            }
            // Checks this machine's Docker without making failures name this host.
            testkit::docker::test_image();
            let root = testkit::workspace::workspace_root();
            let status = Command::new("bash")
                .arg(root.join("scripts/build-images"))
                .args(["--rust-only", "--profile", "dev", "--tag", IMAGE_TAG])
                .args(["container-exporter", "docker-api"])
                .current_dir(&root)
                .status()
                .expect("run scripts/build-images");
            assert!(status.success(), "scripts/build-images failed ({status})");
        });
        let images = [
            format!("clustermon/container-exporter:{IMAGE_TAG}"),
            format!("clustermon/docker-api:{IMAGE_TAG}"),
        ];
        self.load(&[&images[0], &images[1]]);
        images
    }

    /// Removes the test containers (label `clustermon.test`) an earlier run left in the guest:
    /// the guest is this run's alone.
    pub fn remove_leftovers(&self) {
        let leftovers = self.docker_ok(&["ps", "-aq", "--filter", "label=clustermon.test"]);
        for id in leftovers.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
    }

    /// docker-api (our image, built here and loaded) run in the guest as the container
    /// `cm-vm-docker-api` (one left by an earlier test binary is replaced) with the guest's
    /// `/sys`, `/proc` and Docker socket, published on guest port `guest_port`.
    pub fn start_docker_api(&'static self, guest_port: u16) -> GuestContainer {
        let [_, image] = self.service_images();
        GuestContainer::run_image(
            self,
            "cm-vm-docker-api",
            &[
                "--user=0",
                "-p",
                &format!("{guest_port}:3001"),
                "-v",
                "/sys:/host/sys:ro",
                "-v",
                "/proc:/host/proc:ro",
                "-v",
                "/var/run/docker.sock:/var/run/docker.sock:ro",
                &image,
                "--path.sysfs=/host/sys",
                "--path.procfs=/host/proc",
            ],
        )
    }

    /// Runs `sh -c SCRIPT` in the reader container (privileged, the guest's pids, its cgroup
    /// tree at `/host/cgroup`), started on first use; its stdout.
    pub fn read(&'static self, script: &str) -> String {
        static READER: OnceLock<GuestContainer> = OnceLock::new();
        let reader = READER.get_or_init(|| {
            GuestContainer::run(
                self,
                &[
                    "--privileged",
                    "--pid=host",
                    "-v",
                    "/sys/fs/cgroup:/host/cgroup:ro",
                ],
                "exec sleep 86400",
            )
        });
        reader.exec(script)
    }

    /// Polls `check` every second until it gives a value or `limit` passes; the panic says
    /// what was awaited and on which host.
    pub fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "{}: gave up after {limit:?} waiting for {what}",
                self.describe()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The guest's `docker stats` figures of one container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DockerStats {
    pub cpu_percent: f64,
    pub memory_used_bytes: f64,
    pub memory_limit_bytes: f64,
}

/// A container in the guest from the test image, labelled `clustermon.test=1` and named
/// `cm-vm-<pid>-<n>`; removed (forcefully) when dropped, even when the test failed.
pub struct GuestContainer {
    guest: &'static Guest,
    pub id: String,
    pub name: String,
}

impl GuestContainer {
    /// `docker run -d --label clustermon.test=1 --name <unique> EXTRA... TEST_IMAGE sh -c SCRIPT`.
    pub fn run(guest: &'static Guest, extra: &[&str], script: &str) -> Self {
        let name = unique_name();
        let mut args = vec!["run", "-d", "--label", "clustermon.test=1", "--name", &name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[testkit::docker::TEST_IMAGE, "sh", "-c", script]);
        let id = guest.docker_ok(&args);
        Self { guest, id, name }
    }

    /// A named container from any image (`docker run -d --label ... --name NAME ARGS...`).
    pub fn run_image(guest: &'static Guest, name: &str, args: &[&str]) -> Self {
        let _ = guest.docker(&["rm", "-f", name]);
        let mut all = vec!["run", "-d", "--label", "clustermon.test=1", "--name", name];
        all.extend_from_slice(args);
        let id = guest.docker_ok(&all);
        Self {
            guest,
            id,
            name: name.to_string(),
        }
    }

    /// `sh -c SCRIPT` in the container; its stdout.
    pub fn exec(&self, script: &str) -> String {
        self.guest
            .docker_ok(&["exec", &self.id, "sh", "-c", script])
    }

    /// A file of the container's cgroup (`system.slice/docker-<id>.scope/FILE`), read from the
    /// guest's cgroup tree by the reader container: a `docker exec` in the container itself
    /// would charge its memory and CPU with the reading.
    pub fn cgroup_file(&self, file: &str) -> String {
        self.guest.read(&format!(
            "cat /host/cgroup/system.slice/docker-{}.scope/{file}",
            self.id
        ))
    }

    /// The cgroup's CPU time (`cpu.stat` `usage_usec`) and the guest's uptime, in seconds, read
    /// together: two such readings give the rate the kernel itself accounts.
    pub fn cpu_seconds_and_uptime(&self) -> (f64, f64) {
        let text = self.guest.read(&format!(
            "cat /host/cgroup/system.slice/docker-{}.scope/cpu.stat /proc/uptime",
            self.id
        ));
        let usage = keyed_value(&text, "usage_usec")
            .unwrap_or_else(|| panic!("cpu.stat of {} without usage_usec: {text}", self.name));
        let uptime: f64 = text
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no /proc/uptime in {text:?}"));
        (usage as f64 / 1e6, uptime)
    }

    /// A counter of the container's network interface (`rx_bytes` of `eth0`), read in its
    /// network and mount namespaces by the reader container.
    pub fn net_counter(&self, interface: &str, counter: &str) -> u64 {
        let pid = self
            .guest
            .docker_ok(&["inspect", "--format", "{{.State.Pid}}", &self.id]);
        let text = self.guest.read(&format!(
            "nsenter -t {pid} -n -m cat /sys/class/net/{interface}/statistics/{counter}"
        ));
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{counter} of {}: {text:?}: {e}", self.name))
    }

    pub fn cgroup_u64(&self, file: &str) -> u64 {
        let text = self.cgroup_file(file);
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{file} of {}: {text:?}: {e}", self.name))
    }

    /// A key of a flat-keyed cgroup file (`memory.stat`'s `inactive_file`).
    pub fn cgroup_key(&self, file: &str, key: &str) -> u64 {
        let text = self.cgroup_file(file);
        keyed_value(&text, key)
            .unwrap_or_else(|| panic!("{file} of {} has no {key}: {text}", self.name))
    }

    /// Removes the container now.
    pub fn remove(&self) {
        let _ = self.guest.docker(&["rm", "-f", &self.id]);
    }
}

impl Drop for GuestContainer {
    fn drop(&mut self) {
        self.remove();
    }
}

fn unique_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "cm-vm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// `"8080=127.0.0.1:22372 8081=127.0.0.1:22373"` into guest port → local address.
pub fn parse_forwards(text: &str) -> BTreeMap<u16, String> {
    text.split_whitespace()
        .filter_map(|pair| {
            let (port, addr) = pair.split_once('=')?;
            Some((port.parse().ok()?, addr.to_string()))
        })
        .collect()
}

/// `docker stats` sizes (`1.5MiB`, `64MiB`, `2.93GiB`, `512B`, `1.2kB`) in bytes.
pub fn parse_size(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "B" | "" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0_f64.powi(4),
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some(number * factor)
}

/// The value of `key` in a `key value` per line file.
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Scrapes `http://ADDR/metrics` and parses it.
pub fn scrape(addr: &str) -> Result<BTreeMap<String, testkit::Family>, String> {
    let response = testkit::http::get_with(
        &format!("http://{addr}/metrics"),
        &[],
        Duration::from_secs(60),
    )?;
    if response.status != 200 {
        return Err(format!("/metrics answered {}", response.status));
    }
    testkit::parse_exposition(&response.body)
}

/// The value of `family`'s sample whose labels include all of `labels`.
pub fn value(
    families: &BTreeMap<String, testkit::Family>,
    family: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    families.get(family)?.value(labels)
}

/// `|a - b| <= absolute + relative * max(|a|, |b|)`.
pub fn close(a: f64, b: f64, absolute: f64, relative: f64) -> bool {
    (a - b).abs() <= absolute + relative * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Says plainly, in every `cargo test --workspace`, whether the guest checks ran: libtest
    /// hides a passing test's `print!`, so this writes to stderr itself.
    #[test]
    fn guest_checks_run_only_with_the_vm() {
        let line = if cfg!(vm_guest) {
            format!(
                "vm-e2e: guest checks run against {}",
                std::env::var(DOCKER_HOST_VAR).unwrap_or_default()
            )
        } else {
            NOT_RUN.to_string()
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    #[test]
    fn docker_stats_sizes() {
        assert_eq!(parse_size("64MiB"), Some(64.0 * 1024.0 * 1024.0));
        assert_eq!(parse_size("1.5KiB"), Some(1536.0));
        assert_eq!(parse_size("512B"), Some(512.0));
        assert_eq!(parse_size("2kB"), Some(2000.0));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("3 parsecs"), None);
    }

    #[test]
    fn forwarded_ports() {
        let f = parse_forwards("8080=127.0.0.1:22372 8081=127.0.0.1:22373 junk");
        assert_eq!(f.get(&8080).map(String::as_str), Some("127.0.0.1:22372"));
        assert_eq!(f.get(&8081).map(String::as_str), Some("127.0.0.1:22373"));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn keyed_cgroup_values() {
        let stat = "anon 1024\nfile 4096\ninactive_file 2048\n";
        assert_eq!(keyed_value(stat, "inactive_file"), Some(2048));
        assert_eq!(keyed_value(stat, "file"), Some(4096));
        assert_eq!(keyed_value(stat, "active_file"), None);
    }
}
