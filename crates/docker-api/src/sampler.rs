//! The one background sampler: once per interval it takes a sample of every running container
//! (from cgroupfs through container-stats, or from the daemon's stats streams), derives the
//! docker CLI's figures, records history, serialises the bodies every handler serves and
//! publishes one event on the stream. Handlers only read what it left.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web::Bytes;
use container_stats::docker_cli;
use container_stats::{ContainerInfo, ContainerStats, Discovery, StatsReader};
use tokio::sync::broadcast;

use crate::daemon_stats::DaemonStats;
use crate::history::{History, Point};
use crate::inventory::{rfc3339, Entry, Inventory};
use crate::merge::add_rate;
use crate::model;

/// Where samples come from.
pub enum Source {
    Cgroupfs(Arc<StatsReader>),
    Daemon(DaemonStats),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Cgroupfs(_) => "cgroupfs",
            Source::Daemon(_) => "daemon",
        }
    }
}

/// What the handlers serve, replaced whole once per interval.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Seconds since the epoch of the sampling round.
    pub taken: f64,
    pub containers: Arc<Vec<Entry>>,
    pub stats: HashMap<String, model::ContainerStats>,
    /// `/api/stats/aggregate`, serialised once.
    pub aggregate_json: Bytes,
    /// `/api/containers` without and with stopped containers.
    pub running_json: Bytes,
    pub all_json: Bytes,
}

/// The sampler's output, shared with the handlers.
pub struct Published {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    pub history: RwLock<History>,
    pub stream: broadcast::Sender<Bytes>,
    pub source: &'static str,
    /// Set by the first round taken after the first complete listing (readiness).
    ready: AtomicBool,
}

/// `/health`'s and the API's 503 reason while [`Published::ready`] is false.
pub const NOT_READY: &str = "starting: the first container listing and sample are not done yet";

impl Published {
    pub fn new(history: History, source: &'static str) -> Self {
        // A handful of frames: a client that falls further behind skips to the newest.
        let (stream, _) = broadcast::channel(8);
        Self {
            snapshot: RwLock::new(None),
            history: RwLock::new(history),
            stream,
            source,
            ready: AtomicBool::new(false),
        }
    }

    /// Whether a round built on a complete listing of the daemon's containers (and with every
    /// running container known to the sampler) has been published: until then the list would
    /// say "no containers" while there are some.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn mark_ready(&self) {
        if !self.ready.swap(true, Ordering::AcqRel) {
            tracing::info!("ready: the first complete listing and sample are published");
        }
    }

    /// The latest round; `None` before the first.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snapshot));
    }
}

/// Runs until dropped: one round per `interval`.
pub async fn run(
    mut source: Source,
    discovery: Arc<Discovery>,
    inventory: Arc<Inventory>,
    published: Arc<Published>,
    interval: Duration,
    host_memory_bytes: u64,
    configured_node: String,
) {
    let mut previous: HashMap<String, ContainerStats> = HashMap::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    // Every round's reads on one thread, instead of whichever blocking-pool thread is free.
    let cgroup_thread = match &source {
        Source::Cgroupfs(_) => match metrics_core::BlockingWorker::start("cgroup-reader") {
            Ok(worker) => Some(worker),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the cgroup reader thread; no stats will be read");
                None
            }
        },
        Source::Daemon(_) => None,
    };
    loop {
        ticker.tick().await;
        // Read before the containers below, so `complete` never vouches for an older list.
        let complete = inventory.listed() && discovery.wait_synced(Duration::ZERO).await;
        let running = discovery.containers();
        let samples = match &mut source {
            Source::Cgroupfs(reader) => {
                let reader = reader.clone();
                let list = running.clone();
                let read = match &cgroup_thread {
                    Some(thread) => thread.run(move || read_cgroups(&reader, &list)).await,
                    None => Ok(Ok(Vec::new())),
                };
                match read {
                    Ok(Ok(samples)) => {
                        if failing {
                            tracing::info!("reading cgroupfs again");
                            failing = false;
                        }
                        samples
                    }
                    Ok(Err(e)) => {
                        if !failing {
                            tracing::error!(error = %e, "cannot read cgroupfs");
                            failing = true;
                        }
                        Vec::new()
                    }
                    Err(_) => Vec::new(),
                }
            }
            Source::Daemon(daemon) => daemon.latest(&running),
        };
        let node = inventory.node_name(&configured_node);
        let round = derive(&samples, &previous, host_memory_bytes, &node);
        previous = samples
            .into_iter()
            .map(|(c, s)| (c.id.clone(), s))
            .collect();
        let containers = inventory.containers();
        let snapshot = build(round, containers, host_memory_bytes, &published);
        if published.stream.receiver_count() > 0 {
            let _ = published
                .stream
                .send(sse_frame("stats", &snapshot.aggregate_json));
        }
        published.publish(snapshot);
        if complete {
            published.mark_ready();
        }
    }
}

