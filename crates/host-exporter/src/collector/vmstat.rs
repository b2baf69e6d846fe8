//! `node_vmstat_*` (untyped) from `/proc/vmstat`, limited to `--collector.vmstat.fields`.
//!
//! procfs-core's `VmStat` copies all ~180 fields into a map before any is filtered out; this
//! reads the `name value` lines in place and only keeps the few the regex selects.

use metrics_core::MetricSet;
use serde::{Deserialize, Serialize};

use super::{read, CollectorError, Host};

/// Every `name value` line, in file order.
pub fn parse(text: &str) -> Result<Vec<(&str, i64)>, String> {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(key, value)| {
            value
                .trim()
                .parse::<i64>()
                .map(|v| (key, v))
                .map_err(|e| format!("{key}: {e}"))
        })
        .collect()
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("vmstat");
    let text = read(&path)?;
    let fields = parse(&text).map_err(|why| CollectorError::parse(&path, why))?;
    let mut name = String::with_capacity(48);
    for (key, value) in fields {
        if ctx.vmstat_fields.keeps(key) {
            name.clear();
            name.push_str("node_vmstat_");
            name.push_str(key);
            out.untyped(&name, "/proc/vmstat information field.", &[], value as f64);
        }
    }
    Ok(())
}

/// `collector.vmstat.fields`: which `/proc/vmstat` fields to export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmstatSettings {
    pub fields: String,
}

impl Default for VmstatSettings {
    fn default() -> Self {
        Self {
            fields: DEFAULT_VMSTAT_FIELDS.into(),
        }
    }
}

pub const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_a_real_vmstat() {
        let text = fixtures::read("proc/vmstat");
        let f = parse(&text).unwrap();
        assert!(f.len() > 100);
        assert!(f.iter().any(|(k, _)| *k == "pgfault"));
        assert!(f.iter().any(|(k, _)| *k == "oom_kill"));
        assert_eq!(
            parse("nr_free_pages 12\npgfault 7\n").unwrap(),
            vec![("nr_free_pages", 12), ("pgfault", 7)]
        );
        assert!(parse("pgfault x\n").is_err());
    }
}
