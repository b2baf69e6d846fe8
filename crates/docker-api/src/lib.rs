//! docker-api: a read-only view of the Docker engine for clustermon's dashboard, replacing the
//! seed's Node.js proxy on port 3001.
//!
//! One background sampler reads every running container once per interval (from cgroupfs through
//! container-stats, or from the daemon's stats API when cgroupfs cannot be read) and every
//! handler serves what it left; the daemon sees only list, inspect, info, version and one event
//! stream. There is no passthrough to the Docker API: only the derived GET endpoints exist.
//!
//! In cluster mode (one instance per swarm node) the container list and the aggregate cover
//! every node: each instance asks the others for their local view and merges the answers.

pub mod api;
pub mod cluster;
pub mod config;
pub mod daemon_stats;
pub mod engine;
pub mod history;
pub mod inventory;
pub mod labels;
pub mod merge;
pub mod metrics;
pub mod model;
pub mod sampler;
pub mod swarm;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use container_stats::{ContainerEvent, Discovery, ReadOptions, Roots, StatsReader};
use metrics_core::secret::redact_url;
use metrics_core::{Server, Service};
use tokio::sync::Semaphore;

use crate::config::{Config, StatsSource};
use crate::history::History;
use crate::inventory::Inventory;
use crate::sampler::{Published, Source};

pub const SERVICE: Service = Service {
    name: "docker-api",
    about: "A read-only Docker API for the dashboard: containers, live stats from cgroupfs, history, events and metrics",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "DOCKER_API",
};

/// Longest time one answer of the daemon may take (its streams excepted).
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

/// Which source to use: cgroupfs when it can be read (and the daemon is local), else the daemon.
fn cgroup_reader(config: &Config) -> anyhow::Result<Option<StatsReader>> {
    let remote =
        config.docker.host.starts_with("tcp://") || config.docker.host.starts_with("http://");
    if config.stats.source == StatsSource::Daemon
        || (config.stats.source == StatsSource::Auto && remote)
    {
        return Ok(None);
    }
    let roots = Roots {
        sysfs: config.path.sysfs.clone(),
        procfs: config.path.procfs.clone(),
    };
    let options = ReadOptions {
        per_cpu: false,
        processes: false,
        file_descriptors: false,
        network: true,
        pressure: false,
    };
    match StatsReader::new(roots, options) {
        Ok(reader) => Ok(Some(reader)),
        Err(e) if config.stats.source == StatsSource::Auto => {
            tracing::warn!(error = %e, "cgroupfs cannot be read; using the daemon's stats API");
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!("stats.source is cgroupfs but {e}")),
    }
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let reader = cgroup_reader(&config)?.map(Arc::new);
    let source_name = if reader.is_some() {
        "cgroupfs"
    } else {
        "daemon"
    };
    let host_memory = reader.as_ref().map_or(0, |r| r.machine_info().memory_bytes);
    let inventory = Arc::new(Inventory::new(labels::LabelPolicy::new(
        config.api.allowed_labels.clone(),
    )));
    let published = Arc::new(Published::new(History::new(config.limits()), source_name));
    let openapi = api::openapi_json(&config.limits());
    let cluster = cluster::Cluster::new(&config.cluster, &config.web.listen_address)?.map(Arc::new);
    let engine = engine::EngineApi::new(&config.docker.host, DAEMON_TIMEOUT)?;
    let api = web::Data::new(api::Api {
        inventory: inventory.clone(),
        published: published.clone(),
        limits: config.limits(),
        cors_origins: config.api.cors_origins.clone(),
        request_timeout: config.api.request_timeout,
        requests: Arc::new(Semaphore::new(config.api.max_concurrent_requests)),
        stream_clients: Arc::new(Semaphore::new(config.api.max_stream_clients)),
        max_stream_clients: config.api.max_stream_clients,
        stream_addresses: api::stream::AddressSlots::new(config.api.max_stream_clients_per_address),
        stream_write_deadline: config.api.stream_write_deadline,
        heartbeat: config.api.heartbeat,
        http: api::HttpMetrics::new()?,
        openapi,
        configured_node: config.node.name.clone(),
        cluster,
        engine: engine.clone(),
        swarm: swarm::SwarmReader::default(),
    });
    tracing::info!(
        stats_source = source_name,
        interval = ?config.stats.interval,
        docker = %redact_url(&config.docker.host),
        history_max_bytes_100_containers = config.limits().max_bytes(101),
        cluster_peers_dns = %redact_url(&config.cluster.peers_dns),
        cluster_peers = ?config.cluster.peers,
        "starting"
    );
    let background = tokio::spawn(run_background(
        config.clone(),
        engine,
        reader,
        inventory,
        published,
        host_memory,
    ));
    let exporter = Arc::new(metrics::DockerApiExporter { api: api.clone() });
    let routes_api = api.clone();
    let result = Server::new(SERVICE, config.web.clone(), exporter)
        .routes(move |cfg| api::configure(cfg, routes_api.clone()))
        .start()?
        .run_until_signal()
        .await;
    background.abort();
    Ok(result?)
}

