//! `node_filesystem_*` for each mount in `/proc/1/mountinfo` (procfs-core's parser), sized with
//! `statvfs` on the mount point under `--path.rootfs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_core::MetricSet;
use procfs::FromRead;
use serde::{Deserialize, Serialize};

use super::{read, CollectorError, Host};

/// One mount worth reporting, after the mount-point and type filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mount {
    pub device: String,
    /// The filesystem's device number (`st_dev`), e.g. `254` and `0` for `/dev/vda`.
    pub major: String,
    pub minor: String,
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

pub fn parse(text: &str) -> Result<Vec<procfs::process::MountInfo>, String> {
    procfs::process::MountInfos::from_read(text.as_bytes())
        .map(|m| m.0)
        .map_err(|e| e.to_string())
}

/// A mount point as the kernel escapes it in mount tables (space, tab, newline and backslash
/// as `\ooo` octal), decoded: the real path, for the label and for `statvfs`.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
pub fn select(ctx: &Host, entries: Vec<procfs::process::MountInfo>) -> Vec<Mount> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in entries {
        let mountpoint = strip_rootfs(&ctx.rootfs, &unescape(&e.mount_point.to_string_lossy()));
        if ctx.mount_points_exclude.is_match(&mountpoint)
            || ctx.fs_types_exclude.is_match(&e.fs_type)
        {
            continue;
        }
        let (major, minor) = e.majmin.split_once(':').unwrap_or((&e.majmin, ""));
        let mount = Mount {
            // The per-mount flag: a read-only bind of a writable filesystem is read-only.
            readonly: e.mount_options.contains_key("ro"),
            // procfs reads a "none" source as absent; the tables say "none".
            device: e.mount_source.unwrap_or_else(|| "none".into()),
            major: major.to_string(),
            minor: minor.to_string(),
            mountpoint,
            fstype: e.fs_type,
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
    // init's mount namespace is the host's; /proc/1 is hidden under hidepid, then our own.
    let primary = ctx.proc("1/mountinfo");
    let (path, text) = match read(&primary) {
        Ok(t) => (primary, t),
        Err(_) => {
            let fallback = ctx.proc("self/mountinfo");
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

/// The `device_error` label: empty when `statvfs` answered, else why not, worded as
/// node_exporter words it (`mountpoint timeout`, `permission denied`).
pub fn device_error_label(error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::TimedOut {
        return "mountpoint timeout".into();
    }
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for m in mounts(ctx)? {
        let stat = ctx.statfs.statvfs(ctx.root(&m.mountpoint));
        emit(out, &m, stat);
    }
    Ok(())
}

fn emit(out: &mut MetricSet, m: &Mount, stat: std::io::Result<rustix::fs::StatVfs>) {
    let error = match &stat {
        Ok(_) => String::new(),
        Err(e) => device_error_label(e),
    };
    let labels = [
        ("device", m.device.as_str()),
        ("device_error", error.as_str()),
        ("fstype", m.fstype.as_str()),
        ("mountpoint", m.mountpoint.as_str()),
    ];
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
        tracing::debug!(mountpoint = %m.mountpoint, error = %error, "statvfs failed");
        return;
    };
    // statfs' block size, as node_exporter multiplies by (f_bsize of statfs).
    let bsize = s.f_bsize as f64;
    let sizes = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            s.f_blocks as f64 * bsize,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            s.f_bfree as f64 * bsize,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            s.f_bavail as f64 * bsize,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            s.f_files as f64,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            s.f_ffree as f64,
        ),
    ];
    for (name, help, value) in sizes {
        out.gauge(name, help, &labels, value);
    }
    out.gauge(
        "node_filesystem_mount_info",
        "Filesystem mount information.",
        &[
            ("device", m.device.as_str()),
            ("major", m.major.as_str()),
            ("minor", m.minor.as_str()),
            ("mountpoint", m.mountpoint.as_str()),
        ],
        1.0,
    );
}

/// node_exporter 1.9's default: pseudo and container-runtime mounts, and systemd's per-service
/// credential mounts. Debian's package patches this to `^/(dev|proc|run|sys|mnt|media|...)`,
/// which also hides every `/run` tmpfs, `/mnt` and `/media`; we follow upstream.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemSettings {
    pub mount_points_exclude: String,
    pub fs_types_exclude: String,
}

