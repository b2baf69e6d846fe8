//! A container's writable layer: where it is when Docker does not say (the containerd image
//! store), and its disk use, counted the way `du` does: allocated blocks × 512, each hard-linked
//! inode once, without crossing into other filesystems. The walk covers the whole tree, so
//! callers run it in the background at a bounded rate.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bytes allocated to everything under `root`, `root` included.
pub fn dir_usage_bytes(root: &Path) -> io::Result<u64> {
    let top = std::fs::symlink_metadata(root)?;
    let device = top.dev();
    let mut seen_links: HashSet<(u64, u64)> = HashSet::new();
    let mut total = top.blocks() * 512;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // A directory removed or made unreadable mid-walk: count what can be seen.
            Err(e) if dir != root => {
                tracing::debug!(dir = %dir.display(), error = %e, "skipping directory");
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() != device {
                continue;
            }
            if meta.nlink() > 1 && !meta.is_dir() && !seen_links.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(total)
}

/// The writable layer of the container `container_id` whose main process is `pid`, from that
/// process's root mount in `<procfs>/<pid>/mountinfo`: the `upperdir` of an overlay mounted on
/// `/`. This is where the layer is under Docker's containerd image store, whose inspect answer
/// has no `GraphDriver.Data`. Two small file reads, once per container start (not per scrape).
///
/// `None` unless `<procfs>/<pid>/cgroup` names the container before and after the mount table is
/// read: a pid of another pid namespace (an exporter in a container without `--pid=host`) or a
/// pid reused in between must not lend its layer to the container.
pub fn upper_dir_of_process(procfs: &Path, pid: u32, container_id: &str) -> Option<PathBuf> {
    let dir = procfs.join(pid.to_string());
    let belongs = || {
        std::fs::read_to_string(dir.join("cgroup"))
            .map(|text| !container_id.is_empty() && text.contains(container_id))
            .unwrap_or(false)
    };
    if !belongs() {
        return None;
    }
    let mountinfo = std::fs::read_to_string(dir.join("mountinfo")).ok()?;
    let upper = root_upper_dir(&mountinfo)?;
    belongs().then_some(upper)
}

/// The `upperdir` option of the overlay mounted on `/` in a mount table in the
/// `/proc/<pid>/mountinfo` format; `None` when `/` is not an overlay or has no upper directory.
/// The last mount on `/` wins, as it hides the ones below it.
pub fn root_upper_dir(mountinfo: &str) -> Option<PathBuf> {
    let root = mountinfo
        .lines()
        .rfind(|line| mount_point(line) == Some("/"))?;
    // `<id> <parent> <dev> <root> <mount point> <options> [optional fields...] - <fstype> <source> <super options>`
    let (_, tail) = root.split_once(" - ")?;
    let mut fields = tail.split(' ');
    let fstype = fields.next()?;
    if fstype != "overlay" {
        return None;
    }
    let super_options = fields.nth(1)?;
    // The kernel escapes `,`, `=`, spaces and `\` in option values as octal (`\054`).
    let upper = super_options
        .split(',')
        .find_map(|option| option.strip_prefix("upperdir="))?;
    let upper = unescape_octal(upper)?;
    upper.starts_with('/').then(|| PathBuf::from(upper))
}

fn mount_point(line: &str) -> Option<&str> {
    line.split(' ').nth(4)
}

/// Undoes the kernel's `\ooo` escapes in mountinfo fields; `None` on a malformed escape.
fn unescape_octal(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = bytes.get(i + 1..i + 4)?;
            let value = digits.iter().try_fold(0u16, |acc, d| match d {
                b'0'..=b'7' => Some(acc * 8 + u16::from(d - b'0')),
                _ => None,
            })?;
            out.push(u8::try_from(value).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocated_blocks_and_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir_usage_bytes(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/data"), vec![7u8; 1 << 20]).unwrap();
        std::fs::hard_link(dir.path().join("sub/data"), dir.path().join("again")).unwrap();
        let used = dir_usage_bytes(dir.path()).unwrap() - empty;
        assert!(used >= 1 << 20, "{used}");
        assert!(used < 2 << 20, "hard link counted twice: {used}");
        assert!(dir_usage_bytes(&dir.path().join("missing")).is_err());
    }

    /// `/proc/<pid>/mountinfo` of a busybox container under Docker 26.1.5's containerd image
    /// store (`"features": {"containerd-snapshotter": true}`), captured in the Debian 13 guest of
    /// `scripts/vm-host` (kernel 6.12, cgroup v2); `docker inspect` gave
    /// `GraphDriver {"Data": null, "Name": "overlayfs"}` for it.
    const CONTAINERD_STORE_MOUNTINFO: &str = "\
150 53 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/3/fs:/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/2/fs:/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/4/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/4/work\n\
151 150 0:43 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n\
152 150 0:44 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64\n\
153 152 0:45 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666\n\
154 150 0:46 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro\n\
155 154 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot\n\
156 152 0:42 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw\n\
157 152 0:47 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k,inode64\n\
158 150 254:0 /var/lib/docker/containers/1e7835c12391b05f42ee3d6d0d5509882eea3e3bd5294644f04f22c9ee6781ad/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw\n\
159 150 254:0 /var/lib/docker/containers/1e7835c12391b05f42ee3d6d0d5509882eea3e3bd5294644f04f22c9ee6781ad/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n\
160 150 254:0 /var/lib/docker/containers/1e7835c12391b05f42ee3d6d0d5509882eea3e3bd5294644f04f22c9ee6781ad/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw\n\
54 151 0:43 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw\n\
55 151 0:43 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw\n\
56 151 0:43 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw\n\
57 151 0:43 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw\n\
58 151 0:43 /sysrq-trigger /proc/sysrq-trigger ro,nosuid,nodev,noexec,relatime - proc proc rw\n\
59 151 0:48 / /proc/acpi ro,relatime - tmpfs tmpfs ro,inode64\n\
60 151 0:44 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64\n\
61 151 0:44 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64\n\
63 151 0:44 /null /proc/timer_list rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64\n\
64 154 0:49 / /sys/firmware ro,relatime - tmpfs tmpfs ro,inode64\n";

    const CONTAINERD_UPPER: &str =
        "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/4/fs";

    #[test]
    fn upper_dir_of_the_root_overlay_under_the_containerd_store() {
        assert_eq!(
            root_upper_dir(CONTAINERD_STORE_MOUNTINFO),
            Some(PathBuf::from(CONTAINERD_UPPER))
        );
    }

    #[test]
    fn no_upper_dir_when_root_is_not_an_overlay() {
        let fuse = "25 1 0:40 / / rw,relatime - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=0\n";
        assert_eq!(root_upper_dir(fuse), None);
        let ext4 = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";
        assert_eq!(root_upper_dir(ext4), None);
        // An overlay elsewhere than on `/` is not the container's layer.
        let elsewhere = "22 1 254:0 / / rw - ext4 /dev/vda rw\n\
                         30 22 0:50 / /mnt rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n";
        assert_eq!(root_upper_dir(elsewhere), None);
        assert_eq!(root_upper_dir(""), None);
    }

    #[test]
    fn escaped_characters_in_the_upper_dir_are_decoded() {
        let line = "30 1 0:50 / / rw shared:7 master:1 - overlay overlay \
                    rw,lowerdir=/a\\054b,upperdir=/var/lib/x\\040y/fs,workdir=/w\n";
        assert_eq!(root_upper_dir(line), Some(PathBuf::from("/var/lib/x y/fs")));
        let broken = "30 1 0:50 / / rw - overlay overlay rw,upperdir=/x\\09\n";
        assert_eq!(root_upper_dir(broken), None);
    }

    #[test]
    fn the_layer_of_a_process_is_taken_only_when_its_cgroup_names_the_container() {
        let procfs = tempfile::tempdir().unwrap();
        let id = "3f1c0a5e9b7d2c4a6e8f0b1d3c5a7e9f1b3d5c7a9e1f3b5d7c9a1e3f5b7d9c1a";
        let dir = procfs.path().join("4242");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("mountinfo"), CONTAINERD_STORE_MOUNTINFO).unwrap();
        std::fs::write(
            dir.join("cgroup"),
            format!("0::/../../system.slice/docker-{id}.scope\n"),
        )
        .unwrap();
        assert_eq!(
            upper_dir_of_process(procfs.path(), 4242, id),
            Some(PathBuf::from(CONTAINERD_UPPER))
        );
        // Another container's process (or a pid of another pid namespace): nothing.
        assert_eq!(
            upper_dir_of_process(procfs.path(), 4242, "0badc0ffee"),
            None
        );
        assert_eq!(upper_dir_of_process(procfs.path(), 4242, ""), None);
        assert_eq!(upper_dir_of_process(procfs.path(), 4343, id), None);
    }
}
