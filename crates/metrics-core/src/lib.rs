//! Shared serving, configuration, logging and metric helpers for clustermon's exporters.
//!
//! A service describes itself with a [`Service`], declares its flags with clap, keeps its settings
//! in a typed config struct ([`ServiceConfig`]), builds a fresh [`MetricSet`] on every scrape from a
//! snapshot of its backend ([`Exporter`]) and hands that to [`Server`], which serves `/metrics`,
//! `/health` and `/`, applies the scrape timeout and single-flight, and shuts down gracefully.

pub mod auth;
pub mod blocking;
pub mod build_info;
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
pub mod go_tls_names;
pub mod healthcheck;
pub mod launch;
pub mod logging;
pub mod malloc_arenas;
pub mod metric;
pub mod process;
pub mod process_extra;
pub mod refused;
pub mod scrape;
pub mod secret;
pub mod server;
mod server_conn;
pub mod slots;
pub mod tls;
pub mod web_config;

pub use blocking::BlockingWorker;
pub use cli::{parse_args, toggle_args, Invocation, Mode};
pub use config::{ConfigError, LogConfig, LogFormat, LogLevel, ServiceConfig, WebConfig};
pub use launch::{Failure, Launch, Started};
pub use metric::MetricSet;
pub use scrape::{Scrape, ScrapeError};
pub use server::{BackendHealth, Exporter, RunningServer, Server};

/// Who a binary is: used for `--help`, `/`, `/health`, logs and the healthcheck subcommand.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Binary and crate name, e.g. `host-exporter`.
    pub name: &'static str,
    /// One line for `--help` and the landing page.
    pub about: &'static str,
    /// The crate version (`env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    /// Prefix of the generic environment variables, e.g. `HOST_EXPORTER` for
    /// `HOST_EXPORTER_WEB__LISTEN_ADDRESS`.
    pub env_prefix: &'static str,
}

/// Runs the `healthcheck` subcommand and exits when that is what was asked.
pub fn exit_if_healthcheck<C: ServiceConfig>(invocation: &Invocation<C>) {
    if invocation.mode == Mode::Healthcheck {
        let code = healthcheck::run(&invocation.config.effective_web());
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
}