/// Connects (waiting for the socket if it is missing), then follows the daemon and samples.
async fn run_background(
    config: Config,
    engine: engine::EngineApi,
    reader: Option<Arc<StatsReader>>,
    inventory: Arc<Inventory>,
    published: Arc<Published>,
    host_memory: u64,
) {
    // Discovery reads the daemon through the same bounded client as the rest of docker-api.
    let discovery = Arc::new(Discovery::with_client(engine.clone()));
    let follower = tokio::spawn(inventory::follow(
        engine.clone(),
        discovery.clone(),
        inventory.clone(),
        config.docker.list_refresh,
    ));
    let events = tokio::spawn(forward_events(discovery.clone(), published.clone()));
    let oom_kills = tokio::spawn(forward_oom_kills(inventory.oom_kills(), published.clone()));
    let source = match reader {
        Some(r) => Source::Cgroupfs(r),
        None => Source::Daemon(daemon_stats::DaemonStats::new(engine)),
    };
    // The first round waits (a while) for both listings, so it is usually complete and the
    // service ready within one round of its start.
    discovery.wait_synced(Duration::from_secs(5)).await;
    inventory.wait_listed(Duration::from_secs(5)).await;
    sampler::run(
        source,
        discovery,
        inventory,
        published,
        config.stats.interval,
        host_memory,
        config.node.name.clone(),
    )
    .await;
    follower.abort();
    events.abort();
    oom_kills.abort();
}

/// Container starts, stops and changes as `event: container` frames on the stream.
async fn forward_events(discovery: Arc<Discovery>, published: Arc<Published>) {
    let mut rx = discovery.subscribe();
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let (action, id, name, health) = match event {
            ContainerEvent::Started(c) => ("start", c.id.clone(), c.name.clone(), c.health.clone()),
            ContainerEvent::Updated(c) => {
                ("update", c.id.clone(), c.name.clone(), c.health.clone())
            }
            ContainerEvent::Stopped { id, name } => ("stop", id, name, None),
            ContainerEvent::DaemonReachable(_) => continue,
        };
        let body = model::ContainerEventBody {
            action: action.into(),
            id,
            name,
            health,
            exit_code: None,
            timestamp: inventory::rfc3339(sampler::now_seconds()),
        };
        send_container_event(&published, &body);
    }
}

/// Containers the daemon says were OOM-killed as `event: container` frames, action `oom`.
async fn forward_oom_kills(
    mut rx: tokio::sync::broadcast::Receiver<inventory::OomKill>,
    published: Arc<Published>,
) {
    loop {
        let kill = match rx.recv().await {
            Ok(k) => k,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let body = model::ContainerEventBody {
            action: "oom".into(),
            id: kill.id,
            name: kill.name,
            health: None,
            exit_code: Some(kill.exit_code),
            timestamp: inventory::rfc3339(sampler::now_seconds()),
        };
        send_container_event(&published, &body);
    }
}

fn send_container_event(published: &Published, body: &model::ContainerEventBody) {
    let _ = published
        .stream
        .send(sampler::sse_frame("container", &sampler::json_bytes(body)));
}
