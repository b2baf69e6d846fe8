//! `node_softnet_{processed,dropped,times_squeezed}_total{cpu}` from `/proc/net/softnet_stat`.

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// `(processed, dropped, times_squeezed)` per line; the line number is the CPU, as in
/// node_exporter 1.5.
pub fn parse(text: &str) -> Result<Vec<[u64; 3]>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let mut v = [0u64; 3];
            for slot in &mut v {
                let f = fields
                    .next()
                    .ok_or_else(|| format!("short line {line:?}"))?;
                *slot = u64::from_str_radix(f, 16).map_err(|e| format!("{f:?}: {e}"))?;
            }
            Ok(v)
        })
        .collect()
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("net/softnet_stat");
    let rows = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    for (cpu, [processed, dropped, squeezed]) in rows.into_iter().enumerate() {
        let cpu = cpu.to_string();
        let l = [("cpu", cpu.as_str())];
        out.counter(
            "node_softnet_processed_total",
            "Number of processed packets.",
            &l,
            processed as f64,
        );
        out.counter(
            "node_softnet_dropped_total",
            "Number of dropped packets.",
            &l,
            dropped as f64,
        );
        out.counter(
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota.",
            &l,
            squeezed as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_a_real_softnet_stat() {
        let rows = parse(&fixtures::read("proc/net/softnet_stat")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            parse("0000000e 00000001 00000002 0 0\n").unwrap(),
            vec![[14, 1, 2]]
        );
    }
}
