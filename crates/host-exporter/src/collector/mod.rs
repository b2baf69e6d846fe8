//! The collectors: each module reads one part of the host (a file under `/proc` or `/sys`, a
//! syscall, a netlink dump) into a snapshot with a pure parser, and turns the snapshot into metric
//! families. [`ALL`] lists them with node_exporter's names and default states.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use metrics_core::MetricSet;
use regex::Regex;
use serde::{Deserialize, Serialize};

pub mod arp;
pub mod bcache;
pub mod bonding;
pub mod btrfs;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod infiniband;
pub mod ipvs;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netlink;
pub mod netstat;
pub mod nfs;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod rapl;
pub mod schedstat;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod tapestats;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
pub mod watchdog;
pub mod xfs;
pub mod zfs;

/// The namespace of every metric: `node_cpu_seconds_total`, `node_scrape_collector_success`.
pub const NAMESPACE: &str = "node";

pub type CollectFn = fn(&Host, &mut MetricSet) -> Result<(), CollectorError>;

/// One collector: its node_exporter name, whether it runs by default, and what it does.
pub struct Collector {
    pub name: &'static str,
    pub enabled_by_default: bool,
    pub collect: CollectFn,
}

const fn on(name: &'static str, collect: CollectFn) -> Collector {
    Collector {
        name,
        enabled_by_default: true,
        collect,
    }
}

/// Every collector we have, in node_exporter's (alphabetical) order.
pub const ALL: &[Collector] = &[
    on("arp", arp::collect),
    on("bcache", bcache::collect),
    on("bonding", bonding::collect),
    on("btrfs", btrfs::collect),
    on("conntrack", conntrack::collect),
    on("cpu", cpu::collect),
    on("cpufreq", cpufreq::collect),
    on("diskstats", diskstats::collect),
    on("dmi", dmi::collect),
    on("edac", edac::collect),
    on("entropy", entropy::collect),
    on("fibrechannel", fibrechannel::collect),
    on("filefd", filefd::collect),
    on("filesystem", filesystem::collect),
    on("hwmon", hwmon::collect),
    on("infiniband", infiniband::collect),
    on("ipvs", ipvs::collect),
    on("loadavg", loadavg::collect),
    on("mdadm", mdadm::collect),
    on("meminfo", meminfo::collect),
    on("netclass", netclass::collect),
    on("netdev", netdev::collect),
    on("netstat", netstat::collect),
    on("nfs", nfs::collect_client),
    on("nfsd", nfs::collect_server),
    on("nvme", nvme::collect),
    on("os", os::collect),
    on("powersupplyclass", powersupplyclass::collect),
    on("pressure", pressure::collect),
    on("rapl", rapl::collect),
    on("schedstat", schedstat::collect),
    on("selinux", selinux::collect),
    on("sockstat", sockstat::collect),
    on("softnet", softnet::collect),
    on("stat", stat::collect),
    on("tapestats", tapestats::collect),
    on("textfile", textfile::collect),
    on("thermal_zone", thermal_zone::collect),
    on("time", time::collect),
    on("timex", timex::collect),
    on("udp_queues", udp_queues::collect),
    on("uname", uname::collect),
    on("vmstat", vmstat::collect),
    on("watchdog", watchdog::collect),
    on("xfs", xfs::collect),
    on("zfs", zfs::collect),
];

pub fn find(name: &str) -> Option<&'static Collector> {
    ALL.iter().find(|c| c.name == name)
}

/// Why a collector produced nothing this scrape.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot parse {path}: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// The subsystem does not exist on this host (no NFS, no ZFS...). node_exporter reports
    /// these as failed too, but only logs them at debug level.
    #[error("no data: {0}")]
    NoData(String),
}

impl CollectorError {
    pub fn parse(path: &Path, why: impl ToString) -> Self {
        CollectorError::Parse {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }
}

/// A compiled `device-include` / `device-exclude` pair.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl DeviceFilter {
    pub fn new(include: &str, exclude: &str, flag: &str) -> Result<Self, String> {
        if !include.is_empty() && !exclude.is_empty() {
            return Err(format!(
                "--collector.{flag}.device-include and --collector.{flag}.device-exclude are mutually exclusive"
            ));
        }
        Ok(Self {
            include: compile_optional(include, &format!("collector.{flag}.device-include"))?,
            exclude: compile_optional(exclude, &format!("collector.{flag}.device-exclude"))?,
        })
    }

    pub fn excludes(&self, name: &str) -> bool {
        if let Some(exclude) = &self.exclude {
            return exclude.is_match(name);
        }
        if let Some(include) = &self.include {
            return !include.is_match(name);
        }
        false
    }
}

fn compile_optional(pattern: &str, what: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    compile(pattern, what).map(Some)
}

pub fn compile(pattern: &str, what: &str) -> Result<Regex, String> {
    Regex::new(pattern)
        .map_err(|e| format!("--{}: bad regular expression: {e}", what.replace('_', "-")))
}

