use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use container_exporter::families::LabelPolicy;
use container_exporter::groups::Groups;
use container_exporter::load::LoadTracker;
use container_exporter::{disk, Config, ContainerExporter, SERVICE};
use container_stats::{discovery, Discovery, ReadOptions, Roots, StatsReader};
use metrics_core::{Failure, Launch, Server, ServiceConfig as _, Started};

fn main() -> ExitCode {
    Launch::new(&SERVICE, container_exporter::config::args()).run(start)
}

async fn start(config: Config) -> Started {
    let groups = Groups::from_flags(&config.disable_metrics, &config.enable_metrics)
        .map_err(|e| Failure::config("--disable_metrics / --enable_metrics", e))?;
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
            .map_err(|e| Failure::config("--path.sysfs", e))?
            .with_task_states(groups.cpu_load),
    );
    // A malformed endpoint is a usage error; a daemon or socket that is not there yet is retried.
    if let Err(e) = discovery::connect(&config.docker) {
        return Err(Failure::config(format!("--docker {}", config.docker), e));
    }
    let discovery = Arc::new(Discovery::start_with_procfs(
        &config.docker,
        &config.path.procfs,
    ));
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
            .map_err(|e| Failure::service("start the cgroup reader thread", e))?,
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
    Ok(Server::new(SERVICE, config.effective_web(), exporter).start()?)
}

/// Asks the daemon for its version until it answers once (`cadvisor_version_info`); scrapes
/// never wait for it.
async fn learn_docker_version(endpoint: String, out: Arc<RwLock<String>>) {
    loop {
        if let Ok(engine) = discovery::connect(&endpoint) {
            if let Ok(v) = engine
                .get::<bollard::models::SystemVersion>("/version")
                .await
            {
                if let Some(version) = v.version {
                    *out.write().unwrap_or_else(|p| p.into_inner()) = version;
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
