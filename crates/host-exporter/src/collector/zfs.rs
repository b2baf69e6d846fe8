//! `node_zfs_arc_*` from `/proc/spl/kstat/zfs/arcstats` (ZFS on Linux). Hosts without ZFS
//! report the collector as failed without data, as node_exporter does; only the ARC statistics
//! are exported so far.

use metrics_core::MetricSet;

use super::{CollectorError, Host};

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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kstat_rows() {
        let text = "13 1 0x01 96 26112 4236524208 2012213658453\nname                            type data\nhits                            4    8772612\nsize                            4    1073741824\n";
        assert_eq!(
            parse_kstat(text).unwrap(),
            vec![("hits".into(), 8772612.0), ("size".into(), 1073741824.0)]
        );
    }
}