fn read_cgroups(
    reader: &StatsReader,
    running: &[Arc<ContainerInfo>],
) -> Result<Vec<(Arc<ContainerInfo>, ContainerStats)>, container_stats::Error> {
    let host = reader.host_cpu()?;
    let mut out = Vec::with_capacity(running.len());
    for c in running {
        match reader.read(c, host) {
            Ok(s) => out.push((c.clone(), s)),
            // Stopped since it was listed; the next round will not have it.
            Err(container_stats::Error::Gone { .. } | container_stats::Error::NotFound { .. }) => {}
            Err(e) => tracing::debug!(id = %c.id, error = %e, "cannot read container"),
        }
    }
    Ok(out)
}

/// The figures of one round, as the docker CLI would show them.
pub struct Round {
    pub taken: f64,
    /// The node the containers run on.
    pub node: String,
    pub stats: Vec<model::ContainerStats>,
}

/// Turns raw samples into the API's figures, with rates against the previous round.
pub fn derive(
    samples: &[(Arc<ContainerInfo>, ContainerStats)],
    previous: &HashMap<String, ContainerStats>,
    host_memory_bytes: u64,
    node: &str,
) -> Round {
    let taken = now_seconds();
    let stats = samples
        .iter()
        .map(|(c, s)| model::ContainerStats {
            node: node.to_string(),
            ..container_figures(c, s, previous.get(&c.id), host_memory_bytes)
        })
        .collect();
    Round {
        taken,
        node: node.to_string(),
        stats,
    }
}

/// One container's figures; CPU % and rates are 0 on its first sample.
pub fn container_figures(
    c: &ContainerInfo,
    s: &ContainerStats,
    prev: Option<&ContainerStats>,
    host_memory_bytes: u64,
) -> model::ContainerStats {
    let (rx, tx) = docker_cli::network_bytes(&s.network);
    let (read, write) = docker_cli::blkio_bytes(&s.blkio);
    let (cpu_percent, rates) = match prev {
        Some(p) => {
            let secs = docker_cli::seconds_between(p, s);
            let (prx, ptx) = docker_cli::network_bytes(&p.network);
            let (pread, pwrite) = docker_cli::blkio_bytes(&p.blkio);
            (
                docker_cli::cpu_percent(p, s),
                [
                    docker_cli::rate_per_second(prx, rx, secs),
                    docker_cli::rate_per_second(ptx, tx, secs),
                    docker_cli::rate_per_second(pread, read, secs),
                    docker_cli::rate_per_second(pwrite, write, secs),
                ],
            )
        }
        None => (0.0, [0.0; 4]),
    };
    model::ContainerStats {
        node: String::new(),
        id: c.id.clone(),
        name: c.name.clone(),
        cpu: model::Cpu {
            percent: round2(cpu_percent),
            online_cpus: s.online_cpus,
            usage_seconds: s.cpu.usage_ns as f64 / 1e9,
            limit_percent: cpu_limit_percent(s.cpu.quota_us, s.cpu.period_us),
        },
        memory: model::Memory {
            usage_bytes: docker_cli::memory_used_bytes(&s.memory),
            working_set_bytes: s.memory.working_set_bytes,
            limit_bytes: docker_cli::memory_limit_bytes(&s.memory, host_memory_bytes),
            percent: round2(docker_cli::memory_percent(&s.memory, host_memory_bytes)),
            cache_bytes: s.memory.cache_bytes,
        },
        network: model::Network {
            rx_bytes: rx,
            tx_bytes: tx,
            rx_bytes_per_sec: round2(rates[0]),
            tx_bytes_per_sec: round2(rates[1]),
        },
        blkio: model::Blkio {
            read_bytes: read,
            write_bytes: write,
            read_bytes_per_sec: round2(rates[2]),
            write_bytes_per_sec: round2(rates[3]),
        },
        pids: s.pids.current.unwrap_or(0),
        timestamp: rfc3339(
            s.timestamp
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        ),
    }
}

