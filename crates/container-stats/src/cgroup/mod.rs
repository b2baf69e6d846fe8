//! Where a container's cgroup lives, on cgroup v1 and v2, with either Docker cgroup driver.
//!
//! The hierarchy is detected the way cAdvisor does it: v2 only when the cgroup root itself is a
//! cgroup2 mount. Roots are configurable, so the same code reads `/host/sys` inside a container
//! or a fixture tree in tests; a cgroup2 mount root is recognised by its `cgroup.controllers`
//! file, which a v1 root (a tmpfs holding one mount per controller) never has.

pub mod psi;
pub mod v1;
pub mod v2;

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::stats::CgroupVersion;
use crate::Error;

/// What to read beyond the basic CPU, memory, block I/O and pids figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Per-CPU usage (v1's `cpuacct.usage_percpu`).
    pub per_cpu: bool,
    /// Process and thread counts (`cgroup.procs`, `tasks`).
    pub processes: bool,
    /// Open file descriptors: one directory listing per process, so off unless wanted.
    pub file_descriptors: bool,
    /// Network counters from the container's `/proc/<pid>/net/dev`.
    pub network: bool,
    /// Pressure stall totals.
    pub pressure: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            per_cpu: false,
            processes: true,
            file_descriptors: false,
            network: true,
            pressure: true,
        }
    }
}

/// Settings of a cgroup that change only on `docker update`: read now and then rather than on
/// every sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub quota_us: Option<u64>,
    pub period_us: Option<u64>,
    pub shares: Option<u64>,
    pub memory_limit: Option<u64>,
    pub memory_reservation: Option<u64>,
    pub swap_limit: Option<u64>,
    pub pids_limit: Option<u64>,
    /// v1: the blkio files that carry this cgroup's counters, once one does.
    pub blkio_prefix: Option<&'static str>,
}

/// Read and write counters of one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IoCounter {
    pub major: u32,
    pub minor: u32,
    pub read: u64,
    pub write: u64,
    /// Every operation the file lists for the device, in the kernel's order, under cAdvisor's
    /// names (`Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`).
    pub by_operation: Vec<(&'static str, u64)>,
}

impl IoCounter {
    /// Adds `value` to operation `op` (saturating: the file's numbers are not trusted).
    pub fn add(&mut self, op: &'static str, value: u64) {
        match op {
            "Read" => self.read = self.read.saturating_add(value),
            "Write" => self.write = self.write.saturating_add(value),
            _ => {}
        }
        match self.by_operation.iter_mut().find(|(o, _)| *o == op) {
            Some((_, v)) => *v = v.saturating_add(value),
            None => self.by_operation.push((op, value)),
        }
    }

    /// The `Total` line, or read plus write where the file has none.
    pub fn total(&self) -> u64 {
        self.by_operation
            .iter()
            .find(|(o, _)| *o == "Total")
            .map_or(self.read.saturating_add(self.write), |(_, v)| *v)
    }

    /// The counter of device `major:minor` in `list`, added when missing.
    pub(crate) fn entry(list: &mut Vec<IoCounter>, major: u32, minor: u32) -> &mut IoCounter {
        let i = match list
            .iter()
            .position(|c| c.major == major && c.minor == minor)
        {
            Some(i) => i,
            None => {
                list.push(IoCounter {
                    major,
                    minor,
                    ..IoCounter::default()
                });
                list.len() - 1
            }
        };
        &mut list[i]
    }
}

/// Everything the block I/O files of one cgroup say, per device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoFiles {
    /// Bytes (`io_service_bytes_recursive`, `rbytes`/`wbytes`/`dbytes`).
    pub bytes: Vec<IoCounter>,
    /// Requests (`io_serviced_recursive`, `rios`/`wios`/`dios`).
    pub ops: Vec<IoCounter>,
    /// v1 CFQ/BFQ only: service time (ns), merged and queued requests.
    pub service_time: Vec<IoCounter>,
    pub merged: Vec<IoCounter>,
    pub queued: Vec<IoCounter>,
    /// v2 with iocost: `cost.usage`, `cost.wait`, `cost.indebt`, `cost.indelay` (µs).
    pub cost: Vec<(u32, u32, crate::stats::IoCost)>,
}

/// The cgroup hierarchy of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One hierarchy per controller under `root` (`root/cpu`, `root/memory`...), and, on a
    /// hybrid host, a controller-less v2 tree holding the PSI files.
    V1 {
        root: PathBuf,
        unified: Option<PathBuf>,
    },
    /// One unified hierarchy.
    V2 { root: PathBuf },
}

