//! `node_filesystem_*` for each mount in `/proc/1/mounts` (procfs-core's parser), sized with
//! `statvfs` on the mount point under `--path.rootfs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_core::MetricSet;
use procfs::FromRead;

use super::{read, CollectorError, Host};

/// One mount worth reporting, after the mount-point and type filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub readonly: bool,
}

/// How long a `statvfs` may take before its mount is reported as stuck (node_exporter's
/// `--collector.filesystem.mount-timeout` default).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

struct StatRequest {
    path: PathBuf,
    reply: mpsc::Sender<std::io::Result<rustix::fs::StatVfs>>,
}

/// Runs `statvfs` on a thread of its own, so that a mount whose server is gone (NFS, FUSE)
/// costs one stuck thread and `device_error 1` on later scrapes, rather than a hung scrape.
#[derive(Default)]
pub struct Statfs {
    worker: Mutex<Option<mpsc::Sender<StatRequest>>>,
    /// Mount points whose `statvfs` has not returned yet; skipped until it does.
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Statfs {
    fn worker(&self) -> std::io::Result<mpsc::Sender<StatRequest>> {
        let mut worker = lock(&self.worker);
        if let Some(tx) = worker.as_ref() {
            return Ok(tx.clone());
        }
        let (tx, rx) = mpsc::channel::<StatRequest>();
        let stuck = self.stuck.clone();
        std::thread::Builder::new()
            .name("statvfs".into())
            .spawn(move || {
                for request in rx {
                    let result = rustix::fs::statvfs(&request.path).map_err(std::io::Error::from);
                    lock(&stuck).remove(&request.path);
                    let _ = request.reply.send(result);
                }
            })?;
        *worker = Some(tx.clone());
        Ok(tx)
    }

    pub fn statvfs(&self, path: PathBuf) -> std::io::Result<rustix::fs::StatVfs> {
        let timed_out = || {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "statvfs timed out; mount is stuck",
            )
        };
        if lock(&self.stuck).contains(&path) {
            return Err(timed_out());
        }
        let (reply, answer) = mpsc::channel();
        let sent = self.worker()?.send(StatRequest {
            path: path.clone(),
            reply,
        });
        if sent.is_err() {
            *lock(&self.worker) = None;
            return Err(std::io::Error::other("statvfs worker is gone"));
        }
        match answer.recv_timeout(MOUNT_TIMEOUT) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                tracing::error!(path = %path.display(), "statvfs timed out; mount is stuck and skipped until it answers");
                lock(&self.stuck).insert(path);
                // That worker is blocked in the kernel; the next call starts a fresh one.
                *lock(&self.worker) = None;
                Err(timed_out())
            }
            Err(RecvTimeoutError::Disconnected) => {
                *lock(&self.worker) = None;
                Err(std::io::Error::other("statvfs worker is gone"))
            }
        }
    }
}

pub fn parse(text: &str) -> Result<Vec<procfs::MountEntry>, String> {
    Vec::<procfs::MountEntry>::from_read(text.as_bytes()).map_err(|e| e.to_string())
}

/// The mount point as the host sees it: `--path.rootfs` removed from the front.
pub fn strip_rootfs(rootfs: &Path, mountpoint: &str) -> String {
    let root = rootfs.to_string_lossy();
    if root == "/" || root.is_empty() {
        return mountpoint.to_string();
    }
    match mountpoint.strip_prefix(root.trim_end_matches('/')) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => mountpoint.to_string(),
    }
}

/// The mounts to report: filtered, deduplicated, in file order.
pub fn select(ctx: &Host, entries: Vec<procfs::MountEntry>) -> Vec<Mount> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in entries {
        let mountpoint = strip_rootfs(&ctx.rootfs, &e.fs_file);
        if ctx.mount_points_exclude.is_match(&mountpoint)
            || ctx.fs_types_exclude.is_match(&e.fs_vfstype)
        {
            continue;
        }
        let mount = Mount {
            readonly: e.fs_mntops.contains_key("ro"),
            device: e.fs_spec,
            mountpoint,
            fstype: e.fs_vfstype,
        };
        if seen.insert((
            mount.device.clone(),
            mount.mountpoint.clone(),
            mount.fstype.clone(),
        )) {
            out.push(mount);
        }
    }
    out
}

