//! Reading the files the configuration names (custom queries, secret files, TLS root
//! certificates): regular files only, up to a size cap, on a blocking thread so that a slow or
//! endless file never holds an async worker. Request parameters never name a file.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Custom queries files (upstream's own is about 20 KiB).
pub const MAX_QUERIES_FILE: u64 = 4 << 20;
/// `DATA_SOURCE_USER_FILE`, `DATA_SOURCE_PASS_FILE`.
pub const MAX_SECRET_FILE: u64 = 64 << 10;
/// `sslrootcert` (a bundle of a few hundred CA certificates is about 200 KiB).
pub const MAX_CERT_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not a regular file")]
    NotRegular,
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the reading thread stopped")]
    Stopped,
}

/// The whole file, if it is a regular file of at most `limit` bytes. Blocks: call it through
/// [`read_off_thread`] from async code.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    // A FIFO or a device (`/dev/zero`) would block or never end; refuse it before opening.
    if !std::fs::metadata(path)?.is_file() {
        return Err(FileError::NotRegular);
    }
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(FileError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > limit) {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_capped`] on tokio's blocking pool.
pub async fn read_off_thread(path: PathBuf, limit: u64) -> Result<Vec<u8>, FileError> {
    tokio::task::spawn_blocking(move || read_capped(&path, limit))
        .await
        .map_err(|_| FileError::Stopped)?
}

/// [`read_off_thread`] as UTF-8 text.
pub async fn read_text(path: PathBuf, limit: u64) -> Result<String, FileError> {
    let bytes = read_off_thread(path, limit).await?;
    String::from_utf8(bytes).map_err(|_| {
        FileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_fifos_and_large_files() {
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 10),
            Err(FileError::NotRegular)
        ));
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(read_capped(&fifo, 10), Err(FileError::NotRegular)));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 11]).unwrap();
        assert!(matches!(
            read_capped(&big, 10),
            Err(FileError::TooLarge { limit: 10 })
        ));
        assert_eq!(read_capped(&big, 11).unwrap().len(), 11);
    }
}
