use docker_api::config::{self, Config};
use metrics_core::{exit_if_healthcheck, logging, parse_args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let invocation = parse_args::<Config>(&docker_api::SERVICE, config::args());
    exit_if_healthcheck(&invocation);
    logging::init(&invocation.config.log);
    if let Err(e) = invocation.config.check() {
        eprintln!("docker-api: error: {e}");
        std::process::exit(2);
    }
    docker_api::serve(invocation.config).await
}
