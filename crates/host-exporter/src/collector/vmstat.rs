//! `node_vmstat_*` (untyped) from `/proc/vmstat` (procfs-core's parser), limited to
//! `--collector.vmstat.fields`.

use metrics_core::MetricSet;
use procfs::FromRead;

use super::{read, CollectorError, Context};

/// Every field, sorted by name (procfs-core keeps them in a map).
pub fn parse(text: &str) -> Result<Vec<(String, i64)>, String> {
    let map = procfs::VmStat::from_read(text.as_bytes()).map_err(|e| e.to_string())?;
    let mut fields: Vec<(String, i64)> = map.0.into_iter().collect();
    fields.sort();
    Ok(fields)
}

pub fn collect(ctx: &Context, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("vmstat");
    let fields = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    for (key, value) in fields {
        if ctx.vmstat_fields.is_match(&key) {
            out.untyped(
                &format!("node_vmstat_{key}"),
                "/proc/vmstat information field.",
                &[],
                value as f64,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_a_real_vmstat() {
        let f = parse(&fixtures::read("proc/vmstat")).unwrap();
        assert!(f.iter().any(|(k, _)| k == "pgfault"));
        assert!(f.iter().any(|(k, _)| k == "oom_kill"));
    }
}
