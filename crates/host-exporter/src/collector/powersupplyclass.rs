//! `node_power_supply_*{power_supply}` from `/sys/class/power_supply`: numeric attributes
//! (capacity, energy, voltage...) and `node_power_supply_info` with the textual ones.

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// `(sysfs attribute, metric suffix, scale)`; sysfs gives µV, µA, µW, µWh, µAh.
const NUMERIC: &[(&str, &str, f64)] = &[
    ("online", "online", 1.0),
    ("capacity", "capacity", 1.0),
    ("cyclecount", "cyclecount", 1.0),
    ("current_now", "current_ampere", 1e-6),
    ("current_max", "current_max", 1e-6),
    ("energy_full", "energy_full", 1e-6),
    ("energy_full_design", "energy_full_design", 1e-6),
    ("energy_now", "energy_watthour", 1e-6),
    ("power_now", "power_watt", 1e-6),
    ("voltage_now", "voltage_volt", 1e-6),
    ("voltage_min_design", "voltage_min_design", 1e-6),
    ("voltage_max_design", "voltage_max_design", 1e-6),
    ("charge_full", "charge_full", 1e-6),
    ("charge_full_design", "charge_full_design", 1e-6),
    ("charge_now", "charge_ampere", 1e-6),
    ("temp", "temp_celsius", 0.1),
];

const INFO: &[&str] = &[
    "capacity_level",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
];

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (supply, dir) in list_dir(&ctx.sys("class/power_supply"))? {
        let l = [("power_supply", supply.as_str())];
        for (attr, suffix, scale) in NUMERIC {
            if let Some(v) = read_attr(&dir.join(attr)).and_then(|v| v.parse::<f64>().ok()) {
                out.gauge(
                    &format!("node_power_supply_{suffix}"),
                    "Power supply property from sysfs.",
                    &l,
                    v * scale,
                );
            }
        }
        let values: Vec<(&str, String)> = INFO
            .iter()
            .filter_map(|a| read_attr(&dir.join(a)).map(|v| (*a, v)))
            .collect();
        let mut labels: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        labels.push(("power_supply", supply.as_str()));
        labels.sort();
        out.gauge(
            "node_power_supply_info",
            "Info of /sys/class/power_supply/<power_supply>.",
            &labels,
            1.0,
        );
    }
    Ok(())
}
