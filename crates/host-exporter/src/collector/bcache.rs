//! `node_bcache_*{uuid}` from `/sys/fs/bcache/<set-uuid>/`: each cache set's btree and journal
//! state, its backing devices' dirty data, writeback controller and lifetime hit statistics
//! (`bdevN/`), and its cache devices' writes and errors (`cacheN/`). bcache prints most values
//! "humanized" (`1.5M`); they are read back to bytes the way node_exporter does. Hosts without
//! bcache have no data.

use std::path::{Path, PathBuf};

use metrics_core::MetricSet;

use super::{list_dir, CollectorError, Host};

/// bcache's own "human" numbers: an integer part, an optional one-digit fraction that counts
/// 1/1024ths in steps of 10.24 (`bch_hprint`), and a k/M/G/T/P/E/Z/Y suffix for powers of 1024.
/// A value without a suffix is a plain number. A leading `-` negates.
pub fn dehumanize(text: &str) -> Result<f64, String> {
    let (negative, t) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim()),
    };
    let Some(last) = t.chars().last() else {
        return Err("empty value".into());
    };
    let value = if last.is_ascii_digit() {
        t.parse::<f64>().map_err(|e| format!("{text:?}: {e}"))?
    } else {
        let power = match last {
            'k' => 1,
            'M' => 2,
            'G' => 3,
            'T' => 4,
            'P' => 5,
            'E' => 6,
            'Z' => 7,
            'Y' => 8,
            _ => return Err(format!("{text:?}: unknown unit")),
        };
        let mantissa = &t[..t.len() - last.len_utf8()];
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let int: f64 = int.parse().map_err(|e| format!("{text:?}: {e}"))?;
        let frac: f64 = if frac.is_empty() {
            0.0
        } else {
            frac.parse::<f64>().map_err(|e| format!("{text:?}: {e}"))? / 10.24
        };
        // Truncated to whole bytes, as node_exporter does.
        ((int + frac) * 1024f64.powi(power)).trunc()
    };
    Ok(if negative { -value } else { value })
}

/// A value file, 0 when the kernel does not offer it.
fn value(dir: &Path, file: &str) -> Result<f64, CollectorError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => dehumanize(&text).map_err(|why| CollectorError::parse(&path, why)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0.0),
        Err(source) => Err(CollectorError::Read { path, source }),
    }
}

/// The writeback controller's state from `writeback_rate_debug` (`rate: 1.1M/sec`, `dirty:
/// 20.5k`, `proportional: -3.7k`...): `(rate, target, proportional, integral, change)`.
pub fn parse_writeback(text: &str) -> Result<[f64; 5], String> {
    let mut out = [0.0; 5];
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "rate" => 0,
            "target" => 1,
            "proportional" => 2,
            "integral" => 3,
            "change" => 4,
            _ => continue,
        };
        let raw = rest.split_ascii_whitespace().last().unwrap_or_default();
        out[slot] = dehumanize(raw.trim_end_matches("/sec"))?;
    }
    Ok(out)
}

fn numbered(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    Ok(list_dir(dir)?
        .into_iter()
        .filter(|(name, _)| {
            name.strip_prefix(prefix)
                .and_then(|n| n.chars().next())
                .is_some_and(|c| c.is_ascii_digit())
        })
        .collect())
}

fn emit_set(out: &mut MetricSet, uuid: &str, dir: &Path) -> Result<(), CollectorError> {
    let l = [("uuid", uuid)];
    let internal = dir.join("internal");
    let gauges = [
        ("node_bcache_average_key_size_sectors", "Average data per key in the btree (sectors).", value(dir, "average_key_size")?),
        ("node_bcache_btree_cache_size_bytes", "Amount of memory currently used by the btree cache.", value(dir, "btree_cache_size")?),
        ("node_bcache_cache_available_percent", "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).", value(dir, "cache_available_percent")?),
        ("node_bcache_congested", "Congestion.", value(dir, "congested")?),
        ("node_bcache_root_usage_percent", "Percentage of the root btree node in use (tree depth increases if too high).", value(dir, "root_usage_percent")?),
        ("node_bcache_tree_depth", "Depth of the btree.", value(dir, "tree_depth")?),
        ("node_bcache_active_journal_entries", "Number of journal entries that are newer than the index.", value(&internal, "active_journal_entries")?),
        ("node_bcache_btree_nodes", "Total nodes in the btree.", value(&internal, "btree_nodes")?),
        // The file is in microseconds.
        ("node_bcache_btree_read_average_duration_seconds", "Average btree read duration.", value(&internal, "btree_read_average_duration_us")? * 1e-6),
    ];
    for (name, help, v) in gauges {
        out.gauge(name, help, &l, v);
    }
    out.counter(
        "node_bcache_cache_read_races_total",
        "Counts instances where while data was being read from the cache, the bucket was reused and invalidated.",
        &l,
        value(&internal, "cache_read_races")?,
    );
    for (bdev, bdev_dir) in numbered(dir, "bdev")? {
        emit_backing_device(out, uuid, &bdev, &bdev_dir)?;
    }
    for (cache, cache_dir) in numbered(dir, "cache")? {
        let l = [("cache_device", cache.as_str()), ("uuid", uuid)];
        out.gauge(
            "node_bcache_io_errors",
            "Number of errors that have occurred, decayed by io_error_halflife.",
            &l,
            value(&cache_dir, "io_errors")?,
        );
        out.counter(
            "node_bcache_metadata_written_bytes_total",
            "Sum of all non data writes (btree writes and all other metadata).",
            &l,
            value(&cache_dir, "metadata_written")?,
        );
        out.counter(
            "node_bcache_written_bytes_total",
            "Sum of all data that has been written to the cache.",
            &l,
            value(&cache_dir, "written")?,
        );
    }
    Ok(())
}

