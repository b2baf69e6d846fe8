//! `node_zfs_*` from ZFS on Linux's kstat files under `/proc/spl/kstat/zfs`: the module's
//! global statistics (`arcstats`, `abdstats`, `dbufstats`, `zil`...), each pool's I/O counters
//! (`<pool>/io`), datasets (`<pool>/objset-*`) and state (`<pool>/state`), named as node_exporter
//! 1.9 names them. Hosts without ZFS report the collector as failed without data, as
//! node_exporter does.

use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read, read_attr, CollectorError, Host};

/// `(subsystem, kstat file)`: `node_zfs_arc_hits` comes from `arcstats`' `hits` row.
const GLOBAL_FILES: [(&str, &str); 11] = [
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// kstat data types of integer rows: 3 is `KSTAT_DATA_INT64`, 4 `KSTAT_DATA_UINT64`. Other
/// rows (strings, 32-bit values) are skipped, as node_exporter does.
const INT64: &str = "3";
const UINT64: &str = "4";

/// A kstat row name as a metric-name part (`l2_feeds-x` → `l2_feeds_x`).
fn metric_part(name: &str) -> String {
    name.replace('-', "_")
}

/// The integer rows of a `name type data` kstat file, after its header row; a file without
/// that header is an error.
pub fn parse_kstat(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut rows = text
        .lines()
        .map(|l| l.split_ascii_whitespace().collect::<Vec<_>>());
    if !rows.any(|r| r == ["name", "type", "data"]) {
        return Err("no 'name type data' header".into());
    }
    let mut out = Vec::new();
    for row in rows {
        let [name, kind, value, ..] = row.as_slice() else {
            continue;
        };
        let v = match *kind {
            UINT64 => value
                .parse::<u64>()
                .map(|v| v as f64)
                .map_err(|e| e.to_string()),
            INT64 => value
                .parse::<i64>()
                .map(|v| v as f64)
                .map_err(|e| e.to_string()),
            _ => continue,
        };
        out.push(((*name).to_string(), v.map_err(|e| format!("{name}: {e}"))?));
    }
    Ok(out)
}

/// A pool's `io` file: a row of field names starting with `nread`, then a row of values.
pub fn parse_pool_io(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut rows = text
        .lines()
        .map(|l| l.split_ascii_whitespace().collect::<Vec<_>>());
    let Some(names) = rows.find(|r| r.len() >= 12 && r.first() == Some(&"nread")) else {
        return Ok(Vec::new());
    };
    let values = rows.next().ok_or("no values after the io header")?;
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = values
                .get(i)
                .ok_or_else(|| format!("no value for {name}"))?
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))?;
            Ok(((*name).to_string(), value as f64))
        })
        .collect()
}

/// A dataset's `objset-*` file: its name and its 64-bit unsigned counters.
pub fn parse_objset(text: &str) -> Result<(String, Vec<(String, f64)>), String> {
    let mut dataset = String::new();
    let mut counters = Vec::new();
    let mut in_rows = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if !in_rows {
            in_rows = fields == ["name", "type", "data"];
            continue;
        }
        let [name, kind, value, ..] = fields.as_slice() else {
            continue;
        };
        if *name == "dataset_name" {
            // The name may contain spaces: everything from the value on.
            dataset = line
                .find(value)
                .and_then(|at| line.get(at..))
                .unwrap_or(value)
                .to_string();
        } else if *kind == UINT64 {
            let v = value.parse::<u64>().map_err(|e| format!("{name}: {e}"))?;
            counters.push(((*name).to_string(), v as f64));
        }
    }
    if !in_rows {
        return Err("no 'name type data' header".into());
    }
    Ok((dataset, counters))
}

fn emit_global(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (subsystem, file) in GLOBAL_FILES {
        let path = ctx.proc("spl/kstat/zfs").join(file);
        // Files come with features: one this ZFS version lacks is no error.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (name, value) in parse_kstat(&text).map_err(|why| CollectorError::parse(&path, why))? {
            out.untyped(
                &format!("node_{subsystem}_{}", metric_part(&name)),
                &format!("kstat.zfs.misc.{file}.{name}"),
                &[],
                value,
            );
        }
    }
    Ok(())
}

