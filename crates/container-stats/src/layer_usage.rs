//! Disk use of a directory tree (a container's writable layer), counted the way `du` does:
//! allocated blocks × 512, each hard-linked inode once, without crossing into other filesystems.
//! It walks the whole tree, so callers run it in the background at a bounded rate.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

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
}