impl Default for FilesystemSettings {
    fn default() -> Self {
        Self {
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.into(),
            fs_types_exclude: "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::{fixtures, CollectorSettings, Context, PathConfig};

    /// The fixture's mounts that `settings` select.
    fn fixture_mounts(settings: &FilesystemSettings) -> Vec<Mount> {
        let collectors = CollectorSettings {
            filesystem: settings.clone(),
            ..CollectorSettings::default()
        };
        let context = Context::new(&PathConfig::default(), &collectors).unwrap();
        let ctx = Host::new(&context);
        select(&ctx, parse(&fixtures::read("proc/1/mountinfo")).unwrap())
    }

    #[test]
    fn default_filters_keep_real_disks_and_drop_pseudo_filesystems() {
        let mounts = fixture_mounts(&FilesystemSettings::default());
        let points: Vec<&str> = mounts.iter().map(|m| m.mountpoint.as_str()).collect();
        assert!(points.contains(&"/"), "{points:?}");
        assert!(points.contains(&"/var/lib/docker"), "{points:?}");
        assert!(!points
            .iter()
            .any(|p| p.starts_with("/sys") || p.starts_with("/proc") || p.starts_with("/dev")));
        let root = mounts.iter().find(|m| m.mountpoint == "/").unwrap();
        assert_eq!(
            (
                root.device.as_str(),
                root.fstype.as_str(),
                root.readonly,
                root.major.as_str(),
                root.minor.as_str()
            ),
            ("/dev/vda", "ext4", false, "254", "0")
        );
    }

    #[test]
    fn default_mount_points_exclude_is_upstreams_not_debians() {
        let mounts = fixture_mounts(&FilesystemSettings::default());
        let points: Vec<&str> = mounts.iter().map(|m| m.mountpoint.as_str()).collect();
        // Debian's package hides all of /run, /mnt and /media; node_exporter 1.9 only systemd's
        // credential mounts.
        assert!(points.contains(&"/run/user/1000"), "{points:?}");
        assert!(points.contains(&"/media/usb"), "{points:?}");
        assert!(
            !points.iter().any(|p| p.starts_with("/run/credentials")),
            "{points:?}"
        );
    }

    #[test]
    fn escaped_mount_points_are_decoded_and_per_mount_ro_counts() {
        let mounts = fixture_mounts(&FilesystemSettings::default());
        let backup = mounts
            .iter()
            .find(|m| m.device == "/dev/sdb1")
            .expect("the backup disk");
        assert_eq!(backup.mountpoint, "/srv/backup disk");
        assert!(backup.readonly);
        assert_eq!(unescape(r"/a\011b\134c\12"), "/a\tb\\c\\12");
    }

    #[test]
    fn a_failing_statvfs_names_its_error_in_device_error_and_skips_sizes() {
        let mount = Mount {
            device: "server:/export".into(),
            major: "0".into(),
            minor: "60".into(),
            mountpoint: "/srv/nfs".into(),
            fstype: "nfs4".into(),
            readonly: false,
        };
        let mut set = MetricSet::new();
        let denied = std::io::Error::from(rustix::io::Errno::ACCESS);
        emit(&mut set, &mount, Err(denied));
        let labels = [
            ("device", "server:/export"),
            ("device_error", "permission denied"),
            ("fstype", "nfs4"),
            ("mountpoint", "/srv/nfs"),
        ];
        assert_eq!(
            set.value("node_filesystem_device_error", &labels),
            Some(1.0)
        );
        assert!(!set.contains("node_filesystem_size_bytes"));
        assert!(!set.contains("node_filesystem_mount_info"));
        let stuck = std::io::Error::new(std::io::ErrorKind::TimedOut, "statvfs timed out");
        assert_eq!(device_error_label(&stuck), "mountpoint timeout");

        let mut set = MetricSet::new();
        emit(
            &mut set,
            &mount,
            rustix::fs::statvfs("/").map_err(std::io::Error::from),
        );
        let ok = [
            ("device", "server:/export"),
            ("device_error", ""),
            ("fstype", "nfs4"),
            ("mountpoint", "/srv/nfs"),
        ];
        assert_eq!(set.value("node_filesystem_device_error", &ok), Some(0.0));
        let info = [
            ("device", "server:/export"),
            ("major", "0"),
            ("minor", "60"),
            ("mountpoint", "/srv/nfs"),
        ];
        assert_eq!(set.value("node_filesystem_mount_info", &info), Some(1.0));
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
