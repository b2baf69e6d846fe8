//! Helpers for tests against the real Docker engine: a tiny local image, labelled containers
//! removed on drop, scraping our exporter, and reading the cgroup files ourselves.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{Family, ServiceProcess};

pub use testkit::docker::{require_docker, Container};

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

/// The host's cgroup hierarchy, decided as the exporter decides it (a cgroup2 root is v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cgroups {
    V1,
    V2,
}

pub fn cgroup_version() -> Cgroups {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").is_file() {
        Cgroups::V2
    } else {
        Cgroups::V1
    }
}

/// The container's cgroup path as its main process's `/proc/<pid>/cgroup` gives it: the
/// `cpuacct` line on v1, the `0::` line on v2 (cAdvisor's `id` label).
pub fn cgroup_id(c: &Container) -> String {
    cgroup_path(c, "cpuacct")
}

fn cgroup_path(c: &Container, controller: &str) -> String {
    let pid = c.inspect("{{.State.Pid}}");
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup of {}: {e}", c.name));
    let version = cgroup_version();
    text.lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = match version {
                Cgroups::V2 => controllers.is_empty(),
                Cgroups::V1 => controllers.split(',').any(|k| k == controller),
            };
            wanted.then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no {controller} line in /proc/{pid}/cgroup: {text}"))
}

/// A cgroup file of the container, where `/proc/<pid>/cgroup` says its cgroup is: under the
/// controller's hierarchy on v1 (`v1_controller`), in the unified tree on v2.
pub fn cgroup_file(c: &Container, v1_controller: &str, file: &str) -> String {
    let path = match cgroup_version() {
        Cgroups::V1 => format!(
            "/sys/fs/cgroup/{v1_controller}{}/{file}",
            cgroup_path(c, v1_controller)
        ),
        Cgroups::V2 => format!("/sys/fs/cgroup{}/{file}", cgroup_path(c, v1_controller)),
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Total CPU time of the container in seconds, from the kernel's own file.
pub fn cgroup_cpu_seconds(c: &Container) -> f64 {
    match cgroup_version() {
        Cgroups::V1 => {
            cgroup_file(c, "cpuacct", "cpuacct.usage")
                .trim()
                .parse::<f64>()
                .unwrap()
                / 1e9
        }
        Cgroups::V2 => keyed(&cgroup_file(c, "cpu", "cpu.stat"), "usage_usec").unwrap() / 1e6,
    }
}

/// The container's memory usage in bytes (`memory.usage_in_bytes` / `memory.current`).
pub fn cgroup_memory_usage(c: &Container) -> f64 {
    let file = match cgroup_version() {
        Cgroups::V1 => "memory.usage_in_bytes",
        Cgroups::V2 => "memory.current",
    };
    cgroup_file(c, "memory", file).trim().parse().unwrap()
}

/// The processes the kernel lists in the container's cgroup.
pub fn cgroup_procs(c: &Container) -> usize {
    cgroup_file(c, "pids", "cgroup.procs").lines().count()
}

/// Bytes (read, written) per `major:minor` in the container's block I/O file, parsed here
/// independently of container-stats: v1's throttle `io_service_bytes_recursive`, v2's `io.stat`.
pub fn cgroup_io_bytes(c: &Container) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    match cgroup_version() {
        Cgroups::V1 => {
            let text = cgroup_file(c, "blkio", "blkio.throttle.io_service_bytes_recursive");
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() != 3 {
                    continue;
                }
                let v: f64 = f[2].parse().unwrap();
                let e = out.entry(f[0].to_string()).or_default();
                match f[1] {
                    "Read" => e.0 += v,
                    "Write" => e.1 += v,
                    _ => {}
                }
            }
        }
        Cgroups::V2 => {
            let text = cgroup_file(c, "blkio", "io.stat");
            for line in text.lines() {
                let mut f = line.split_whitespace();
                let Some(dev) = f.next() else { continue };
                let e = out.entry(dev.to_string()).or_default();
                for kv in f {
                    match kv.split_once('=') {
                        Some(("rbytes", v)) => e.0 += v.parse::<f64>().unwrap(),
                        Some(("wbytes", v)) => e.1 += v.parse::<f64>().unwrap(),
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

fn keyed(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// The whole disk (`/dev/vda`, `major:minor`) holding `path`: `--device-write-bps` takes a disk,
/// not a partition.
pub fn disk_of(path: &std::path::Path) -> (String, String) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).unwrap().dev();
    let (major, minor) = (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    );
    let mut sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).unwrap();
    if sys.join("partition").exists() {
        sys.pop();
    }
    let uevent = std::fs::read_to_string(sys.join("uevent")).unwrap();
    let name = uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .unwrap()
        .to_string();
    let number = std::fs::read_to_string(sys.join("dev"))
        .unwrap()
        .trim()
        .to_string();
    (format!("/dev/{name}"), number)
}

/// promtool's complaints, less those cAdvisor's own names earn (kept for compatibility, so
/// kept here): `container_memory_failcnt` is a counter without `_total`,
/// `container_fs_inodes_total` a gauge with it, `cadvisor_version_info` has camelCase labels,
/// and promtool reads the `d` of `load_d` as an abbreviated unit.
pub fn promtool_complaints(body: &str) -> String {
    const INHERITED: [(&str, &str); 4] = [
        ("container_cpu_load_d_average_10s", "abbreviated units"),
        (
            "container_memory_failcnt",
            "counter metrics should have \"_total\" suffix",
        ),
        (
            "container_fs_inodes_total",
            "non-counter metrics should not have \"_total\" suffix",
        ),
        (
            "cadvisor_version_info",
            "label names should be written in 'snake_case'",
        ),
    ];
    testkit::promtool_check_metrics(body)
        .lines()
        .filter(|l| {
            !INHERITED
                .iter()
                .any(|(name, what)| l.starts_with(name) && l.contains(what))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
