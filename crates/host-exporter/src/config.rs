//! host-exporter's settings: node_exporter's flags, with node_exporter 1.9's (upstream, not
//! Debian's) defaults. Each collector's own settings live beside it in `collector/`; this file
//! puts them together with the service's settings and declares the flags.

use std::collections::BTreeMap;

use clap::{Arg, ArgAction};
use metrics_core::{LogConfig, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

use crate::collector::{self, CollectorSettings, PathConfig};

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
