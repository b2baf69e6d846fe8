//! host-exporter's settings: node_exporter's flags, with node_exporter 1.9's (upstream, not
//! Debian's) defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgAction};
use metrics_core::{LogConfig, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

use crate::collector;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub path: PathConfig,
    /// Collectors switched on or off explicitly, by name (`--collector.X` / `--no-collector.X`);
    /// the others run when they are enabled by default and `collector.disable_defaults` is off.
    pub collectors: BTreeMap<String, bool>,
    /// Per-collector settings (`--collector.X.setting`).
    pub collector: CollectorSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // One HTTP worker is plenty: scrapes are rare, and concurrent ones share one
            // collection (single-flight) that runs on the blocking pool anyway.
            web: WebConfig {
                workers: 1,
                ..WebConfig::on_port(9100)
            },
            log: LogConfig::default(),
            path: PathConfig::default(),
            collectors: BTreeMap::new(),
            collector: CollectorSettings::default(),
        }
    }
}

impl ServiceConfig for Config {
    fn web(&self) -> &WebConfig {
        &self.web
    }
    fn log(&self) -> &LogConfig {
        &self.log
    }
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
    pub filesystem: FilesystemSettings,
    pub netdev: DeviceFilterSettings,
    pub diskstats: DeviceFilterSettings,
    pub arp: DeviceFilterSettings,
    pub netclass: NetclassSettings,
    pub ipvs: IpvsSettings,
    pub tapestats: TapestatsSettings,
    pub netstat: NetstatSettings,
    pub vmstat: VmstatSettings,
    pub textfile: TextfileSettings,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        Self {
            disable_defaults: false,
            filesystem: FilesystemSettings::default(),
            netdev: DeviceFilterSettings::default(),
            diskstats: DeviceFilterSettings {
                device_include: String::new(),
                device_exclude: DEFAULT_DISKSTATS_EXCLUDE.into(),
            },
            arp: DeviceFilterSettings::default(),
            netclass: NetclassSettings::default(),
            ipvs: IpvsSettings::default(),
            tapestats: TapestatsSettings::default(),
            netstat: NetstatSettings::default(),
            vmstat: VmstatSettings::default(),
            textfile: TextfileSettings::default(),
        }
    }
}

/// node_exporter 1.9's default (1.8 added `z?` so compressed-RAM swap devices stay out too).
pub const DEFAULT_DISKSTATS_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// node_exporter 1.9's default: pseudo and container-runtime mounts, and systemd's per-service
/// credential mounts. Debian's package patches this to `^/(dev|proc|run|sys|mnt|media|...)`,
/// which also hides every `/run` tmpfs, `/mnt` and `/media`; we follow upstream.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemSettings {
    pub mount_points_exclude: String,
    pub fs_types_exclude: String,
}

impl Default for FilesystemSettings {
    fn default() -> Self {
        Self {
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.into(),
            fs_types_exclude: "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
                .into(),
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetclassSettings {
    pub ignored_devices: String,
    pub ignore_invalid_speed: bool,
}

impl Default for NetclassSettings {
    fn default() -> Self {
        Self {
            ignored_devices: "^$".into(),
            ignore_invalid_speed: false,
        }
    }
}

/// `collector.ipvs.backend-labels`: which labels the per-backend IPVS series carry (comma
/// separated; backends the chosen labels do not tell apart are summed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpvsSettings {
    pub backend_labels: String,
}

impl Default for IpvsSettings {
    fn default() -> Self {
        Self {
            backend_labels: collector::ipvs::BACKEND_LABELS.join(","),
        }
    }
}

/// `collector.tapestats.ignored-devices`: tape drives (`st0`) not to report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TapestatsSettings {
    pub ignored_devices: String,
}

impl Default for TapestatsSettings {
    fn default() -> Self {
        Self {
            ignored_devices: "^$".into(),
        }
    }
}

/// `collector.netstat.fields`: which `/proc/net/{netstat,snmp,snmp6}` fields to export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetstatSettings {
    pub fields: String,
}

