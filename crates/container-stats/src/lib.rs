//! Per-container resource figures read straight from cgroupfs and `/proc`, for clustermon's
//! container-exporter (cAdvisor's metrics) and docker-api (live stats), so that neither asks the
//! Docker daemon for stats.
//!
//! - [`Discovery`] learns the running containers from Docker once, then follows its events, and
//!   keeps what a reader needs (name, image, labels, pid, writable layer) in memory.
//! - [`StatsReader`] reads one typed [`ContainerStats`] per container on demand, on cgroup v1
//!   (per-controller hierarchies) and v2 (unified), with either cgroup driver.
//! - [`docker_cli`] holds the docker CLI's formulas (CPU %, memory used, I/O sums), so figures
//!   computed from two samples agree with `docker stats`.
//! - [`layer_usage`] measures a writable layer's disk use (a directory walk; run it off the hot
//!   path).

pub mod cgroup;
pub mod discovery;
pub mod docker_cli;
pub mod engine;
pub mod host;
pub mod layer_usage;
pub mod parse;
pub mod proc;
pub mod reader;
pub mod stats;
pub mod tasks;

use std::path::PathBuf;

pub use cgroup::{Layout, ReadOptions};
pub use discovery::{ContainerEvent, ContainerInfo, Discovery};
pub use reader::{Roots, StatsReader};
pub use stats::*;

/// What can go wrong reading container figures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no cgroup hierarchy found under {path} (is --path.sysfs right?)")]
    NoCgroups { path: PathBuf },
    #[error("no cgroup found for container {id}")]
    NotFound { id: String },
    #[error("cgroup is gone: {path} no longer exists")]
    Gone { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: parse::ParseError,
    },
    #[error("docker: {0}")]
    Docker(#[from] engine::EngineError),
}
