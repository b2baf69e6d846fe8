//! Reading one typed sample per container from cgroupfs and `/proc`, on demand.
//!
//! Nothing here runs in the background: a caller asks for samples when it needs them (a scrape,
//! a sampler tick) and gets them from the files as they are at that moment. Each container's
//! cgroup is located once and remembered until it disappears.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::cgroup::{
    psi, read_optional, read_required, v1, v2, CgroupDirs, IoCounter, IoFiles, Layout, ReadOptions,
    Spec,
};
use crate::discovery::ContainerInfo;
use crate::host;
use crate::parse::{self, ParseError};
use crate::proc;
use crate::stats::{
    BlkioDevice, BlkioStats, CgroupVersion, ContainerStats, HostCpu, InterfaceStats, IoSplit,
    MachineInfo, PressureStats,
};
use crate::Error;

/// Where the host's `/sys` and `/proc` are visible: `/sys` and `/proc` on the host, typically
/// `/host/sys` and `/host/proc` (mounted read-only) inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub sysfs: PathBuf,
    pub procfs: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Self {
            sysfs: PathBuf::from("/sys"),
            procfs: PathBuf::from("/proc"),
        }
    }
}

/// How long a cgroup's limits are trusted before they are read again.
pub const SPEC_TTL: Duration = Duration::from_secs(15);

/// One container's outcome in [`StatsReader::read_all`].
pub type Sampled<'c> = (&'c ContainerInfo, Result<ContainerStats, Error>);

/// Reads container samples. Cheap to share (`Arc`) between tasks; every method takes `&self`.
#[derive(Debug)]
pub struct StatsReader {
    roots: Roots,
    layout: Layout,
    options: ReadOptions,
    /// Count each container's threads by state (`/proc/<tid>/stat`, one read per thread).
    task_states: bool,
    located: Mutex<HashMap<String, String>>,
    specs: Mutex<HashMap<String, (Instant, Spec)>>,
    device_names: Mutex<HashMap<(u32, u32), String>>,
}

impl StatsReader {
    /// Detects the cgroup hierarchy under `roots.sysfs`.
    pub fn new(roots: Roots, options: ReadOptions) -> Result<Self, Error> {
        let layout = Layout::detect(&roots.sysfs)?;
        Ok(Self {
            roots,
            layout,
            options,
            task_states: false,
            located: Mutex::new(HashMap::new()),
            specs: Mutex::new(HashMap::new()),
            device_names: Mutex::new(HashMap::new()),
        })
    }

    /// Also counts each container's threads by scheduler state ([`crate::TaskStates`]).
    pub fn with_task_states(mut self, on: bool) -> Self {
        self.task_states = on;
        self
    }

    pub fn cgroup_version(&self) -> CgroupVersion {
        self.layout.version()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn options(&self) -> &ReadOptions {
        &self.options
    }

    /// The host's CPU time and online CPUs, read once per batch of samples.
    pub fn host_cpu(&self) -> Result<HostCpu, Error> {
        let path = self.roots.procfs.join("stat");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let (ticks, cpus) =
            parse::parse_proc_stat_cpu(&text).map_err(|e| Error::parse(&path, e))?;
        // USER_HZ is 100 for user space on every Linux architecture Docker supports.
        Ok(HostCpu {
            system_cpu_usage_ns: ticks.saturating_mul(10_000_000),
            online_cpus: cpus.max(1),
        })
    }

    /// The machine's size and identity (read once at start-up by callers), with the host's root
    /// filesystem at `/`.
    pub fn machine_info(&self) -> MachineInfo {
        self.machine_info_at(Path::new("/"))
    }

    /// [`StatsReader::machine_info`] with the host's root filesystem seen at `rootfs` (for its
    /// machine-id and os-release).
    pub fn machine_info_at(&self, rootfs: &Path) -> MachineInfo {
        let read = |p: PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let cpu_cores = self.host_cpu().map(|h| h.online_cpus).unwrap_or(1);
        let meminfo = std::fs::read_to_string(self.roots.procfs.join("meminfo")).ok();
        let memory_bytes = meminfo
            .as_deref()
            .and_then(|t| proc::parse_mem_total(t).ok())
            .unwrap_or(0);
        let swap_bytes = meminfo.as_deref().and_then(proc::parse_swap_total);
        let (physical_cores, sockets, books, drawers) = host::cpu_topology(&self.roots.sysfs);
        let os_version = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|f| {
                std::fs::read_to_string(rootfs.join(f))
                    .ok()
                    .and_then(|t| host::parse_os_release(&t))
            })
            .unwrap_or_default();
        MachineInfo {
            cpu_cores,
            physical_cores,
            sockets,
            books,
            drawers,
            memory_bytes,
            swap_bytes,
            nvm_app_direct_bytes: host::nvm_app_direct_bytes(&self.roots.sysfs),
            dimms: host::dimms(&self.roots.sysfs),
            kernel_version: read(self.roots.procfs.join("sys/kernel/osrelease")),
            os_version,
            boot_id: read(self.roots.procfs.join("sys/kernel/random/boot_id")),
            machine_id: read(rootfs.join("etc/machine-id")),
            system_uuid: read(self.roots.sysfs.join("class/dmi/id/product_uuid")),
        }
    }