/// The directories of one located cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupDirs {
    V1(v1::V1Dirs),
    V2(PathBuf),
}

impl Layout {
    /// Finds the hierarchy under `<sysfs>/fs/cgroup`.
    pub fn detect(sysfs: &Path) -> Result<Layout, Error> {
        let root = sysfs.join("fs/cgroup");
        if root.join("cgroup.controllers").is_file() {
            return Ok(Layout::V2 { root });
        }
        if root.join("cpuacct").is_dir() || root.join("memory").is_dir() {
            let unified = root.join("unified");
            let unified = unified
                .join("cgroup.controllers")
                .is_file()
                .then_some(unified);
            return Ok(Layout::V1 { root, unified });
        }
        Err(Error::NoCgroups { path: root })
    }

    pub fn version(&self) -> CgroupVersion {
        match self {
            Layout::V1 { .. } => CgroupVersion::V1,
            Layout::V2 { .. } => CgroupVersion::V2,
        }
    }

    /// The directories of the cgroup at `rel` (`/` for the root).
    pub fn dirs(&self, rel: &str) -> CgroupDirs {
        let rel = rel.trim_start_matches('/');
        match self {
            Layout::V1 { root, unified } => CgroupDirs::V1(v1::V1Dirs {
                cpu: root.join("cpu").join(rel),
                cpuacct: root.join("cpuacct").join(rel),
                memory: root.join("memory").join(rel),
                blkio: root.join("blkio").join(rel),
                pids: root.join("pids").join(rel),
                unified: unified.as_ref().map(|u| u.join(rel)),
            }),
            Layout::V2 { root } => CgroupDirs::V2(root.join(rel)),
        }
    }

    /// Whether a cgroup exists at `rel`.
    fn exists(&self, rel: &str) -> bool {
        let rel = rel.trim_start_matches('/');
        match self {
            Layout::V1 { root, .. } => root
                .join("cpuacct")
                .join(rel)
                .join("cpuacct.usage")
                .is_file(),
            Layout::V2 { root } => root.join(rel).join("cpu.stat").is_file(),
        }
    }

    /// Finds a container's cgroup path (relative to the hierarchy root, e.g. `/docker/<id>`).
    ///
    /// Tried in order: what `/proc/<pid>/cgroup` says (unless it points outside our cgroup
    /// namespace), the container's `--cgroup-parent`, then the two drivers' defaults
    /// (`/docker/<id>` for cgroupfs, `/system.slice/docker-<id>.scope` for systemd).
    pub fn locate(
        &self,
        id: &str,
        pid: Option<u32>,
        cgroup_parent: &str,
        procfs: &Path,
    ) -> Option<String> {
        let mut candidates: Vec<String> = Vec::with_capacity(4);
        if let Some(pid) = pid.filter(|p| *p > 0) {
            if let Ok(text) = std::fs::read_to_string(procfs.join(pid.to_string()).join("cgroup")) {
                if let Some(rel) = parse_proc_cgroup(&text, self.version()) {
                    candidates.push(rel);
                }
            }
        }
        if !cgroup_parent.is_empty() {
            if let Some(slice) = cgroup_parent.strip_suffix(".slice") {
                candidates.push(format!("{}/docker-{id}.scope", expand_slice(slice)));
            } else {
                candidates.push(format!("/{}/{id}", cgroup_parent.trim_matches('/')));
            }
        }
        candidates.push(format!("/docker/{id}"));
        candidates.push(format!("/system.slice/docker-{id}.scope"));
        candidates.into_iter().find(|rel| self.exists(rel))
    }
}

/// The cgroup path in `/proc/<pid>/cgroup`: the `0::` line on v2, the `cpuacct` line on v1.
/// Paths starting with `/..` lie outside the reader's cgroup namespace and are not usable, and
/// neither is `/`: a container is never the root cgroup, so `/` means the process sits at the
/// root of a private cgroup namespace (on cgroup v2 every container has one, the exporter's own
/// included) and the path must come from the layout instead.
pub fn parse_proc_cgroup(text: &str, version: CgroupVersion) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = match version {
            CgroupVersion::V2 => controllers.is_empty(),
            CgroupVersion::V1 => controllers.split(',').any(|c| c == "cpuacct"),
        };
        (wanted && path.starts_with('/') && !path.starts_with("/..") && path != "/")
            .then(|| path.to_string())
    })
}

