//! `node_os_info` and `node_os_version` from `os-release` under `--path.rootfs`, re-read only
//! when the file changes.

use std::time::SystemTime;

use metrics_core::MetricSet;

use super::{CollectorError, Host};

const FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// The labels of `node_os_info`, in order.
pub const INFO_KEYS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

#[derive(Debug, Default)]
pub struct Cache {
    source: Option<(std::path::PathBuf, SystemTime)>,
    release: Vec<(String, String)>,
}

/// `KEY=value` lines with optional single or double quotes.
pub fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        out.push((
            key.trim().to_string(),
            unquoted.replace("\\\"", "\"").replace("\\\\", "\\"),
        ));
    }
    out
}

/// `VERSION_ID` as a number: `12` → 12, `22.04` → 22.04, `3.18.4` → 3.18.
pub fn version_number(version_id: &str) -> Option<f64> {
    let mut end = 0;
    let mut dots = 0;
    for (i, ch) in version_id.char_indices() {
        if ch == '.' {
            dots += 1;
            if dots > 1 {
                break;
            }
        } else if !ch.is_ascii_digit() {
            break;
        }
        end = i + ch.len_utf8();
    }
    version_id[..end].trim_end_matches('.').parse().ok()
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let mut cache = match ctx.os_cache.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut last_error = None;
    let mut found = None;
    for file in FILES {
        let path = ctx.root(file);
        match std::fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(mtime) => {
                found = Some((path, mtime));
                break;
            }
            Err(e) => last_error = Some((path, e)),
        }
    }
    let Some((path, mtime)) = found else {
        return Err(match last_error {
            Some((path, source)) => CollectorError::Read { path, source },
            None => CollectorError::NoData("no os-release".into()),
        });
    };
    if cache.source.as_ref() != Some(&(path.clone(), mtime)) {
        cache.release = parse(&super::read(&path)?);
        cache.source = Some((path, mtime));
    }
    let get = |k: &str| {
        cache
            .release
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let labels: Vec<(&str, &str)> = INFO_KEYS
        .iter()
        .map(|(label, key)| (*label, get(key)))
        .collect();
    out.gauge(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        &labels,
        1.0,
    );
    if let Some(v) = version_number(get("VERSION_ID")) {
        out.gauge(
            "node_os_version",
            "Metric containing the major.minor part of the OS version.",
            &[
                ("id", get("ID")),
                ("id_like", get("ID_LIKE")),
                ("name", get("NAME")),
            ],
            v,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_real_os_release() {
        let r = parse(&fixtures::read("etc/os-release"));
        let get = |k: &str| r.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ID"), Some("debian"));
        assert_eq!(get("PRETTY_NAME"), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(get("VERSION_ID"), Some("12"));
    }

    #[test]
    fn versions_keep_major_and_minor() {
        assert_eq!(version_number("12"), Some(12.0));
        assert_eq!(version_number("22.04"), Some(22.04));
        assert_eq!(version_number("3.18.4"), Some(3.18));
        assert_eq!(version_number(""), None);
    }
}
