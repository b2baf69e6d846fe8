use std::process::ExitCode;

use docker_api::config::{self, Config};
use metrics_core::{Failure, Launch};

fn main() -> ExitCode {
    Launch::new(&docker_api::SERVICE, config::args()).serve(|config: Config| async move {
        docker_api::serve(config)
            .await
            .map_err(|e| Failure::service("docker-api", format!("{e:#}")))
    })
}
