//! A drop-in replacement for oliver006/redis_exporter: the same flags, environment variables and
//! metric families, read over one reused connection per Redis with redis-rs.

pub mod allowed_targets;
pub mod config;
pub mod connection;
pub mod exporter;
pub mod fields;
pub mod info;
pub mod keys;
pub mod replies;
pub mod snapshot;
pub mod target;

pub use config::Config;
pub use exporter::{RedisExporter, Settings, SCRAPE_PATH};

use metrics_core::Service;

pub const SERVICE: Service = Service {
    name: "redis-exporter",
    about: "Prometheus exporter for Redis metrics, compatible with oliver006/redis_exporter",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "REDIS_EXPORTER",
};
