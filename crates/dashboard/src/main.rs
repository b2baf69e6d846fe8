use std::process::ExitCode;

use dashboard::config::{self, Config};
use metrics_core::{Failure, Launch};

fn main() -> ExitCode {
    Launch::new(&dashboard::SERVICE, config::args()).serve(|config: Config| async move {
        dashboard::serve(config)
            .await
            .map_err(|e| Failure::service("dashboard", format!("{e:#}")))
    })
}