/// A field-name regex whose answers are remembered: the kernel's field names are a small fixed
/// set, so each is matched once instead of on every scrape.
#[derive(Debug)]
pub struct FieldFilter {
    regex: Regex,
    decisions: Mutex<HashMap<String, bool>>,
}

impl FieldFilter {
    pub fn new(regex: Regex) -> Self {
        Self {
            regex,
            decisions: Mutex::new(HashMap::new()),
        }
    }

    pub fn keeps(&self, field: &str) -> bool {
        let mut decisions = match self.decisions.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(keep) = decisions.get(field) {
            return *keep;
        }
        let keep = self.regex.is_match(field);
        // Bounded anyway by the kernel's field names; this guards against a procfs that
        // invents new names on every read.
        if decisions.len() < 4096 {
            decisions.insert(field.to_string(), keep);
        }
        keep
    }
}

/// What every collector reads from: roots, compiled filters (compiled once at start), and the
/// few caches of things that cannot change between scrapes.
pub struct Context {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    pub udev_data: PathBuf,
    pub mount_points_exclude: Regex,
    pub fs_types_exclude: Regex,
    pub netdev_filter: DeviceFilter,
    pub diskstats_filter: DeviceFilter,
    pub arp_filter: DeviceFilter,
    pub netclass_ignored: Regex,
    pub ipvs_backend_labels: Vec<&'static str>,
    pub tapestats_ignored: Regex,
    pub netclass_ignore_invalid_speed: bool,
    pub netstat_fields: FieldFilter,
    pub vmstat_fields: FieldFilter,
    pub textfile_directory: String,
    pub netclass_cache: Mutex<netclass::StaticAttributes>,
    pub os_cache: Mutex<os::Cache>,
    pub links: netlink::LinkDumper,
    pub mount_cache: Mutex<filesystem::MountCache>,
    pub statfs: filesystem::Statfs,
    /// Textfile problems already logged.
    pub textfile_problems: Mutex<Vec<String>>,
    /// The time zone name for the last offset seen.
    pub zone_cache: Mutex<Option<(i32, String)>>,
}

impl Context {
    pub fn new(path: &PathConfig, c: &CollectorSettings) -> Result<Self, String> {
        // Giving an include pattern replaces the default exclude one, as in node_exporter.
        let diskstats_exclude = if !c.diskstats.device_include.is_empty()
            && c.diskstats.device_exclude == diskstats::DEFAULT_DISKSTATS_EXCLUDE
        {
            ""
        } else {
            c.diskstats.device_exclude.as_str()
        };
        Ok(Self {
            procfs: path.procfs.clone(),
            sysfs: path.sysfs.clone(),
            rootfs: path.rootfs.clone(),
            udev_data: path.udev_data.clone(),
            mount_points_exclude: compile(
                &c.filesystem.mount_points_exclude,
                "collector.filesystem.mount-points-exclude",
            )?,
            fs_types_exclude: compile(
                &c.filesystem.fs_types_exclude,
                "collector.filesystem.fs-types-exclude",
            )?,
            netdev_filter: DeviceFilter::new(
                &c.netdev.device_include,
                &c.netdev.device_exclude,
                "netdev",
            )?,
            diskstats_filter: DeviceFilter::new(
                &c.diskstats.device_include,
                diskstats_exclude,
                "diskstats",
            )?,
            arp_filter: DeviceFilter::new(&c.arp.device_include, &c.arp.device_exclude, "arp")?,
            netclass_ignored: compile(
                &c.netclass.ignored_devices,
                "collector.netclass.ignored-devices",
            )?,
            netclass_ignore_invalid_speed: c.netclass.ignore_invalid_speed,
            ipvs_backend_labels: ipvs::backend_labels(&c.ipvs.backend_labels)?,
            tapestats_ignored: compile(
                &c.tapestats.ignored_devices,
                "collector.tapestats.ignored-devices",
            )?,
            netstat_fields: FieldFilter::new(compile(
                &c.netstat.fields,
                "collector.netstat.fields",
            )?),
            vmstat_fields: FieldFilter::new(compile(&c.vmstat.fields, "collector.vmstat.fields")?),
            textfile_directory: c.textfile.directory.clone(),
            netclass_cache: Mutex::new(netclass::StaticAttributes::default()),
            os_cache: Mutex::new(os::Cache::default()),
            links: netlink::LinkDumper::default(),
            mount_cache: Mutex::new(filesystem::MountCache::default()),
            statfs: filesystem::Statfs::default(),
            textfile_problems: Mutex::new(Vec::new()),
            zone_cache: Mutex::new(None),
        })
    }

    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// A path on the host's root filesystem (`/etc/os-release` → `{rootfs}/etc/os-release`).
    pub fn root(&self, abs: &str) -> PathBuf {
        self.rootfs.join(abs.trim_start_matches('/'))
    }
}

/// One scrape's view of the host: the [`Context`], plus what several collectors read once per
/// scrape (the rtnetlink dump for netdev and netclass, `/proc/stat` for cpu and stat).
pub struct Host<'a> {
    context: &'a Context,
    links: RefCell<Option<Rc<Vec<netlink::Link>>>>,
    kernel_stat: RefCell<Option<Rc<stat::KernelStat>>>,
}