fn emit_backing_device(
    out: &mut MetricSet,
    uuid: &str,
    bdev: &str,
    dir: &Path,
) -> Result<(), CollectorError> {
    let l = [("backing_device", bdev), ("uuid", uuid)];
    let debug_path = dir.join("writeback_rate_debug");
    let debug = std::fs::read_to_string(&debug_path).map_err(|source| CollectorError::Read {
        path: debug_path.clone(),
        source,
    })?;
    let [rate, target, proportional, integral, change] =
        parse_writeback(&debug).map_err(|why| CollectorError::parse(&debug_path, why))?;
    let gauges = [
        (
            "node_bcache_dirty_data_bytes",
            "Amount of dirty data for this backing device in the cache.",
            value(dir, "dirty_data")?,
        ),
        (
            "node_bcache_dirty_target_bytes",
            "Current dirty data target threshold for this backing device in bytes.",
            target,
        ),
        (
            "node_bcache_writeback_rate",
            "Current writeback rate for this backing device in bytes.",
            rate,
        ),
        (
            "node_bcache_writeback_rate_proportional_term",
            "Current result of proportional controller, part of writeback rate",
            proportional,
        ),
        (
            "node_bcache_writeback_rate_integral_term",
            "Current result of integral controller, part of writeback rate",
            integral,
        ),
        (
            "node_bcache_writeback_change",
            "Last writeback rate change step for this backing device.",
            change,
        ),
    ];
    for (name, help, v) in gauges {
        out.gauge(name, help, &l, v);
    }
    let total = dir.join("stats_total");
    for (file, name, help) in [
        ("bypassed", "node_bcache_bypassed_bytes_total", "Amount of IO (both reads and writes) that has bypassed the cache."),
        ("cache_hits", "node_bcache_cache_hits_total", "Hits counted per individual IO as bcache sees them."),
        ("cache_misses", "node_bcache_cache_misses_total", "Misses counted per individual IO as bcache sees them."),
        ("cache_bypass_hits", "node_bcache_cache_bypass_hits_total", "Hits for IO intended to skip the cache."),
        ("cache_bypass_misses", "node_bcache_cache_bypass_misses_total", "Misses for IO intended to skip the cache."),
        ("cache_miss_collisions", "node_bcache_cache_miss_collisions_total", "Instances where data insertion from cache miss raced with write (data already present)."),
    ] {
        out.counter(name, help, &l, value(&total, file)?);
    }
    // Kernels since 4.x no longer count readaheads; node_exporter leaves out a zero.
    let readaheads = value(&total, "cache_readaheads")?;
    if readaheads != 0.0 {
        out.counter(
            "node_bcache_cache_readaheads_total",
            "Count of times readahead occurred.",
            &l,
            readaheads,
        );
    }
    Ok(())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    // Without the module there is nothing to report, which node_exporter counts as success.
    let sets = match list_dir(&ctx.sys("fs/bcache")) {
        Err(CollectorError::NoData(_)) => return Ok(()),
        other => other?,
    };
    for (uuid, dir) in sets {
        if uuid.contains('-') && dir.is_dir() {
            emit_set(out, &uuid, &dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanized_values_come_back_as_bytes() {
        assert_eq!(dehumanize("542\n"), Ok(542.0));
        assert_eq!(dehumanize("1.5k"), Ok(1524.0));
        assert_eq!(dehumanize("20.5k"), Ok(20980.0));
        assert_eq!(dehumanize("2M"), Ok(2_097_152.0));
        assert_eq!(dehumanize("-3.7k"), Ok(-3772.0));
        assert!(dehumanize("1.5x").is_err());
        assert!(dehumanize("").is_err());
        assert!(dehumanize("k").is_err());
    }

    #[test]
    fn writeback_debug_lines_are_read_by_name() {
        let text = "rate:\t\t1.1M/sec\ndirty:\t\t20.5k\ntarget:\t\t51.2M\nproportional:\t-3.7k\nintegral:\t1.0k\nchange:\t\t-12.0k/sec\nnext io:\t-1ms\n";
        assert_eq!(
            parse_writeback(text),
            Ok([1_150_976.0, 53_682_176.0, -3772.0, 1024.0, -12288.0])
        );
        assert!(parse_writeback("rate:\t\tfast/sec\n").is_err());
    }
}