/// systemd's slice naming: `a-b.slice` lives at `/a.slice/a-b.slice`.
fn expand_slice(slice: &str) -> String {
    let mut out = String::new();
    let mut prefix = String::new();
    for part in slice.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push('/');
        out.push_str(&prefix);
        out.push_str(".slice");
    }
    out
}

/// Reads a file that must exist while the cgroup does; a missing file means the cgroup is gone.
pub(crate) fn read_required<'b>(path: &Path, buf: &'b mut String) -> Result<&'b str, Error> {
    match read_into(path, buf) {
        Ok(_) => Ok(buf.as_str()),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(19) => {
            Err(Error::Gone {
                path: path.to_path_buf(),
            })
        }
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads a file the kernel or controller set may not offer.
pub(crate) fn read_optional<'b>(path: &Path, buf: &'b mut String) -> Option<&'b str> {
    read_into(path, buf).ok().map(|_| buf.as_str())
}

/// Reads a whole file into `buf` (cleared first, its capacity kept between files).
fn read_into(path: &Path, buf: &mut String) -> io::Result<usize> {
    buf.clear();
    buf.reserve(4096);
    let file = std::fs::File::open(path)?;
    io::Read::read_to_string(&mut WithoutSizeHint(file), buf)
}

/// A file read without std's size hint. `File`'s own `read_to_string` asks for the size first
/// (an fstat and an lseek), which cgroup and proc files report as 0 or 4096 anyway: two of the
/// six syscalls per file, on a path that reads about 15 files per container per scrape.
struct WithoutSizeHint(std::fs::File);

impl io::Read for WithoutSizeHint {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    #[test]
    fn proc_cgroup_lines_of_this_host() {
        let text = "9:name=systemd:/docker/abc\n2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n0::/docker/abc\n";
        assert_eq!(
            parse_proc_cgroup(text, CgroupVersion::V1).as_deref(),
            Some("/docker/abc")
        );
        assert_eq!(
            parse_proc_cgroup(text, CgroupVersion::V2).as_deref(),
            Some("/docker/abc")
        );
        let combined = "3:cpu,cpuacct:/system.slice/docker-abc.scope\n";
        assert_eq!(
            parse_proc_cgroup(combined, CgroupVersion::V1).as_deref(),
            Some("/system.slice/docker-abc.scope")
        );
        // Seen from inside another cgroup namespace: not a path we can use.
        assert_eq!(
            parse_proc_cgroup("0::/../docker/abc\n", CgroupVersion::V2),
            None
        );
        // The root of a private cgroup namespace (the exporter's own container on v2, read from
        // inside it): never a container's path, or the host's figures get its name.
        assert_eq!(parse_proc_cgroup("0::/\n", CgroupVersion::V2), None);
    }

    #[test]
    fn systemd_slices_nest_by_dash() {
        assert_eq!(expand_slice("system"), "/system.slice");
        assert_eq!(expand_slice("my-app"), "/my.slice/my-app.slice");
    }

    #[test]
    fn pure_v2_fixture_is_detected_and_both_drivers_are_located() {
        let sysfs = PathBuf::from(format!("{FIX}/v2/sys"));
        let procfs = PathBuf::from(format!("{FIX}/v2/proc"));
        let layout = Layout::detect(&sysfs).unwrap();
        assert_eq!(layout.version(), CgroupVersion::V2);
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            layout.locate(&a, Some(4242), "", &procfs),
            Some(format!("/docker/{a}"))
        );
        // No pid known (daemon not asked yet): the systemd driver's default name is found.
        assert_eq!(
            layout.locate(&b, None, "", &procfs),
            Some(format!("/system.slice/docker-{b}.scope"))
        );
        assert_eq!(layout.locate(&"c".repeat(64), None, "", &procfs), None);
    }

    #[test]
    fn a_tmpfs_root_with_controller_dirs_is_v1() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("fs/cgroup");
        std::fs::create_dir_all(root.join("cpuacct/docker/x")).unwrap();
        std::fs::create_dir_all(root.join("unified")).unwrap();
        std::fs::write(root.join("unified/cgroup.controllers"), "\n").unwrap();
        std::fs::write(root.join("cpuacct/docker/x/cpuacct.usage"), "1\n").unwrap();
        let layout = Layout::detect(dir.path()).unwrap();
        assert_eq!(layout.version(), CgroupVersion::V1);
        assert!(matches!(
            &layout,
            Layout::V1 {
                unified: Some(_),
                ..
            }
        ));
        assert_eq!(
            layout.locate("x", None, "", Path::new("/nonexistent")),
            Some("/docker/x".into())
        );
        assert!(Layout::detect(Path::new("/nonexistent")).is_err());
    }
}
