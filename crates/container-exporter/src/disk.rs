//! `container_fs_usage_bytes`: writable layers walked in the background, never on a scrape.
//!
//! Every `interval` each running container's layer is walked (at most `max_walks` at once, on
//! the blocking pool); scrapes read the last results.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use container_stats::{host, layer_usage, Discovery, StatsReader};
use tokio::sync::Semaphore;

/// Last measured size of each container's writable layer.
#[derive(Debug, Default)]
pub struct LayerSizes {
    sizes: RwLock<HashMap<String, LayerSize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSize {
    /// The filesystem's device, cAdvisor's `device` label.
    pub device: String,
    pub bytes: u64,
    /// The filesystem's size (cAdvisor's `container_fs_limit_bytes`: Docker sets no limit per
    /// container, so the filesystem's capacity is the limit).
    pub limit_bytes: Option<u64>,
}

impl LayerSizes {
    pub fn get(&self, id: &str) -> Option<LayerSize> {
        self.sizes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
}

/// Starts the walking task, which runs for the life of the runtime.
pub fn spawn(
    discovery: Arc<Discovery>,
    reader: Arc<StatsReader>,
    rootfs: PathBuf,
    interval: Duration,
    max_walks: usize,
) -> Arc<LayerSizes> {
    let sizes = Arc::new(LayerSizes::default());
    let out = sizes.clone();
    let permits = Arc::new(Semaphore::new(max_walks.max(1)));
    tokio::spawn(async move {
        discovery.wait_synced(Duration::from_secs(30)).await;
        loop {
            let containers = discovery.containers();
            let mut walks = Vec::with_capacity(containers.len());
            for c in &containers {
                let Some(upper) = &c.upper_dir else { continue };
                let path = under_root(&rootfs, upper);
                let (id, permits, reader) = (c.id.clone(), permits.clone(), reader.clone());
                walks.push(tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.ok()?;
                    tokio::task::spawn_blocking(move || {
                        let bytes = layer_usage::dir_usage_bytes(&path)
                            .map_err(|e| tracing::debug!(path = %path.display(), error = %e, "cannot walk writable layer"))
                            .ok()?;
                        let device = reader.device_of(&path).unwrap_or_default();
                        let limit_bytes = host::filesystem_size(&path).map(|(capacity, ..)| capacity);
                        Some((id, LayerSize { device, bytes, limit_bytes }))
                    })
                    .await
                    .ok()
                    .flatten()
                }));
            }
            let mut fresh = HashMap::with_capacity(walks.len());
            for walk in walks {
                if let Ok(Some((id, size))) = walk.await {
                    fresh.insert(id, size);
                }
            }
            *sizes.sizes.write().unwrap_or_else(|p| p.into_inner()) = fresh;
            tokio::time::sleep(interval).await;
        }
    });
    out
}

/// `/var/lib/docker/...` as seen under the configured root (`/rootfs/var/lib/docker/...`).
fn under_root(rootfs: &Path, path: &Path) -> PathBuf {
    rootfs.join(path.strip_prefix("/").unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_paths_are_prefixed_with_the_host_root() {
        assert_eq!(
            under_root(Path::new("/"), Path::new("/var/lib/docker/x")),
            PathBuf::from("/var/lib/docker/x")
        );
        assert_eq!(
            under_root(Path::new("/rootfs"), Path::new("/var/lib/docker/x")),
            PathBuf::from("/rootfs/var/lib/docker/x")
        );
    }
}
