//! pg-exporter: PostgreSQL metrics for Prometheus, a drop-in replacement for postgres_exporter.

use std::sync::Arc;

use metrics_core::Server;

use pg_exporter::config::{self, Config, SERVICE};
use pg_exporter::exporter::PgExporter;

// The HTTP worker runs its own runtime; the main one drives the PostgreSQL connections and
// waits for signals, which one thread does (a multi-thread runtime here cost a thread and an
// allocator arena per core).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let invocation = metrics_core::parse_args::<Config>(&SERVICE, config::args());
    metrics_core::exit_if_healthcheck(&invocation);
    let config = invocation.config;
    metrics_core::logging::init(&config.log);
    let exporter = match PgExporter::new(&config).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("{}: error: {e}", SERVICE.name);
            std::process::exit(2);
        }
    };
    Server::new(SERVICE, config.web.clone(), Arc::new(exporter))
        .metrics_path("/probe")
        .start()?
        .run_until_signal()
        .await?;
    Ok(())
}
