//! `node_hwmon_*{chip,sensor}` from `/sys/class/hwmon`: temperatures, voltages, fans, power and
//! current inputs with their limits, chip names and sensor labels.

use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// Splits `temp1_input` into `("temp", "1", "input")`.
pub fn split_sensor(file: &str) -> Option<(&str, &str, &str)> {
    let digits = file.find(|c: char| c.is_ascii_digit())?;
    let (kind, rest) = file.split_at(digits);
    let (num, prop) = rest.split_once('_')?;
    (!kind.is_empty() && num.bytes().all(|b| b.is_ascii_digit())).then_some((kind, num, prop))
}

/// The `chip` label: the device path behind the hwmon entry (`platform_coretemp_0`), or the
/// hwmon name when it has no device.
fn chip_name(dir: &Path, hwmon: &str) -> String {
    match std::fs::canonicalize(dir.join("device")) {
        Ok(dev) => {
            let name = dev
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let class = dev
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let class = if class.starts_with("pci") || class.contains(':') {
                "pci".to_string()
            } else {
                class
            };
            format!("{class}_{name}").replace(['-', ':', '.'], "_")
        }
        Err(_) => hwmon.to_string(),
    }
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (hwmon, dir) in list_dir(&ctx.sys("class/hwmon"))? {
        let chip = chip_name(&dir, &hwmon);
        if let Some(name) = read_attr(&dir.join("name")) {
            out.gauge(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                &[("chip", chip.as_str()), ("chip_name", name.as_str())],
                1.0,
            );
        }
        for (file, path) in list_dir(&dir)? {
            let Some((kind, num, prop)) = split_sensor(&file) else {
                continue;
            };
            let sensor = format!("{kind}{num}");
            let l = [("chip", chip.as_str()), ("sensor", sensor.as_str())];
            if prop == "label" {
                if let Some(label) = read_attr(&path) {
                    out.gauge(
                        "node_hwmon_sensor_label",
                        "Label for given chip and sensor",
                        &[
                            ("chip", chip.as_str()),
                            ("label", label.as_str()),
                            ("sensor", sensor.as_str()),
                        ],
                        1.0,
                    );
                }
                continue;
            }
            let Some(raw) = read_attr(&path).and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            let (base, scale) = match kind {
                "temp" => ("node_hwmon_temp", 0.001),
                "in" => ("node_hwmon_in", 0.001),
                "curr" => ("node_hwmon_curr", 0.001),
                "power" => ("node_hwmon_power", 0.000_001),
                "fan" => ("node_hwmon_fan", 1.0),
                _ => continue,
            };
            let unit = match kind {
                "temp" => "celsius",
                "in" => "volts",
                "curr" => "amps",
                "power" => "watt",
                _ => "rpm",
            };
            let name = match prop {
                "input" => format!("{base}_{unit}"),
                "alarm" | "beep" | "enable" | "fault" => {
                    out.gauge(
                        &format!("{base}_{prop}"),
                        "Hardware monitor sensor state",
                        &l,
                        raw,
                    );
                    continue;
                }
                p if p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    format!("{base}_{p}_{unit}")
                }
                _ => continue,
            };
            out.gauge(&name, "Hardware monitor sensor reading", &l, raw * scale);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_file_names_split_into_kind_number_and_property() {
        assert_eq!(split_sensor("temp1_input"), Some(("temp", "1", "input")));
        assert_eq!(split_sensor("fan12_min"), Some(("fan", "12", "min")));
        assert_eq!(split_sensor("name"), None);
        assert_eq!(split_sensor("uevent"), None);
    }
}
