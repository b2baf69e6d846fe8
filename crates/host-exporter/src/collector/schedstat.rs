//! `node_schedstat_*{cpu}` from `/proc/schedstat`: time running and waiting, and timeslices.

use metrics_core::MetricSet;

use super::{CollectorError, Host};

/// `(cpu, running ns, waiting ns, timeslices)` per `cpuN` line (fields 7, 8, 9).
pub fn parse(text: &str) -> Result<Vec<(String, u64, u64, u64)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(cpu) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
            continue;
        };
        let v: Vec<u64> = fields
            .map(|f| f.parse::<u64>().map_err(|e| format!("cpu{cpu}: {e}")))
            .collect::<Result<_, _>>()?;
        if v.len() < 9 {
            return Err(format!("cpu{cpu}: {} fields, expected 9", v.len()));
        }
        out.push((cpu.to_string(), v[6], v[7], v[8]));
    }
    Ok(out)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("schedstat");
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            CollectorError::NoData("schedstat file does not exist".into())
        }
        _ => CollectorError::Read {
            path: path.clone(),
            source,
        },
    })?;
    for (cpu, running, waiting, slices) in
        parse(&text).map_err(|why| CollectorError::parse(&path, why))?
    {
        let l = [("cpu", cpu.as_str())];
        out.counter(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
            &l,
            running as f64 / 1e9,
        );
        out.counter(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
            &l,
            waiting as f64 / 1e9,
        );
        out.counter(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
            &l,
            slices as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_schedstat_version_15() {
        let rows = parse(&fixtures::read("proc/schedstat")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            ("0".to_string(), 2045936778163039, 343796328169361, 9211348)
        );
    }
}
