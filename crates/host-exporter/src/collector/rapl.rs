//! `node_rapl_{zone}_joules_total{index,path}`: RAPL energy counters from `/sys/class/powercap`,
//! one family per zone name (`package`, `core`, `dram`), the zone's number in `index`.

use std::collections::HashMap;
use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// A zone name as a metric-name part: every run of characters other than `[0-9A-Za-z_]`, with
/// the underscores around it, becomes one `_` (`psys-1` → `psys_1`).
pub fn sanitize(name: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if valid(c) {
            out.push(c);
            continue;
        }
        while out.ends_with('_') {
            out.pop();
        }
        while chars.peek().is_some_and(|&n| !valid(n) || n == '_') {
            chars.next();
        }
        out.push('_');
    }
    out
}

/// Splits `package-0` into `(0, "package")`; a name without a numeric suffix gets the number
/// of zones seen so far with that name (`core`, `core` → 0, 1).
pub fn index_and_name(name: &str, seen: &mut HashMap<String, u64>) -> (u64, String) {
    let (index, name) = match name.split('-').collect::<Vec<_>>().as_slice() {
        [base, n] => match n.parse::<u64>() {
            Ok(index) => (index, (*base).to_string()),
            Err(_) => (seen.get(name).copied().unwrap_or(0), name.to_string()),
        },
        _ => (seen.get(name).copied().unwrap_or(0), name.to_string()),
    };
    seen.insert(name.clone(), index.saturating_add(1));
    (index, name)
}

fn read_number(path: &Path) -> Result<u64, CollectorError> {
    let text = read_attr(path).ok_or_else(|| CollectorError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    text.parse().map_err(|e| CollectorError::parse(path, e))
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let mut seen = HashMap::new();
    for (_, dir) in list_dir(&ctx.sys("class/powercap"))? {
        // Control types (`intel-rapl`) have no name; zones do.
        let Some(zone) = read_attr(&dir.join("name")) else {
            continue;
        };
        // A zone without its range or its counter is broken: node_exporter fails the collector.
        read_number(&dir.join("max_energy_range_uj"))?;
        let (index, name) = index_and_name(&zone, &mut seen);
        let micro_joules = read_number(&dir.join("energy_uj"))?;
        out.counter(
            &format!("node_rapl_{}_joules_total", sanitize(&name)),
            &format!("Current RAPL {name} value in joules"),
            &[
                ("index", &index.to_string()),
                ("path", &dir.display().to_string()),
            ],
            micro_joules as f64 / 1e6,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_lose_their_numeric_suffix_to_the_index() {
        let mut seen = HashMap::new();
        assert_eq!(
            index_and_name("package-0", &mut seen),
            (0, "package".into())
        );
        assert_eq!(
            index_and_name("package-1", &mut seen),
            (1, "package".into())
        );
        assert_eq!(index_and_name("core", &mut seen), (0, "core".into()));
        assert_eq!(index_and_name("core", &mut seen), (1, "core".into()));
        assert_eq!(index_and_name("psys-x", &mut seen), (0, "psys-x".into()));
    }

    #[test]
    fn names_are_sanitized_for_metric_names() {
        assert_eq!(sanitize("psys-x"), "psys_x");
        assert_eq!(sanitize("a_-_b"), "a_b");
        assert_eq!(sanitize("dram"), "dram");
        assert_eq!(sanitize("x.."), "x_");
    }
}
