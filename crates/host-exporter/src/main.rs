//! host-exporter: a drop-in replacement for Prometheus' node_exporter (port 9100).

use std::sync::Arc;

use anyhow::Context as _;
use metrics_core::{MetricSet, Server, Service};

mod collector;
mod config;
mod exporter;
mod process;

use config::Config;
use exporter::HostExporter;

const SERVICE: Service = Service {
    name: "host-exporter",
    about: "Host metrics from /proc and /sys, a drop-in replacement for Prometheus' node_exporter",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "HOST_EXPORTER",
};

/// `node_exporter_build_info`, with node_exporter's label names; `goversion` carries the rustc
/// version this binary was built with and `tags` its cargo features.
pub(crate) fn build_info(set: &mut MetricSet) {
    metrics_core::process::build_info(
        set,
        "node_exporter_build_info",
        "host-exporter",
        &[
            ("branch", env!("HOST_EXPORTER_GIT_BRANCH")),
            ("goarch", std::env::consts::ARCH),
            ("goos", std::env::consts::OS),
            ("goversion", env!("HOST_EXPORTER_RUSTC_VERSION")),
            ("revision", env!("HOST_EXPORTER_GIT_REVISION")),
            ("tags", env!("HOST_EXPORTER_FEATURES")),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
    );
}

// The HTTP workers run their own runtimes; the main one only waits for signals.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let invocation = metrics_core::parse_args::<Config>(&SERVICE, config::args());
    metrics_core::exit_if_healthcheck(&invocation);
    let config = invocation.config;
    metrics_core::logging::init(&config.log);
    let exporter = match HostExporter::new(&config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: error: {e}", SERVICE.name);
            std::process::exit(2);
        }
    };
    let names: Vec<&str> = exporter.enabled_names().collect();
    tracing::info!(collectors = %names.join(","), "enabled collectors");
    Server::new(SERVICE, config.web.clone(), Arc::new(exporter))
        .start()
        .context("cannot start the HTTP server")?
        .run_until_signal()
        .await
        .context("HTTP server failed")?;
    Ok(())
}
