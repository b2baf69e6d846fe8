//! The fallback stats source for when cgroupfs cannot be read (a remote `DOCKER_HOST`): the
//! daemon's stats API, with exactly one stream per running container however many clients ask,
//! each stream keeping only its latest sample. The daemon's figures are turned into
//! container-stats' [`ContainerStats`] so that the same docker CLI formulas apply to both sources.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bollard::models::ContainerStatsResponse;
use container_stats::{
    BlkioDevice, BlkioStats, CgroupVersion, ContainerInfo, ContainerStats, CpuStats,
    InterfaceStats, MemoryStats, PidsStats, PressureStats,
};
use futures_util::StreamExt;

use crate::engine::EngineApi;

type Latest = Arc<Mutex<Option<ContainerStats>>>;

/// One stats stream per running container.
pub struct DaemonStats {
    engine: EngineApi,
    streams: HashMap<String, (tokio::task::JoinHandle<()>, Latest)>,
}

impl DaemonStats {
    pub fn new(engine: EngineApi) -> Self {
        Self {
            engine,
            streams: HashMap::new(),
        }
    }

    /// Opens streams for containers that have none, closes those of containers that are gone,
    /// and returns the latest sample of each running container that has one yet.
    pub fn latest(
        &mut self,
        running: &[Arc<ContainerInfo>],
    ) -> Vec<(Arc<ContainerInfo>, ContainerStats)> {
        self.streams.retain(|id, (task, _)| {
            let keep = running.iter().any(|c| &c.id == id) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        let mut out = Vec::with_capacity(running.len());
        for c in running {
            let (_, latest) = self
                .streams
                .entry(c.id.clone())
                .or_insert_with(|| open(self.engine.clone(), c.id.clone()));
            let sample = latest.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(s) = sample {
                out.push((c.clone(), s));
            }
        }
        out
    }

    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }
}

impl Drop for DaemonStats {
    fn drop(&mut self) {
        for (task, _) in self.streams.values() {
            task.abort();
        }
    }
}

/// One container's stats stream: each line (bounded, see [`EngineApi::lines`]) replaces the
/// latest sample. A stream that ends or fails ends the task; the next round opens a new one.
fn open(engine: EngineApi, id: String) -> (tokio::task::JoinHandle<()>, Latest) {
    let latest: Latest = Arc::default();
    let slot = latest.clone();
    let task = tokio::spawn(async move {
        // The id goes into a path: only what a container id can be.
        if !crate::validate::is_valid_id(&id) {
            return;
        }
        let path = format!("/containers/{id}/stats?stream=true");
        let mut lines = match engine.lines(&path).await {
            Ok(lines) => Box::pin(lines),
            Err(e) => {
                tracing::debug!(id, error = %e, "cannot open the stats stream");
                return;
            }
        };
        while let Some(line) = lines.next().await {
            let sample = line.and_then(|l| {
                serde_json::from_slice::<ContainerStatsResponse>(&l).map_err(|e| {
                    crate::engine::EngineError::Decode {
                        path: path.clone(),
                        reason: e.to_string(),
                    }
                })
            });
            match sample {
                Ok(r) => {
                    let s = from_daemon(&id, r);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
                }
                Err(e) => {
                    tracing::debug!(id, error = %e, "stats stream ended");
                    break;
                }
            }
        }
    });
    (task, latest)
}

/// The daemon's stats of one container as a container-stats sample.
pub fn from_daemon(id: &str, r: ContainerStatsResponse) -> ContainerStats {
    let cpu = r.cpu_stats.unwrap_or_default();
    let usage = cpu.cpu_usage.unwrap_or_default();
    let mem = r.memory_stats.unwrap_or_default();
    let stats = mem.stats.unwrap_or_default();
    // cgroup v1 names its subtree totals `total_*`; v2 has no prefix.
    let v1 = stats.contains_key("total_inactive_file");
    let stat = |v1_key: &str, v2_key: &str| {
        stats
            .get(if v1 { v1_key } else { v2_key })
            .copied()
            .unwrap_or(0)
    };
    let usage_bytes = mem.usage.unwrap_or(0);
    let inactive_file = stat("total_inactive_file", "inactive_file");
    let memory = MemoryStats {
        usage_bytes,
        max_usage_bytes: mem.max_usage,
        working_set_bytes: usage_bytes.saturating_sub(inactive_file),
        rss_bytes: stat("total_rss", "anon"),
        cache_bytes: stat("total_cache", "file"),
        mapped_file_bytes: stat("total_mapped_file", "file_mapped"),
        inactive_file_bytes: inactive_file,
        active_file_bytes: stat("total_active_file", "active_file"),
        failcnt: mem.failcnt,
        limit_bytes: mem.limit.filter(|l| *l > 0),
        ..MemoryStats::default()
    };
    let network = r
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, n)| InterfaceStats {
            name,
            rx_bytes: n.rx_bytes.unwrap_or(0),
            rx_packets: n.rx_packets.unwrap_or(0),
            rx_errors: n.rx_errors.unwrap_or(0),
            rx_dropped: n.rx_dropped.unwrap_or(0),
            tx_bytes: n.tx_bytes.unwrap_or(0),
            tx_packets: n.tx_packets.unwrap_or(0),
            tx_errors: n.tx_errors.unwrap_or(0),
            tx_dropped: n.tx_dropped.unwrap_or(0),
        })
        .collect();
    let mut devices: Vec<BlkioDevice> = Vec::new();
    for e in r
        .blkio_stats
        .and_then(|b| b.io_service_bytes_recursive)
        .unwrap_or_default()
    {
        // Device numbers past u32 are no device the kernel has: kept apart, not wrapped.
        let number = |n: Option<u64>| n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        let (major, minor) = (number(e.major), number(e.minor));
        let i = match devices
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            Some(i) => i,
            None => {
                devices.push(BlkioDevice {
                    major,
                    minor,
                    device: format!("{major}:{minor}"),
                    ..BlkioDevice::default()
                });
                devices.len() - 1
            }
        };
        let op = e.op.unwrap_or_default();
        let value = e.value.unwrap_or(0);
        // As the docker CLI sums them: ops starting with r/R are reads, w/W writes.
        match op.as_bytes().first() {
            Some(b'r' | b'R') => {
                devices[i].read_bytes = devices[i].read_bytes.saturating_add(value);
            }
            Some(b'w' | b'W') => {
                devices[i].write_bytes = devices[i].write_bytes.saturating_add(value);
            }
            _ => {}
        }
    }
    let timestamp = SystemTime::now();
    ContainerStats {
        id: id.to_string(),
        cgroup: String::new(),
        cgroup_version: if v1 {
            CgroupVersion::V1
        } else {
            CgroupVersion::V2
        },
        timestamp,
        cpu: CpuStats {
            usage_ns: usage.total_usage.unwrap_or(0),
            user_ns: usage.usage_in_usermode,
            system_ns: usage.usage_in_kernelmode,
            ..CpuStats::default()
        },
        memory,
        blkio: BlkioStats { devices },
        pids: PidsStats {
            current: r.pids_stats.as_ref().and_then(|p| p.current),
            limit: r.pids_stats.as_ref().and_then(|p| p.limit),
            ..PidsStats::default()
        },
        network,
        pressure: PressureStats::default(),
        system_cpu_usage_ns: cpu.system_cpu_usage.unwrap_or(0),
        online_cpus: cpu.online_cpus.unwrap_or(1).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_stats_of_a_v1_container_become_a_sample() {
        let json = include_str!("../tests/fixtures/daemon-stats-v1.json");
        let r: ContainerStatsResponse = serde_json::from_str(json).unwrap();
        let s = from_daemon("x", r);
        assert_eq!(s.cgroup_version, CgroupVersion::V1);
        assert!(s.cpu.usage_ns > 0);
        assert!(s.system_cpu_usage_ns > 0);
        assert!(s.memory.usage_bytes >= s.memory.working_set_bytes);
        assert_eq!(
            container_stats::docker_cli::memory_used_bytes(&s.memory),
            s.memory.working_set_bytes
        );
        assert!(s.memory.limit_bytes.is_some());
        assert!(!s.network.is_empty());
    }
}
