//! A cAdvisor replacement for Docker hosts: cAdvisor's per-container metrics, read from cgroupfs
//! (v1 or v2) and `/proc` at scrape time, with container names and labels from Docker's events.
//! No housekeeping loop per container and no stats requests to the Docker daemon.

pub mod config;
pub mod disk;
pub mod exporter;
pub mod families;
pub mod groups;
mod io_families;
pub mod load;
mod out;

pub use config::Config;
pub use exporter::ContainerExporter;

pub const SERVICE: metrics_core::Service = metrics_core::Service {
    name: "container-exporter",
    about: "cAdvisor-compatible container metrics from cgroupfs (v1 and v2), read on scrape",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "CONTAINER_EXPORTER",
};
