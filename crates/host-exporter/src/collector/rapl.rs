//! `node_rapl_{zone}_joules_total{index,path}`: RAPL energy counters from `/sys/class/powercap`.

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let zones = list_dir(&ctx.sys("class/powercap"))?;
    let mut any = false;
    for (name, dir) in zones {
        let Some(rest) = name.strip_prefix("intel-rapl:") else {
            continue;
        };
        let Some(zone) = read_attr(&dir.join("name")) else {
            continue;
        };
        let Some(uj) = read_attr(&dir.join("energy_uj")).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        any = true;
        let index = rest.rsplit(':').next().unwrap_or(rest);
        let path = dir.display().to_string();
        let zone = zone.replace(['-', ' ', ':'], "_");
        out.counter(
            &format!("node_rapl_{zone}_joules_total"),
            "Current RAPL value in joules",
            &[("index", index), ("path", &path)],
            uj / 1e6,
        );
    }
    if !any {
        return Err(CollectorError::NoData("no RAPL zones".into()));
    }
    Ok(())
}
