//! pg-exporter: PostgreSQL metrics for Prometheus, a drop-in replacement for postgres_exporter.

use std::process::ExitCode;
use std::sync::Arc;

use metrics_core::{Failure, Launch, Server};

use pg_exporter::config::{self, Config, SERVICE};
use pg_exporter::exporter::PgExporter;

// The HTTP worker runs its own runtime; the main one drives the PostgreSQL connections and
// waits for signals, which one thread does (a multi-thread runtime here cost a thread and an
// allocator arena per core).
fn main() -> ExitCode {
    Launch::new(&SERVICE, config::args())
        .current_thread()
        .run(|config: Config| async move {
            let exporter = PgExporter::new(&config)
                .await
                .map_err(|e| Failure::config("data source", e))?;
            Ok(Server::new(SERVICE, config.web.clone(), Arc::new(exporter))
                .metrics_path("/probe")
                .start()?)
        })
}
