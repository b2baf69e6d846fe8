//! `node_thermal_zone_temp{zone,type}` and `node_cooling_device_{cur,max}_state{name,type}`
//! from `/sys/class/thermal`.

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (name, dir) in list_dir(&ctx.sys("class/thermal"))? {
        if let Some(zone) = name.strip_prefix("thermal_zone") {
            let (Some(kind), Some(temp)) =
                (read_attr(&dir.join("type")), read_attr(&dir.join("temp")))
            else {
                continue;
            };
            let Ok(millidegrees) = temp.parse::<f64>() else {
                continue;
            };
            out.gauge(
                "node_thermal_zone_temp",
                "Zone temperature in Celsius",
                &[("type", kind.as_str()), ("zone", zone)],
                millidegrees / 1000.0,
            );
        } else if let Some(device) = name.strip_prefix("cooling_device") {
            let Some(kind) = read_attr(&dir.join("type")) else {
                continue;
            };
            let l = [("name", device), ("type", kind.as_str())];
            if let Some(v) = read_attr(&dir.join("cur_state")).and_then(|v| v.parse::<f64>().ok()) {
                out.gauge(
                    "node_cooling_device_cur_state",
                    "Current throttle state of the cooling device",
                    &l,
                    v,
                );
            }
            if let Some(v) = read_attr(&dir.join("max_state")).and_then(|v| v.parse::<f64>().ok()) {
                out.gauge(
                    "node_cooling_device_max_state",
                    "Maximum throttle state of the cooling device",
                    &l,
                    v,
                );
            }
        }
    }
    Ok(())
}
