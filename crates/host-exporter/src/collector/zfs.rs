//! `node_zfs_arc_*` from `/proc/spl/kstat/zfs/arcstats` and `node_zfs_zpool_state{zpool,state}`
//! from `/proc/spl/kstat/zfs/<pool>/state` (ZFS on Linux). Hosts without ZFS report the
//! collector as failed without data, as node_exporter does; of the kstat files only the ARC
//! statistics are exported so far.

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// `name type data` rows after the two kstat header lines.
pub fn parse_kstat(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if let [name, _kind, value] = fields.as_slice() {
            let v: f64 = value.parse().map_err(|e| format!("{name}: {e}"))?;
            out.push(((*name).to_string(), v));
        }
    }
    Ok(out)
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

/// Every pool directory's `state` file (`ONLINE`), as `(pool, state in lower case)`.
fn pool_states(ctx: &Host) -> Result<Vec<(String, String)>, CollectorError> {
    let mut out = Vec::new();
    for (pool, dir) in list_dir(&ctx.proc("spl/kstat/zfs"))? {
        // A pool being exported can lose its files between the listing and the read.
        if let Some(state) = read_attr(&dir.join("state")) {
            out.push((pool, state.to_lowercase()));
        }
    }
    Ok(out)
}

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
    let path = ctx.proc("spl/kstat/zfs/arcstats");
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CollectorError::NoData("ZFS / SPL not available".into()),
        _ => CollectorError::Read {
            path: path.clone(),
            source,
        },
    })?;
    for (name, value) in parse_kstat(&text).map_err(|why| CollectorError::parse(&path, why))? {
        out.untyped(
            &format!("node_zfs_arc_{name}"),
            &format!("kstat.zfs.misc.arcstats.{name}"),
            &[],
            value,
        );
    }
    for (pool, state) in pool_states(ctx)? {
        emit_pool_state(out, &pool, &state);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Context;
    use crate::config::Config;

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
        let mut config = Config::default();
        config.path.procfs = tree.path().to_path_buf();
        let context = Context::new(&config).unwrap();
        let mut set = MetricSet::new();
        collect(&Host::new(&context), &mut set).unwrap();
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
    fn parses_kstat_rows() {
        let text = "13 1 0x01 96 26112 4236524208 2012213658453\nname                            type data\nhits                            4    8772612\nsize                            4    1073741824\n";
        assert_eq!(
            parse_kstat(text).unwrap(),
            vec![("hits".into(), 8772612.0), ("size".into(), 1073741824.0)]
        );
    }
}