    /// The host's block-device filesystems with their disk counters (see
    /// [`host::host_filesystems`]).
    pub fn host_filesystems(&self, rootfs: &Path) -> Vec<host::HostFilesystem> {
        host::host_filesystems(&self.roots.procfs, rootfs)
    }

    /// One container's sample. [`Error::Gone`] when its cgroup has disappeared (it stopped);
    /// [`Error::NotFound`] when no cgroup could be found for it at all.
    pub fn read(&self, container: &ContainerInfo, host: HostCpu) -> Result<ContainerStats, Error> {
        let rel = self.locate(container)?;
        let result = self.read_at(&container.id, &rel, container.pid, host);
        if matches!(result, Err(Error::Gone { .. })) {
            self.forget(&container.id);
        }
        result
    }

    /// The host's root cgroup, as cAdvisor's `id="/"`.
    pub fn read_root(&self, host: HostCpu) -> Result<ContainerStats, Error> {
        self.read_at("", "/", Some(1), host)
    }

    /// Samples of every container given, in order, with the host figures read once. Containers
    /// whose cgroup is gone are left out; other failures come back as errors beside the rest.
    pub fn read_all<'c>(
        &self,
        containers: impl IntoIterator<Item = &'c ContainerInfo>,
    ) -> Result<Vec<Sampled<'c>>, Error> {
        let host = self.host_cpu()?;
        Ok(containers
            .into_iter()
            .map(|c| (c, self.read(c, host)))
            .filter(|(_, r)| !matches!(r, Err(Error::Gone { .. })))
            .collect())
    }

    /// Drops a container's remembered cgroup path and settings.
    pub fn forget(&self, id: &str) {
        if let Some(rel) = lock(&self.located).remove(id) {
            lock(&self.specs).remove(&rel);
        }
    }

    /// A cgroup's settings, re-read every [`SPEC_TTL`] (limits change only on `docker update`).
    fn spec(&self, rel: &str, dirs: &CgroupDirs, buf: &mut String) -> Spec {
        let previous = lock(&self.specs).get(rel).cloned();
        if let Some((read_at, spec)) = &previous {
            if read_at.elapsed() < SPEC_TTL {
                return spec.clone();
            }
        }
        let mut spec = match dirs {
            CgroupDirs::V1(d) => v1::read_spec(d, buf),
            CgroupDirs::V2(d) => v2::read_spec(d, buf),
        };
        // Once a set of blkio files carries the counters, stay with it: switching would make
        // the counters jump.
        if let Some((_, old)) = previous.filter(|(_, old)| old.blkio_prefix.is_some()) {
            spec.blkio_prefix = old.blkio_prefix;
        }
        lock(&self.specs).insert(rel.to_string(), (Instant::now(), spec.clone()));
        spec
    }

    fn locate(&self, container: &ContainerInfo) -> Result<String, Error> {
        if let Some(rel) = lock(&self.located).get(&container.id) {
            return Ok(rel.clone());
        }
        let rel = self
            .layout
            .locate(
                &container.id,
                container.pid,
                &container.cgroup_parent,
                &self.roots.procfs,
            )
            .ok_or_else(|| Error::NotFound {
                id: container.id.clone(),
            })?;
        lock(&self.located).insert(container.id.clone(), rel.clone());
        Ok(rel)
    }

    fn read_at(
        &self,
        id: &str,
        rel: &str,
        pid: Option<u32>,
        host: HostCpu,
    ) -> Result<ContainerStats, Error> {
        let mut buf = String::with_capacity(4096);
        let timestamp = SystemTime::now();
        let dirs = self.layout.dirs(rel);
        let spec = self.spec(rel, &dirs, &mut buf);
        // Thread states of the root cgroup would be one read per host thread: left out, as its
        // file descriptors are.
        let states_from = (self.task_states && rel != "/").then_some(self.roots.procfs.as_path());
        let options = &self.options;
        let (cpu, memory, io, mut pids, procs, psi_dir) = match &dirs {
            CgroupDirs::V1(d) => {
                let r = v1::read(d, options, &spec, &mut buf, states_from)?;
                let psi = d.unified.clone();
                (r.cpu, r.memory, r.io, r.pids, r.procs, psi)
            }
            CgroupDirs::V2(d) => {
                let r = v2::read(d, options, &spec, &mut buf, states_from)?;
                (r.cpu, r.memory, r.io, r.pids, r.procs, Some(d.clone()))
            }
        };
        let pressure = match (&psi_dir, self.options.pressure) {
            (Some(dir), true) => PressureStats {
                cpu: read_optional(&dir.join("cpu.pressure"), &mut buf)
                    .and_then(psi::parse_pressure),
                memory: read_optional(&dir.join("memory.pressure"), &mut buf)
                    .and_then(psi::parse_pressure),
                io: read_optional(&dir.join("io.pressure"), &mut buf).and_then(psi::parse_pressure),
            },
            _ => PressureStats::default(),
        };
        let network = if self.options.network {
            let pid = pid.filter(|p| *p > 0).or_else(|| procs.first().copied());
            match pid {
                Some(pid) => self.read_network(pid, &mut buf)?,
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        // One directory listing per process: skipped for the root cgroup, which holds most of the
        // host's processes on v1. Listings we may not read (another user's processes when not
        // root) leave the figure absent rather than a wrong 0.
        if self.options.file_descriptors && rel != "/" {
            let listings: Vec<u64> = procs
                .iter()
                .filter_map(|p| {
                    std::fs::read_dir(self.roots.procfs.join(p.to_string()).join("fd")).ok()
                })
                .map(|d| d.count() as u64)
                .collect();
            pids.file_descriptors = (!listings.is_empty())
                .then(|| listings.iter().fold(0u64, |sum, n| sum.saturating_add(*n)));
        }
        Ok(ContainerStats {
            id: id.to_string(),
            cgroup: rel.to_string(),
            cgroup_version: self.layout.version(),
            timestamp,
            cpu,
            memory,
            blkio: self.blkio(&io),
            pids,
            network,
            pressure,
            system_cpu_usage_ns: host.system_cpu_usage_ns,
            online_cpus: host.online_cpus,
        })
    }

    fn read_network(&self, pid: u32, buf: &mut String) -> Result<Vec<InterfaceStats>, Error> {
        let path = self.roots.procfs.join(pid.to_string()).join("net/dev");
        match read_required(&path, buf) {
            Ok(text) => proc::parse_net_dev(text).map_err(|e| Error::parse(&path, e)),
            // The process exited between listing and reading: no figures this time.
            Err(Error::Gone { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// One entry per device any of the files lists, in the order the files list them.
    fn blkio(&self, io: &IoFiles) -> BlkioStats {
        let mut numbers: Vec<(u32, u32)> = Vec::new();
        for c in io.bytes.iter().chain(&io.ops) {
            if !numbers.contains(&(c.major, c.minor)) {
                numbers.push((c.major, c.minor));
            }
        }
        let find = |list: &[IoCounter], major: u32, minor: u32| {
            list.iter()
                .find(|c| c.major == major && c.minor == minor)
                .cloned()
        };
        let split = |c: IoCounter| IoSplit {
            read: c.read,
            write: c.write,
            total: c.total(),
        };
        let devices = numbers
            .into_iter()
            .map(|(major, minor)| {
                let bytes = find(&io.bytes, major, minor).unwrap_or_default();
                let ops = find(&io.ops, major, minor).unwrap_or_default();
                BlkioDevice {
                    major,
                    minor,
                    device: self.device_name(major, minor),
                    read_bytes: bytes.read,
                    write_bytes: bytes.write,
                    reads: ops.read,
                    writes: ops.write,
                    bytes_by_operation: bytes.by_operation,
                    service_time_ns: find(&io.service_time, major, minor).map(split),
                    merged: find(&io.merged, major, minor).map(split),
                    queued: find(&io.queued, major, minor).map(|q| q.total()),
                    cost: io
                        .cost
                        .iter()
                        .find(|(ma, mi, _)| *ma == major && *mi == minor)
                        .map(|(_, _, c)| *c),
                }
            })
            .collect();
        BlkioStats { devices }
    }

    /// `/dev/<name>` of a block device, from sysfs (remembered; device names do not change while
    /// the device exists).
    pub fn device_name(&self, major: u32, minor: u32) -> String {
        if let Some(name) = lock(&self.device_names).get(&(major, minor)) {
            return name.clone();
        }
        let uevent = self
            .roots
            .sysfs
            .join(format!("dev/block/{major}:{minor}/uevent"));
        let name = std::fs::read_to_string(uevent)
            .ok()
            .and_then(|t| proc::parse_uevent_devname(&t))
            .unwrap_or_else(|| format!("{major}:{minor}"));
        lock(&self.device_names).insert((major, minor), name.clone());
        name
    }

    /// The device holding `path`, named as [`StatsReader::device_name`] does.
    pub fn device_of(&self, path: &Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(path).ok()?.dev();
        let (major, minor) = proc::dev_major_minor(dev);
        Some(self.device_name(major, minor))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Error {
    pub(crate) fn parse(path: &Path, source: ParseError) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            source,
        }
    }
}
