//! Settings and flags, named as cAdvisor names them where it has them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction};
use metrics_core::{LogConfig, ServiceConfig, WebConfig};
use serde::{Deserialize, Serialize};

/// cAdvisor's port.
pub const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    /// cAdvisor's `--port`; when set (non-zero) it wins over `web.listen_address`.
    pub port: u16,
    /// cAdvisor's `--listen_ip`, used with `port`.
    pub listen_ip: String,
    /// The Docker endpoint (cAdvisor's `--docker`).
    pub docker: String,
    /// Only Docker containers and the root cgroup (cAdvisor's `--docker_only`); always true here.
    pub docker_only: bool,
    /// Export every Docker label as `container_label_*` (cAdvisor's `--store_container_labels`).
    pub store_container_labels: bool,
    /// When labels are not all stored, the ones that are (comma separated).
    pub whitelisted_container_labels: String,
    /// Metric groups to leave out / add (comma separated, cAdvisor's names).
    pub disable_metrics: String,
    pub enable_metrics: String,
    /// How often writable layers are walked for `container_fs_usage_bytes`.
    #[serde(with = "humantime_serde")]
    pub housekeeping_interval: Duration,
    /// Writable-layer walks running at once.
    pub max_concurrent_disk_walks: usize,
    pub path: PathConfig,
}

/// Where the host's filesystems are (inside a container: `/host/sys`, `/host/proc`, `/rootfs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathConfig {
    pub sysfs: PathBuf,
    pub procfs: PathBuf,
    /// Prefix for the writable-layer paths Docker reports (`/var/lib/docker/...`).
    pub rootfs: PathBuf,
}

impl Default for PathConfig {
    fn default() -> Self {
        Self {
            sysfs: "/sys".into(),
            procfs: "/proc".into(),
            rootfs: "/".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            web: WebConfig::on_port(DEFAULT_PORT),
            log: LogConfig::default(),
            port: 0,
            listen_ip: String::new(),
            docker: "unix:///var/run/docker.sock".into(),
            docker_only: true,
            store_container_labels: true,
            whitelisted_container_labels: String::new(),
            disable_metrics: String::new(),
            enable_metrics: String::new(),
            housekeeping_interval: Duration::from_secs(60),
            max_concurrent_disk_walks: 20,
            path: PathConfig::default(),
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

    /// `--port`/`--listen_ip` folded into the listen address (the healthcheck calls it too).
    fn effective_web(&self) -> WebConfig {
        let mut web = self.web.clone();
        if self.port != 0 || !self.listen_ip.is_empty() {
            let port = if self.port != 0 {
                self.port
            } else {
                DEFAULT_PORT
            };
            web.listen_address = match self.listen_ip.as_str() {
                "" => format!(":{port}"),
                ip if ip.contains(':') => format!("[{ip}]:{port}"),
                ip => format!("{ip}:{port}"),
            };
        }
        web
    }
}

fn bool_flag(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name("BOOL")
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_parser(clap::value_parser!(bool))
        .action(ArgAction::Set)
        .help(help)
}

/// The service's own flags.
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new("port").long("port").value_name("PORT").help("Port to listen on (cAdvisor's flag; overrides --web.listen-address)"),
        Arg::new("listen_ip").long("listen_ip").value_name("IP").help("IP to listen on with --port (default: all)"),
        Arg::new("docker")
            .long("docker")
            .env("DOCKER_HOST")
            .value_name("ENDPOINT")
            .help("Docker endpoint: unix:///path/to/docker.sock or tcp://host:port"),
        bool_flag("docker_only", "Only report Docker containers and the root cgroup (always on)"),
        bool_flag("store_container_labels", "Export every Docker label as container_label_<name>"),
        Arg::new("whitelisted_container_labels")
            .long("whitelisted_container_labels")
            .value_name("LIST")
            .help("Labels exported when --store_container_labels=false (comma separated)"),
        Arg::new("disable_metrics")
            .long("disable_metrics")
            .value_name("LIST")
            .help("Metric groups to leave out: cpu, memory, network, disk, diskIO, process, oom_event, pressure, percpu"),
        Arg::new("enable_metrics")
            .long("enable_metrics")
            .value_name("LIST")
            .help("Metric groups to add (percpu is off by default)"),
        Arg::new("housekeeping_interval")
            .long("housekeeping_interval")
            .value_name("DURATION")
            .help("How often writable layers are walked for container_fs_usage_bytes"),
        Arg::new("max_concurrent_disk_walks")
            .long("max_concurrent_disk_walks")
            .value_name("N")
            .help("Writable-layer walks running at once"),
        Arg::new("path.sysfs").long("path.sysfs").value_name("PATH").help("sysfs mount point (host's /sys)"),
        Arg::new("path.procfs").long("path.procfs").value_name("PATH").help("procfs mount point (host's /proc)"),
        Arg::new("path.rootfs")
            .long("path.rootfs")
            .value_name("PATH")
            .help("Where the host's root filesystem is mounted (prefix of writable-layer paths)"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_and_listen_ip_override_the_listen_address() {
        let mut c = Config::default();
        assert_eq!(c.effective_web().listen_address, ":8080");
        c.port = 9338;
        assert_eq!(c.effective_web().listen_address, ":9338");
        c.listen_ip = "127.0.0.1".into();
        assert_eq!(c.effective_web().listen_address, "127.0.0.1:9338");
        c.listen_ip = "::1".into();
        assert_eq!(c.effective_web().listen_address, "[::1]:9338");
    }
}
