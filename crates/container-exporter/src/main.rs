use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use container_exporter::families::LabelPolicy;
use container_exporter::groups::Groups;
use container_exporter::load::LoadTracker;
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
    let reader = Arc::new(
        StatsReader::new(roots, options)
            .context("--path.sysfs")?
            .with_task_states(groups.cpu_load),
    );
    // A malformed endpoint is a usage error; a daemon or socket that is not there yet is retried.
    match discovery::connect(&config.docker) {
        Ok(_)
        | Err(container_stats::Error::Docker(bollard::errors::Error::SocketNotFoundError(_))) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("--docker {}", config.docker))),
    }
    let discovery = Arc::new(Discovery::start(&config.docker));
    let docker_version = Arc::new(RwLock::new(String::new()));
    tokio::spawn(learn_docker_version(
        config.docker.clone(),
        docker_version.clone(),
    ));
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
        machine: reader.machine_info_at(&config.path.rootfs),
        rootfs: config.path.rootfs.clone(),
        loads: LoadTracker::default(),
        docker_version,
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

/// Asks the daemon for its version until it answers once (`cadvisor_version_info`); scrapes
/// never wait for it.
async fn learn_docker_version(endpoint: String, out: Arc<RwLock<String>>) {
    loop {
        if let Ok(docker) = discovery::connect(&endpoint) {
            if let Ok(v) = docker.version().await {
                if let Some(version) = v.version {
                    *out.write().unwrap_or_else(|p| p.into_inner()) = version;
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
