//! `node_power_supply_*{power_supply}` from `/sys/class/power_supply`: numeric attributes
//! (capacity, energy, voltage...) and `node_power_supply_info` with the textual ones.

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// `(sysfs attribute, metric suffix, divisor)`, node_exporter 1.9's set: counts and percentages
/// as they are, µV/µA/µW/µWh/µAh to base units, tenths of a degree to degrees. (Dividing, as
/// node_exporter does, gives the same floating-point values: `42000000 * 1e-6` does not.)
const NUMERIC: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes, as `node_power_supply_info` labels when not empty.
const INFO: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (supply, dir) in list_dir(&ctx.sys("class/power_supply"))? {
        let l = [("power_supply", supply.as_str())];
        for (attr, suffix, divisor) in NUMERIC {
            // Integers in sysfs; anything else (a driver's "N/A") is left out.
            if let Some(v) = read_attr(&dir.join(attr)).and_then(|v| v.parse::<i64>().ok()) {
                let v = v as f64;
                out.gauge(
                    &format!("node_power_supply_{suffix}"),
                    "Power supply property from sysfs.",
                    &l,
                    v / divisor,
                );
            }
        }
        let values: Vec<(&str, String)> = INFO
            .iter()
            .filter_map(|a| read_attr(&dir.join(a)).map(|v| (*a, v)))
            .filter(|(_, v)| !v.is_empty())
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
