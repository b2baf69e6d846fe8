//! The scrape: read every known container's cgroup files now, and build cAdvisor's families.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use container_stats::host::HostFilesystem;
use container_stats::{ContainerInfo, ContainerStats, Discovery, Error, MachineInfo, StatsReader};
use metrics_core::{BackendHealth, BlockingWorker, Exporter, MetricSet, Scrape, ScrapeError};

use crate::disk::LayerSizes;
use crate::families::{self, Extras, LabelPolicy};
use crate::groups::Groups;
use crate::load::LoadTracker;
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
    /// Where the host's root filesystem is seen (for the root cgroup's filesystems).
    pub rootfs: PathBuf,
    pub loads: LoadTracker,
    /// The daemon's version once it has answered (`cadvisor_version_info`'s `dockerVersion`).
    pub docker_version: Arc<RwLock<String>>,
}

impl Exporter for ContainerExporter {
    async fn collect(&self, _scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let started = Instant::now();
        let containers = self.discovery.containers();
        let known = containers.len();
        let reader = self.reader.clone();
        let (rootfs, with_filesystems) =
            (self.rootfs.clone(), self.groups.disk || self.groups.disk_io);
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
                let filesystems = if with_filesystems {
                    reader.host_filesystems(&rootfs)
                } else {
                    Vec::new()
                };
                Ok::<_, Error>((root, samples, filesystems))
            })
            .await
            .map_err(|e| ScrapeError::Unavailable(format!("reading cgroups failed: {e}")))?;

        let mut set = MetricSet::new();
        let mut errors = 0usize;
        let now = Instant::now();
        match read {
            Ok((root, samples, filesystems)) => {
                match root {
                    Ok(root) => self.add(&mut set, None, &root, &filesystems, now),
                    Err(e) => {
                        errors += 1;
                        tracing::warn!(error = %e, "cannot read the root cgroup");
                    }
                }
                let mut live = Vec::with_capacity(samples.len());
                for (info, sample) in samples {
                    match sample {
                        Ok(s) => {
                            self.add(&mut set, Some(&info), &s, &[], now);
                            live.push(s.cgroup);
                        }
                        // Stopped since the last event: simply absent from this scrape.
                        Err(Error::Gone { .. }) => {}
                        Err(e) => {
                            errors += 1;
                            tracing::debug!(container = %info.name, error = %e, "cannot read container");
                        }
                    }
                }
                let live: Vec<&str> = live.iter().map(String::as_str).collect();
                self.loads.retain(&live);
            }
            Err(e) => {
                errors += 1;
                tracing::warn!(error = %e, "cannot read host cpu figures");
            }
        }
        families::machine(&mut set, &self.machine);
        let docker_version = self
            .docker_version
            .read()
            .map(|v| v.clone())
            .unwrap_or_default();
        families::version_info(&mut set, &self.machine, &docker_version, SERVICE.version);
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
        metrics_core::build_info::BUILD.export(
            &mut set,
            "container_exporter_build_info",
            SERVICE.name,
            &[("cgroup", self.reader.cgroup_version().as_str())],
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
    fn add(
        &self,
        set: &mut MetricSet,
        info: Option<&ContainerInfo>,
        s: &ContainerStats,
        filesystems: &[HostFilesystem],
        now: Instant,
    ) {
        let base = families::base_labels(&s.cgroup, info, &self.labels);
        let layer = info.and_then(|i| self.layers.get(&i.id));
        let load = s
            .pids
            .task_states
            .map(|states| self.loads.update(&s.cgroup, states, now));
        let extras = Extras {
            layer: layer.as_ref(),
            filesystems,
            load,
        };
        families::container(set, &base, info, s, extras, &self.groups);
    }
}