/// The CFS quota per period in `cpu.percent`'s unit (100 is one full core): `--cpus 0.5`
/// (cgroup v2 `cpu.max` `50000 100000`, v1 `cpu.cfs_quota_us` 50000 over
/// `cpu.cfs_period_us` 100000) is 50. `None` without a quota, or with a period of 0.
pub fn cpu_limit_percent(quota_us: Option<u64>, period_us: Option<u64>) -> Option<f64> {
    let (quota, period) = (quota_us?, period_us?);
    if quota == 0 || period == 0 {
        return None;
    }
    // u64 to f64 loses precision only past 2^53 µs, far beyond any real quota.
    Some(round2(quota as f64 / period as f64 * 100.0))
}

/// Rounded to two decimals; values too large to scale are returned as they are.
fn round2(x: f64) -> f64 {
    let scaled = (x * 100.0).round();
    if scaled.is_finite() {
        scaled / 100.0
    } else {
        x
    }
}

/// The aggregate over a round and the container list.
pub fn aggregate(round: &Round, containers: &[Entry], host_memory_bytes: u64) -> model::Aggregate {
    let count = |f: &dyn Fn(&Entry) -> bool| containers.iter().filter(|e| f(e)).count();
    let mut network = model::Network::default();
    let mut blkio = model::Blkio::default();
    let (mut cpu, mut mem, mut limit) = (0.0, 0u64, 0u64);
    for s in &round.stats {
        // Counters read from cgroupfs or the daemon: sums saturate, rates stay finite.
        cpu = add_rate(cpu, s.cpu.percent);
        mem = mem.saturating_add(s.memory.usage_bytes);
        limit = limit.saturating_add(s.memory.limit_bytes);
        network.rx_bytes = network.rx_bytes.saturating_add(s.network.rx_bytes);
        network.tx_bytes = network.tx_bytes.saturating_add(s.network.tx_bytes);
        network.rx_bytes_per_sec = add_rate(network.rx_bytes_per_sec, s.network.rx_bytes_per_sec);
        network.tx_bytes_per_sec = add_rate(network.tx_bytes_per_sec, s.network.tx_bytes_per_sec);
        blkio.read_bytes = blkio.read_bytes.saturating_add(s.blkio.read_bytes);
        blkio.write_bytes = blkio.write_bytes.saturating_add(s.blkio.write_bytes);
        blkio.read_bytes_per_sec = add_rate(blkio.read_bytes_per_sec, s.blkio.read_bytes_per_sec);
        blkio.write_bytes_per_sec =
            add_rate(blkio.write_bytes_per_sec, s.blkio.write_bytes_per_sec);
    }
    // Limits of several containers can each be the whole host: the total is capped at it.
    let limit = if host_memory_bytes > 0 {
        limit.min(host_memory_bytes)
    } else {
        limit
    };
    model::Aggregate {
        node: round.node.clone(),
        total_containers: containers.len(),
        running: count(&|e| e.state == "running"),
        paused: count(&|e| e.state == "paused"),
        stopped: count(&|e| matches!(e.state.as_str(), "created" | "exited" | "dead")),
        unhealthy: count(&|e| e.health.as_deref() == Some("unhealthy")),
        total_cpu_percent: round2(cpu),
        total_memory_usage_bytes: mem,
        total_memory_limit_bytes: limit,
        total_memory_percent: if host_memory_bytes > 0 {
            round2(mem as f64 / host_memory_bytes as f64 * 100.0)
        } else {
            0.0
        },
        host_memory_bytes,
        network,
        blkio,
        containers: round.stats.clone(),
        timestamp: rfc3339(round.taken),
        nodes: None,
        unreachable_nodes: None,
    }
}

