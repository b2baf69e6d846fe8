use std::sync::Arc;

use anyhow::Context;
use container_exporter::families::LabelPolicy;
use container_exporter::groups::Groups;
use container_exporter::{disk, Config, ContainerExporter, SERVICE};
use container_stats::{discovery, Discovery, ReadOptions, Roots, StatsReader};
use metrics_core::Server;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let invocation =
        metrics_core::parse_args::<Config>(&SERVICE, container_exporter::config::args());
    metrics_core::exit_if_healthcheck(&invocation);
    let config = invocation.config;
    metrics_core::logging::init(&config.log);

    let groups = Groups::from_flags(&config.disable_metrics, &config.enable_metrics)
        .map_err(anyhow::Error::msg)
        .context("--disable_metrics / --enable_metrics")?;
    let options = ReadOptions {
        per_cpu: groups.percpu,
        processes: groups.process,
        file_descriptors: groups.process,
        network: groups.network,
        pressure: groups.pressure,
    };
    let roots = Roots {
        sysfs: config.path.sysfs.clone(),
        procfs: config.path.procfs.clone(),
    };
    let reader = Arc::new(StatsReader::new(roots, options).context("--path.sysfs")?);
    // A malformed endpoint is a usage error; a daemon or socket that is not there yet is retried.
    match discovery::connect(&config.docker) {
        Ok(_)
        | Err(container_stats::Error::Docker(bollard::errors::Error::SocketNotFoundError(_))) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("--docker {}", config.docker))),
    }
    let discovery = Arc::new(Discovery::start(&config.docker));
    let layers = if groups.disk {
        disk::spawn(
            discovery.clone(),
            reader.clone(),
            config.path.rootfs.clone(),
            config.housekeeping_interval,
            config.max_concurrent_disk_walks,
        )
    } else {
        Arc::default()
    };
    tracing::info!(cgroup = reader.cgroup_version().as_str(), docker = %config.docker, "reading containers");
    let exporter = Arc::new(ContainerExporter {
        machine: reader.machine_info(),
        reader,
        discovery,
        layers,
        groups,
        reader_thread: metrics_core::BlockingWorker::start("cgroup-reader")
            .context("start the cgroup reader thread")?,
        labels: LabelPolicy {
            store_all: config.store_container_labels,
            whitelist: config
                .whitelisted_container_labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        },
    });
    Server::new(SERVICE, config.effective_web(), exporter)
        .start()?
        .run_until_signal()
        .await?;
    Ok(())
}