fn emit_pool(out: &mut MetricSet, pool: &str, dir: &Path) -> Result<(), CollectorError> {
    let io = dir.join("io");
    if io.is_file() {
        for (name, value) in
            parse_pool_io(&read(&io)?).map_err(|why| CollectorError::parse(&io, why))?
        {
            out.untyped(
                &format!("node_zfs_zpool_{}", metric_part(&name)),
                &format!("kstat.zfs.misc.io.{name}"),
                &[("zpool", pool)],
                value,
            );
        }
    }
    for (file, path) in list_dir(dir)? {
        if !file.starts_with("objset-") {
            continue;
        }
        let (dataset, counters) =
            parse_objset(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
        for (name, value) in counters {
            out.untyped(
                &format!("node_zfs_zpool_dataset_{}", metric_part(&name)),
                &format!("kstat.zfs.misc.objset.{name}"),
                &[("dataset", dataset.as_str()), ("zpool", pool)],
                value,
            );
        }
    }
    if let Some(state) = read_attr(&dir.join("state")) {
        emit_pool_state(out, pool, &state.to_lowercase());
    }
    Ok(())
}

/// The states a pool can be in, as `zpool status` names them; each pool gets one series per
/// state, 1 for the one it is in.
pub const POOL_STATES: [&str; 7] = [
    "online",
    "degraded",
    "faulted",
    "offline",
    "removed",
    "unavail",
    "suspended",
];

fn emit_pool_state(out: &mut MetricSet, pool: &str, state: &str) {
    for name in POOL_STATES {
        out.gauge(
            "node_zfs_zpool_state",
            "kstat.zfs.misc.state",
            &[("state", name), ("zpool", pool)],
            if name == state { 1.0 } else { 0.0 },
        );
    }
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let base = ctx.proc("spl/kstat/zfs");
    if !base.is_dir() {
        return Err(CollectorError::NoData("ZFS / SPL not available".into()));
    }
    emit_global(ctx, out)?;
    for (pool, dir) in list_dir(&base)? {
        // Pool directories; a pool being exported can vanish between listing and reading.
        if dir.is_dir() {
            emit_pool(out, &pool, &dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    /// `/proc/spl/kstat/zfs` as the SPL module lays it out: global kstat files beside one
    /// directory per imported pool.
    fn procfs_tree() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let zfs = root.path().join("spl/kstat/zfs");
        for (pool, state) in [("tank", "ONLINE"), ("backup pool", "DEGRADED")] {
            std::fs::create_dir_all(zfs.join(pool)).unwrap();
            std::fs::write(zfs.join(pool).join("state"), format!("{state}\n")).unwrap();
        }
        std::fs::write(
            zfs.join("arcstats"),
            "13 1 0x01 96 26112 4236524208 2012213658453\nname                            type data\nhits                            4    8772612\n",
        )
        .unwrap();
        root
    }

    #[test]
    fn pool_state_is_one_for_the_state_the_pool_is_in() {
        let tree = procfs_tree();
        let set = fixtures::collect_once(collect, &fixtures::procfs_context(tree.path())).unwrap();
        let state =
            |pool, state| set.value("node_zfs_zpool_state", &[("state", state), ("zpool", pool)]);
        assert_eq!(state("tank", "online"), Some(1.0));
        assert_eq!(state("tank", "degraded"), Some(0.0));
        assert_eq!(state("backup pool", "degraded"), Some(1.0));
        assert_eq!(state("backup pool", "suspended"), Some(0.0));
        assert_eq!(set.sample_count("node_zfs_zpool_state"), 14);
        assert_eq!(set.value("node_zfs_arc_hits", &[]), Some(8772612.0));
    }

    #[test]
    fn kstat_rows_keep_64_bit_integers_only() {
        let text = "5 1 0x01 3 816 1254536470 33437593030253\nname  type data\nsize  4  1284416\nlabel 7  text\ndelta 3  -5\nsmall 2  9\n";
        assert_eq!(
            parse_kstat(text).unwrap(),
            vec![("size".into(), 1284416.0), ("delta".into(), -5.0)]
        );
        assert!(parse_kstat("hits 4 1\n").is_err());
        assert!(parse_kstat("name type data\nhits 4 x\n").is_err());
    }

    #[test]
    fn pool_io_pairs_the_header_row_with_the_values() {
        let text = "12 3 0x00 1 80 2225326830828 32953476980628\nnread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n1884160 3206144 22 132 7155162 104112268 25347178509496 8593928 45686405 25347178512928 0 1\n";
        let io = parse_pool_io(text).unwrap();
        assert_eq!(io.len(), 12);
        assert_eq!(io[0], ("nread".into(), 1884160.0));
        assert_eq!(io[11], ("rcnt".into(), 1.0));
        assert!(parse_pool_io("nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n1 2\n").is_err());
    }

    #[test]
    fn objset_names_its_dataset_spaces_included() {
        let text = "49 1 0x01 7 2160 5214787391 74985931356512\nname type data\ndataset_name 7 tank/home dir\nwrites 4 4\nnread 4 28\n";
        let (dataset, counters) = parse_objset(text).unwrap();
        assert_eq!(dataset, "tank/home dir");
        assert_eq!(
            counters,
            vec![("writes".into(), 4.0), ("nread".into(), 28.0)]
        );
    }

    #[test]
    fn parses_kstat_rows() {
        let text = "13 1 0x01 96 26112 4236524208 2012213658453\nname                            type data\nhits                            4    8772612\nsize                            4    1073741824\n";
        assert_eq!(
            parse_kstat(text).unwrap(),
            vec![("hits".into(), 8772612.0), ("size".into(), 1073741824.0)]
        );
    }
}