fn point(cpu: f64, mem: u64, mem_pct: f64, n: &model::Network, b: &model::Blkio) -> Point {
    Point {
        t: 0,
        cpu_percent: finite_f32(cpu),
        memory_bytes: finite_f32(mem as f64),
        memory_percent: finite_f32(mem_pct),
        rx_bytes_per_sec: finite_f32(n.rx_bytes_per_sec),
        tx_bytes_per_sec: finite_f32(n.tx_bytes_per_sec),
        read_bytes_per_sec: finite_f32(b.read_bytes_per_sec),
        write_bytes_per_sec: finite_f32(b.write_bytes_per_sec),
    }
}

/// `x` as a history value: past `f32::MAX` it stays there (JSON has no infinity); not a number
/// is 0.
fn finite_f32(x: f64) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
    }
}

fn build(
    round: Round,
    containers: Arc<Vec<Entry>>,
    host_memory_bytes: u64,
    published: &Published,
) -> Snapshot {
    let agg = aggregate(&round, &containers, host_memory_bytes);
    {
        let mut history = published.history.write().unwrap_or_else(|p| p.into_inner());
        let total = point(
            agg.total_cpu_percent,
            agg.total_memory_usage_bytes,
            agg.total_memory_percent,
            &agg.network,
            &agg.blkio,
        );
        history.record(
            round.taken as u32,
            total,
            round.stats.iter().map(|s| {
                (
                    s.id.as_str(),
                    point(
                        s.cpu.percent,
                        s.memory.usage_bytes,
                        s.memory.percent,
                        &s.network,
                        &s.blkio,
                    ),
                )
            }),
        );
    }
    let list = |all: bool| {
        let items: Vec<model::Container> = containers
            .iter()
            .filter(|e| all || e.state == "running" || e.state == "paused")
            .map(|e| e.to_model(round.taken, &round.node))
            .collect();
        json_bytes(&model::ContainerList {
            node: round.node.clone(),
            count: items.len(),
            containers: items,
            nodes: None,
        })
    };
    Snapshot {
        taken: round.taken,
        running_json: list(false),
        all_json: list(true),
        aggregate_json: json_bytes(&agg),
        stats: agg
            .containers
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect(),
        containers,
    }
}

pub fn json_bytes<T: serde::Serialize>(value: &T) -> Bytes {
    match serde_json::to_vec(value) {
        Ok(v) => Bytes::from(v),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a body");
            Bytes::from_static(b"{}")
        }
    }
}