impl<'a> Host<'a> {
    pub fn new(context: &'a Context) -> Self {
        Self {
            context,
            links: RefCell::new(None),
            kernel_stat: RefCell::new(None),
        }
    }

    /// Every network interface, dumped once per scrape.
    pub fn links(&self) -> Result<Rc<Vec<netlink::Link>>, CollectorError> {
        if let Some(links) = self.links.borrow().as_ref() {
            return Ok(links.clone());
        }
        let links = Rc::new(self.context.links.dump()?);
        *self.links.borrow_mut() = Some(links.clone());
        Ok(links)
    }

    /// `/proc/stat`, read once per scrape.
    pub fn kernel_stat(&self) -> Result<Rc<stat::KernelStat>, CollectorError> {
        if let Some(s) = self.kernel_stat.borrow().as_ref() {
            return Ok(s.clone());
        }
        let s = Rc::new(stat::read_stat(self)?);
        *self.kernel_stat.borrow_mut() = Some(s.clone());
        Ok(s)
    }
}

impl Deref for Host<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        self.context
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<String, CollectorError> {
    std::fs::read_to_string(path).map_err(|source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a one-value sysfs/procfs attribute, trimmed; `None` when unreadable (sysfs answers
/// EINVAL for attributes that do not apply, which node_exporter treats as absent).
pub fn read_attr(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The entries of a directory, sorted by name; a missing directory is `NoData`.
pub fn list_dir(path: &Path) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    let entries = std::fs::read_dir(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            CollectorError::NoData(format!("{} does not exist", path.display()))
        } else {
            CollectorError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    out.sort();
    Ok(out)
}

/// Where the host's pseudo filesystems are (`/host/proc` and friends inside a container).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathConfig {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    pub udev_data: PathBuf,
}

impl Default for PathConfig {
    fn default() -> Self {
        Self {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
            udev_data: "/run/udev/data".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorSettings {
    /// `--collector.disable-defaults`: only the collectors enabled explicitly run.
    pub disable_defaults: bool,
    pub filesystem: filesystem::FilesystemSettings,
    pub netdev: DeviceFilterSettings,
    pub diskstats: DeviceFilterSettings,
    pub arp: DeviceFilterSettings,
    pub netclass: netclass::NetclassSettings,
    pub ipvs: ipvs::IpvsSettings,
    pub tapestats: tapestats::TapestatsSettings,
    pub netstat: netstat::NetstatSettings,
    pub vmstat: vmstat::VmstatSettings,
    pub textfile: textfile::TextfileSettings,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        Self {
            disable_defaults: false,
            filesystem: filesystem::FilesystemSettings::default(),
            netdev: DeviceFilterSettings::default(),
            diskstats: DeviceFilterSettings {
                device_include: String::new(),
                device_exclude: diskstats::DEFAULT_DISKSTATS_EXCLUDE.into(),
            },
            arp: DeviceFilterSettings::default(),
            netclass: netclass::NetclassSettings::default(),
            ipvs: ipvs::IpvsSettings::default(),
            tapestats: tapestats::TapestatsSettings::default(),
            netstat: netstat::NetstatSettings::default(),
            vmstat: vmstat::VmstatSettings::default(),
            textfile: textfile::TextfileSettings::default(),
        }
    }
}

/// `device-include` / `device-exclude` regexes (mutually exclusive; empty means unset).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceFilterSettings {
    pub device_include: String,
    pub device_exclude: String,
}

#[cfg(test)]
pub(crate) mod fixtures {
    use std::path::{Path, PathBuf};

    use metrics_core::MetricSet;

    use super::{CollectFn, CollectorError, CollectorSettings, Context, Host, PathConfig};

    /// A context reading `/sys` at `root` (the rest where the host has it), with every
    /// collector's settings at their defaults.
    pub fn sysfs_context(root: &Path) -> Context {
        let path = PathConfig {
            sysfs: root.to_path_buf(),
            ..PathConfig::default()
        };
        Context::new(&path, &CollectorSettings::default()).unwrap()
    }

    /// A context reading `/proc` at `root`, with every collector's settings at their defaults.
    pub fn procfs_context(root: &Path) -> Context {
        let path = PathConfig {
            procfs: root.to_path_buf(),
            ..PathConfig::default()
        };
        Context::new(&path, &CollectorSettings::default()).unwrap()
    }

    /// One scrape of `collect` on `context`.
    pub fn collect_once(
        collect: CollectFn,
        context: &Context,
    ) -> Result<MetricSet, CollectorError> {
        let mut set = MetricSet::new();
        collect(&Host::new(context), &mut set)?;
        Ok(set)
    }

    /// `tests/fixtures/<rel>`, captured from a real machine.
    pub fn path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel)
    }

    pub fn bytes(rel: &str) -> Vec<u8> {
        std::fs::read(path(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    pub fn read(rel: &str) -> String {
        std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }
}