/// The selected mounts of the last mount table read, reused while the table is unchanged (it
/// rarely changes, and parsing and filtering it is most of this collector's work).
#[derive(Debug, Default)]
pub struct MountCache {
    table: String,
    mounts: Vec<Mount>,
}

fn mounts(ctx: &Host) -> Result<Vec<Mount>, CollectorError> {
    let primary = ctx.proc("1/mounts");
    let (path, text) = match read(&primary) {
        Ok(t) => (primary, t),
        Err(_) => {
            let fallback = ctx.proc("self/mounts");
            let t = read(&fallback)?;
            (fallback, t)
        }
    };
    let mut cache = match ctx.mount_cache.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    if cache.table != text || cache.table.is_empty() {
        let entries = parse(&text).map_err(|why| CollectorError::parse(&path, why))?;
        cache.mounts = select(ctx, entries);
        cache.table = text;
    }
    Ok(cache.mounts.clone())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for m in mounts(ctx)? {
        let labels = [
            ("device", m.device.as_str()),
            ("fstype", m.fstype.as_str()),
            ("mountpoint", m.mountpoint.as_str()),
        ];
        let stat = ctx.statfs.statvfs(ctx.root(&m.mountpoint));
        out.gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            &labels,
            if stat.is_ok() { 0.0 } else { 1.0 },
        );
        out.gauge(
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            &labels,
            if m.readonly { 1.0 } else { 0.0 },
        );
        let Ok(s) = stat else {
            tracing::debug!(mountpoint = %m.mountpoint, "statvfs failed");
            continue;
        };
        // statfs' block size, as node_exporter multiplies by (f_bsize of statfs).
        let bsize = s.f_bsize as f64;
        out.gauge(
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            &labels,
            s.f_blocks as f64 * bsize,
        );
        out.gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            &labels,
            s.f_bfree as f64 * bsize,
        );
        out.gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            &labels,
            s.f_bavail as f64 * bsize,
        );
        out.gauge(
            "node_filesystem_files",
            "Filesystem total file nodes.",
            &labels,
            s.f_files as f64,
        );
        out.gauge(
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            &labels,
            s.f_ffree as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;
    use crate::config::Config;

    #[test]
    fn default_filters_keep_real_disks_and_drop_pseudo_filesystems() {
        let context = crate::collector::Context::new(&Config::default()).unwrap();
        let ctx = Host::new(&context);
        let mounts = select(&ctx, parse(&fixtures::read("proc/1/mounts")).unwrap());
        let points: Vec<&str> = mounts.iter().map(|m| m.mountpoint.as_str()).collect();
        assert!(points.contains(&"/"), "{points:?}");
        assert!(points.contains(&"/var/lib/docker"), "{points:?}");
        assert!(!points
            .iter()
            .any(|p| p.starts_with("/sys") || p.starts_with("/proc") || p.starts_with("/dev")));
        assert!(!points.iter().any(|p| p.starts_with("/mnt")));
        let root = mounts.iter().find(|m| m.mountpoint == "/").unwrap();
        assert_eq!(
            (root.device.as_str(), root.fstype.as_str(), root.readonly),
            ("/dev/vda", "ext4", false)
        );
    }

    #[test]
    fn statvfs_answers_and_skips_stuck_mounts() {
        let statfs = Statfs::default();
        assert!(statfs.statvfs(PathBuf::from("/")).unwrap().f_blocks > 0);
        statfs.stuck.lock().unwrap().insert(PathBuf::from("/"));
        let Err(err) = statfs.statvfs(PathBuf::from("/")) else {
            panic!("a stuck mount must not be asked again");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn rootfs_prefix_is_stripped() {
        assert_eq!(strip_rootfs(Path::new("/host"), "/host"), "/");
        assert_eq!(strip_rootfs(Path::new("/host"), "/host/var"), "/var");
        assert_eq!(strip_rootfs(Path::new("/host/"), "/host/var"), "/var");
        assert_eq!(strip_rootfs(Path::new("/host"), "/hostile"), "/hostile");
        assert_eq!(strip_rootfs(Path::new("/"), "/var"), "/var");
    }
}
