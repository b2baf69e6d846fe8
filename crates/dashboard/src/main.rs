use dashboard::config::{self, Config};
use metrics_core::{exit_if_healthcheck, logging, parse_args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let invocation = parse_args::<Config>(&dashboard::SERVICE, config::args());
    exit_if_healthcheck(&invocation);
    logging::init(&invocation.config.log);
    if let Err(e) = invocation.config.check() {
        eprintln!("dashboard: error: {e}");
        std::process::exit(2);
    }
    dashboard::serve(invocation.config).await
}
