//! The scrape: read every known container's cgroup files now, and build cAdvisor's families.

use std::sync::Arc;
use std::time::Instant;

use container_stats::{ContainerInfo, ContainerStats, Discovery, Error, MachineInfo, StatsReader};
use metrics_core::{BackendHealth, BlockingWorker, Exporter, MetricSet, Scrape, ScrapeError};

use crate::disk::LayerSizes;
use crate::families::{self, LabelPolicy};
use crate::groups::Groups;
use crate::SERVICE;

pub struct ContainerExporter {
    pub reader: Arc<StatsReader>,
    pub discovery: Arc<Discovery>,
    pub layers: Arc<LayerSizes>,
    pub groups: Groups,
    pub labels: LabelPolicy,
    pub machine: MachineInfo,
    /// Where cgroup files are read, off the HTTP worker (see [`BlockingWorker`]).
    pub reader_thread: BlockingWorker,
}

impl Exporter for ContainerExporter {
    async fn collect(&self, _scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let started = Instant::now();
        let containers = self.discovery.containers();
        let known = containers.len();
        let reader = self.reader.clone();
        let read = self
            .reader_thread
            .run(move || {
                let host = reader.host_cpu()?;
                // Reading is a few syscalls per file and nothing else: on hosts with a hundred
                // containers or more, a second thread halves the wait (the service has two CPUs at
                // most); below that, a thread per scrape costs more memory (a malloc arena) than it
                // saves time.
                let (first, second) = containers.split_at(containers.len() / 2);
                let read_part = |part: &[Arc<ContainerInfo>]| -> Vec<_> {
                    part.iter()
                        .map(|c| (c.clone(), reader.read(c, host)))
                        .collect()
                };
                let (root, mut samples, rest) = std::thread::scope(|scope| {
                    let other = (second.len() >= 50).then(|| scope.spawn(|| read_part(second)));
                    let root = reader.read_root(host);
                    let samples = read_part(first);
                    let rest = match other {
                        Some(handle) => handle.join().unwrap_or_default(),
                        None => read_part(second),
                    };
                    (root, samples, rest)
                });
                samples.extend(rest);
                Ok::<_, Error>((root, samples))
            })
            .await
            .map_err(|e| ScrapeError::Unavailable(format!("reading cgroups failed: {e}")))?;

        let mut set = MetricSet::new();
        let mut errors = 0usize;
        match read {
            Ok((root, samples)) => {
                match root {
                    Ok(root) => self.add(&mut set, None, &root),
                    Err(e) => {
                        errors += 1;
                        tracing::warn!(error = %e, "cannot read the root cgroup");
                    }
                }
                for (info, sample) in samples {
                    match sample {
                        Ok(s) => self.add(&mut set, Some(&info), &s),
                        // Stopped since the last event: simply absent from this scrape.
                        Err(Error::Gone { .. }) => {}
                        Err(e) => {
                            errors += 1;
                            tracing::debug!(container = %info.name, error = %e, "cannot read container");
                        }
                    }
                }
            }
            Err(e) => {
                errors += 1;
                tracing::warn!(error = %e, "cannot read host cpu figures");
            }
        }
        families::machine(&mut set, &self.machine);
        set.gauge(
            "container_scrape_error",
            "1 if there was an error while getting container metrics, 0 otherwise",
            &[],
            if errors > 0 { 1.0 } else { 0.0 },
        );
        set.gauge(
            "container_exporter_docker_up",
            "Whether the Docker daemon answers (container metadata is kept while it does not).",
            &[],
            if self.discovery.docker_up() { 1.0 } else { 0.0 },
        );
        set.gauge(
            "container_exporter_containers",
            "Running containers known from Docker.",
            &[],
            known as f64,
        );
        set.gauge(
            "container_exporter_scrape_duration_seconds",
            "Time spent reading cgroups and building this scrape's families.",
            &[],
            started.elapsed().as_secs_f64(),
        );
        metrics_core::process::build_info(
            &mut set,
            "container_exporter_build_info",
            SERVICE.name,
            &[
                ("version", SERVICE.version),
                ("cgroup", self.reader.cgroup_version().as_str()),
            ],
        );
        Ok(set)
    }

    async fn health(&self) -> BackendHealth {
        let result = if self.discovery.docker_up() {
            Ok(())
        } else {
            Err(
                "docker daemon unreachable; cgroup metrics of known containers still served"
                    .to_string(),
            )
        };
        BackendHealth::backend("docker", result)
    }
}

impl ContainerExporter {
    fn add(&self, set: &mut MetricSet, info: Option<&ContainerInfo>, s: &ContainerStats) {
        let base = families::base_labels(&s.cgroup, info, &self.labels);
        let layer = info.and_then(|i| self.layers.get(&i.id));
        families::container(set, &base, info, s, layer.as_ref(), &self.groups);
    }
}
