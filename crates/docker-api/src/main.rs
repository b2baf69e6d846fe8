use std::process::ExitCode;

use docker_api::config::{self, Config};
use metrics_core::{Failure, Launch};

fn main() -> ExitCode {
    // Before any thread: glibc's arenas bounded (runs this binary again once when unset).
    if let Err(e) = metrics_core::malloc_arenas::bound() {
        eprintln!("docker-api: {e}; going on with glibc's default arenas");
    }
    Launch::new(&docker_api::SERVICE, config::args()).serve(|config: Config| async move {
        docker_api::serve(config)
            .await
            .map_err(|e| Failure::service("docker-api", format!("{e:#}")))
    })
}
