//! `node_memory_*` from `/proc/meminfo`: every line, as node_exporter does (`Active(anon)` becomes
//! `node_memory_Active_anon_bytes`; lines without a unit, like `HugePages_Total`, keep no suffix).
//!
//! procfs-core's typed `Meminfo` drops keys it does not know (newer kernels add some), and
//! node_exporter exports every key, so this parser keeps them all.

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// `(metric name suffix, value in bytes or count)`, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::with_capacity(64);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let value: f64 = parts
            .next()
            .ok_or_else(|| format!("{key}: no value"))?
            .parse()
            .map_err(|e| format!("{key}: {e}"))?;
        let mut name = String::with_capacity(key.len() + 6);
        for ch in key.chars() {
            match ch {
                '(' => name.push('_'),
                ')' => {}
                c => name.push(c),
            }
        }
        match parts.next() {
            Some("kB") => {
                name.push_str("_bytes");
                out.push((name, value * 1024.0));
            }
            _ => out.push((name, value)),
        }
    }
    if out.is_empty() {
        return Err("no fields".into());
    }
    Ok(out)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("meminfo");
    let fields = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    let mut name = String::with_capacity(48);
    for (key, value) in fields {
        name.clear();
        name.push_str("node_memory_");
        name.push_str(&key);
        out.gauge(
            &name,
            "Memory information field from /proc/meminfo.",
            &[],
            value,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn names_and_units_follow_node_exporter() {
        let fields = parse(&fixtures::read("proc/meminfo")).unwrap();
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert!(get("MemTotal_bytes").unwrap() > 1e9);
        assert!(get("Active_anon_bytes").is_some());
        assert!(get("HugePages_Total").is_some());
        assert!(get("Hugepagesize_bytes").is_some());
        assert!(fields.iter().all(|(n, _)| !n.contains('(')));
    }

    #[test]
    fn kilobytes_become_bytes() {
        let f = parse("MemTotal:       1000 kB\nHugePages_Free:  3\n").unwrap();
        assert_eq!(
            f,
            vec![
                ("MemTotal_bytes".into(), 1_024_000.0),
                ("HugePages_Free".into(), 3.0)
            ]
        );
    }
}