impl Default for NetstatSettings {
    fn default() -> Self {
        Self {
            fields: DEFAULT_NETSTAT_FIELDS.into(),
        }
    }
}

/// `collector.vmstat.fields`: which `/proc/vmstat` fields to export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmstatSettings {
    pub fields: String,
}

impl Default for VmstatSettings {
    fn default() -> Self {
        Self {
            fields: DEFAULT_VMSTAT_FIELDS.into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextfileSettings {
    pub directory: String,
}

pub const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";
pub const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// node_exporter's own flags, beside the common ones metrics-core adds.
pub fn args() -> Vec<Arg> {
    let names: Vec<(&str, bool)> = collector::ALL
        .iter()
        .map(|c| (c.name, c.enabled_by_default))
        .collect();
    let mut args = vec![
        path_arg("path.procfs", "procfs mountpoint"),
        path_arg("path.sysfs", "sysfs mountpoint"),
        path_arg("path.rootfs", "rootfs mountpoint"),
        // node_exporter spells this one with a dot.
        path_arg("path.udev_data", "udev data path").long("path.udev.data"),
        Arg::new("collector.disable_defaults")
            .long("collector.disable-defaults")
            .action(ArgAction::SetTrue)
            .help("Set all collectors to disabled by default (only those enabled with --collector.<name> run)"),
        text_arg(
            "collector.filesystem.mount_points_exclude",
            "Regexp of mount points to exclude for the filesystem collector",
        ),
        text_arg(
            "collector.filesystem.fs_types_exclude",
            "Regexp of filesystem types to exclude for the filesystem collector",
        ),
        text_arg(
            "collector.netdev.device_include",
            "Regexp of net devices to include (mutually exclusive to device-exclude)",
        ),
        text_arg(
            "collector.netdev.device_exclude",
            "Regexp of net devices to exclude (mutually exclusive to device-include)",
        ),
        text_arg(
            "collector.diskstats.device_include",
            "Regexp of diskstats devices to include (mutually exclusive to device-exclude)",
        ),
        text_arg(
            "collector.diskstats.device_exclude",
            "Regexp of diskstats devices to exclude (mutually exclusive to device-include)",
        ),
        text_arg(
            "collector.arp.device_include",
            "Regexp of arp devices to include (mutually exclusive to device-exclude)",
        ),
        text_arg(
            "collector.arp.device_exclude",
            "Regexp of arp devices to exclude (mutually exclusive to device-include)",
        ),
        text_arg(
            "collector.netclass.ignored_devices",
            "Regexp of net devices to ignore for the netclass collector",
        ),
        Arg::new("collector.netclass.ignore_invalid_speed")
            .long("collector.netclass.ignore-invalid-speed")
            .action(ArgAction::SetTrue)
            .help("Ignore devices where the speed is invalid (-1)"),
        text_arg(
            "collector.ipvs.backend_labels",
            "Comma separated list for IPVS backend stats labels",
        ),
        text_arg(
            "collector.tapestats.ignored_devices",
            "Regexp of devices to ignore for tapestats",
        ),
        text_arg(
            "collector.netstat.fields",
            "Regexp of fields to return for the netstat collector",
        ),
        text_arg(
            "collector.vmstat.fields",
            "Regexp of fields to return for the vmstat collector",
        ),
        text_arg(
            "collector.textfile.directory",
            "Directory to read text files with metrics from",
        ),
    ];
    args.extend(metrics_core::toggle_args("collectors", "collector", &names));
    args
}

fn path_arg(key: &'static str, help: &'static str) -> Arg {
    text_arg(key, help).value_name("PATH")
}

/// An option whose clap id is its config key and whose flag is the key with `-` for `_`.
fn text_arg(key: &'static str, help: &'static str) -> Arg {
    Arg::new(key)
        .long(key.replace('_', "-"))
        .value_name("VALUE")
        .help(help)
}
