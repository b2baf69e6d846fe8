//! `node_nf_conntrack_*`: table size and limit, and the per-CPU statistics of
//! `/proc/net/stat/nf_conntrack` summed over CPUs.

use std::io;

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// The statistics node_exporter exports, by column name.
pub const STATS: [&str; 8] = [
    "found",
    "invalid",
    "ignore",
    "insert",
    "insert_failed",
    "drop",
    "early_drop",
    "search_restart",
];

/// Sums each named column (hex values) over the per-CPU lines.
pub fn parse_stat(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty file")?
        .split_ascii_whitespace()
        .collect();
    let mut sums = vec![0u64; header.len()];
    for line in lines {
        for (i, field) in line.split_ascii_whitespace().enumerate() {
            let v = u64::from_str_radix(field, 16).map_err(|e| format!("{field:?}: {e}"))?;
            if let Some(sum) = sums.get_mut(i) {
                *sum = sum.wrapping_add(v);
            }
        }
    }
    Ok(header
        .into_iter()
        .zip(sums)
        .map(|(name, sum)| (name.to_string(), sum as f64))
        .collect())
}

fn number(ctx: &Host, rel: &str) -> Result<f64, CollectorError> {
    let path = ctx.proc(rel);
    match std::fs::read_to_string(&path) {
        Ok(t) => t
            .trim()
            .parse()
            .map_err(|e| CollectorError::parse(&path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(CollectorError::NoData("nf_conntrack is not loaded".into()))
        }
        Err(source) => Err(CollectorError::Read { path, source }),
    }
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let entries = number(ctx, "sys/net/netfilter/nf_conntrack_count")?;
    let limit = number(ctx, "sys/net/netfilter/nf_conntrack_max")?;
    out.gauge(
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
        &[],
        entries,
    );
    out.gauge(
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
        &[],
        limit,
    );
    let path = ctx.proc("net/stat/nf_conntrack");
    let stats = parse_stat(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    for name in STATS {
        if let Some((_, v)) = stats.iter().find(|(n, _)| n == name) {
            out.gauge(
                &format!("node_nf_conntrack_stat_{name}"),
                "Connection tracking statistic (summed over CPUs).",
                &[],
                *v,
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
    fn sums_hex_columns_over_cpus() {
        let s = parse_stat(
            "entries  found insert\n00000001 0000000a 00000001\n00000001 00000006 00000002\n",
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                ("entries".into(), 2.0),
                ("found".into(), 16.0),
                ("insert".into(), 3.0)
            ]
        );
        let real = parse_stat(&fixtures::read("proc/net/stat/nf_conntrack")).unwrap();
        for name in STATS {
            assert!(real.iter().any(|(n, _)| n == name), "{name}");
        }
    }
}