/// One Server-Sent Event: `event: NAME` and the JSON on one `data:` line (JSON from serde has
/// no raw newlines).
pub fn sse_frame(event: &str, json: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(json.len() + event.len() + 16);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(event.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use container_stats::{CgroupVersion, CpuStats, InterfaceStats, MemoryStats};

    fn info(id: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: format!("n-{id}"),
            image: "img".into(),
            image_id: String::new(),
            labels: Default::default(),
            pid: Some(1),
            created: None,
            started_at: None,
            cgroup_parent: String::new(),
            upper_dir: None,
            health: None,
            paused: false,
            restart_count: 0,
        }
    }

    fn sample(usage_ns: u64, system_ns: u64, rx: u64, at: f64) -> ContainerStats {
        ContainerStats {
            id: "a".into(),
            cgroup: "/docker/a".into(),
            cgroup_version: CgroupVersion::V1,
            timestamp: UNIX_EPOCH + Duration::from_secs_f64(at),
            cpu: CpuStats {
                usage_ns,
                quota_us: Some(150_000),
                period_us: Some(100_000),
                ..CpuStats::default()
            },
            memory: MemoryStats {
                usage_bytes: 100 << 20,
                inactive_file_bytes: 20 << 20,
                working_set_bytes: 80 << 20,
                cache_bytes: 30 << 20,
                limit_bytes: Some(160 << 20),
                ..MemoryStats::default()
            },
            blkio: Default::default(),
            pids: Default::default(),
            network: vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: rx,
                ..InterfaceStats::default()
            }],
            pressure: Default::default(),
            system_cpu_usage_ns: system_ns,
            online_cpus: 2,
        }
    }

    #[test]
    fn cpu_limits_are_in_cpu_percents_unit() {
        // --cpus 0.5, 2 and 1.25 as Docker writes them (period 100 ms).
        assert_eq!(cpu_limit_percent(Some(50_000), Some(100_000)), Some(50.0));
        assert_eq!(cpu_limit_percent(Some(200_000), Some(100_000)), Some(200.0));
        assert_eq!(cpu_limit_percent(Some(125_000), Some(100_000)), Some(125.0));
        // --cpu-quota 33333 --cpu-period 100000: rounded as cpu.percent is.
        assert_eq!(cpu_limit_percent(Some(33_333), Some(100_000)), Some(33.33));
        assert_eq!(cpu_limit_percent(None, Some(100_000)), None);
        assert_eq!(cpu_limit_percent(Some(50_000), None), None);
        assert_eq!(cpu_limit_percent(Some(50_000), Some(0)), None);
        assert_eq!(
            cpu_limit_percent(Some(u64::MAX), Some(1)).map(f64::is_finite),
            Some(true)
        );
    }

    #[test]
    fn figures_follow_the_docker_cli() {
        let c = info("a");
        let prev = sample(1_000_000_000, 10_000_000_000, 1000, 100.0);
        // One full core of two over two seconds: 2 s of CPU out of 4 s of host time.
        let cur = sample(3_000_000_000, 14_000_000_000, 5000, 102.0);
        let f = container_figures(&c, &cur, Some(&prev), 1 << 30);
        assert_eq!(f.cpu.percent, 100.0);
        assert_eq!(f.cpu.usage_seconds, 3.0);
        assert_eq!(f.cpu.limit_percent, Some(150.0));
        assert_eq!(f.memory.usage_bytes, 80 << 20);
        assert_eq!(f.memory.limit_bytes, 160 << 20);
        assert_eq!(f.memory.percent, 50.0);
        assert_eq!(f.network.rx_bytes_per_sec, 2000.0);
        let first = container_figures(&c, &cur, None, 1 << 30);
        assert_eq!(first.cpu.percent, 0.0);
    }

    #[test]
    fn aggregate_sums_and_counts_states() {
        let c = info("a");
        let cur = sample(3_000_000_000, 14_000_000_000, 5000, 102.0);
        let prev = sample(1_000_000_000, 10_000_000_000, 1000, 100.0);
        let round = Round {
            taken: 102.0,
            node: "n1".into(),
            stats: vec![
                container_figures(&c, &cur, Some(&prev), 1 << 30),
                container_figures(&c, &cur, Some(&prev), 1 << 30),
            ],
        };
        let entry = |state: &str, health: Option<&str>| Entry {
            id: "x".into(),
            name: "x".into(),
            image: String::new(),
            state: state.into(),
            exit_code: 0,
            created: 0.0,
            started_at: None,
            finished_at: None,
            health: health.map(str::to_string),
            restart_count: 0,
            oom_killed: false,
            ports: vec![],
            labels: Default::default(),
        };
        let list = vec![
            entry("running", Some("unhealthy")),
            entry("running", None),
            entry("exited", None),
            entry("paused", None),
        ];
        let a = aggregate(&round, &list, 1 << 30);
        assert_eq!(a.node, "n1");
        assert_eq!(a.host_memory_bytes, 1 << 30);
        assert_eq!(a.total_containers, 4);
        assert_eq!((a.running, a.paused, a.stopped, a.unhealthy), (2, 1, 1, 1));
        assert_eq!(a.total_cpu_percent, 200.0);
        assert_eq!(a.total_memory_usage_bytes, 160 << 20);
        assert_eq!(a.total_memory_limit_bytes, 320 << 20);
        assert_eq!(a.network.rx_bytes_per_sec, 4000.0);
    }

    #[test]
    fn sse_frames_are_one_event_with_one_data_line() {
        let f = sse_frame("stats", br#"{"a":1}"#);
        assert_eq!(&f[..], b"event: stats\ndata: {\"a\":1}\n\n");
    }
}
