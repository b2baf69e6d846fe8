//! `node_load1`, `node_load5`, `node_load15` from `/proc/loadavg` (procfs-core's parser).

use metrics_core::MetricSet;
use procfs::FromRead;

use super::{read, CollectorError, Host};

pub fn parse(text: &str) -> Result<procfs::LoadAverage, String> {
    procfs::LoadAverage::from_read(text.as_bytes()).map_err(|e| e.to_string())
}

/// procfs-core keeps load averages as `f32`; going through their shortest decimal form keeps
/// `0.81` as `0.81` rather than `0.8100000023841858`.
fn widen(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("loadavg");
    let load = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    out.gauge("node_load1", "1m load average.", &[], widen(load.one));
    out.gauge("node_load5", "5m load average.", &[], widen(load.five));
    out.gauge("node_load15", "15m load average.", &[], widen(load.fifteen));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_a_real_loadavg() {
        let l = parse(&fixtures::read("proc/loadavg")).unwrap();
        assert!(l.one >= 0.0 && l.fifteen >= 0.0);
        assert_eq!(parse("0.81 0.90 0.48 2/250 12345\n").unwrap().five, 0.90);
    }
}
