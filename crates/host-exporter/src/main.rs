//! host-exporter: a drop-in replacement for Prometheus' node_exporter (port 9100).

use std::process::ExitCode;
use std::sync::Arc;

use metrics_core::{Failure, Launch, MetricSet, Server, Service};

mod collector;
mod config;
mod exporter;

use config::Config;
use exporter::HostExporter;

const SERVICE: Service = Service {
    name: "host-exporter",
    about: "Host metrics from /proc and /sys, a drop-in replacement for Prometheus' node_exporter",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "HOST_EXPORTER",
};

/// `node_exporter_build_info`, with node_exporter's label names (metrics-core's build info:
/// `goversion` carries the rustc version this binary was built with).
pub(crate) fn build_info(set: &mut MetricSet) {
    metrics_core::build_info::BUILD.export(set, "node_exporter_build_info", "host-exporter", &[]);
}

// The HTTP workers run their own runtimes; the main one only waits for signals.
fn main() -> ExitCode {
    Launch::new(&SERVICE, config::args())
        .current_thread()
        .run(|config: Config| async move {
            let exporter =
                HostExporter::new(&config).map_err(|e| Failure::config("collectors", e))?;
            let names: Vec<&str> = exporter.enabled_names().collect();
            tracing::info!(collectors = %names.join(","), "enabled collectors");
            Ok(Server::new(SERVICE, config.web.clone(), Arc::new(exporter)).start()?)
        })
}
