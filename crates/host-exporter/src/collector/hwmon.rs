//! `node_hwmon_*{chip,sensor}` from `/sys/class/hwmon/hwmon*` (and their `device/` directory,
//! where older drivers put the sensor files): temperatures, voltages, fans, PWM, power, energy,
//! current and humidity with their limits and alarms, chip names and sensor labels, named the
//! way node_exporter 1.9 names them.

use std::collections::BTreeMap;
use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, CollectorError, Host};

/// The sensor kinds node_exporter reads; other files (`name`, `uevent`, `power/`) are not
/// sensors.
const SENSOR_KINDS: [&str; 14] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// A sensor's attributes by property (`""` for a file without one, like `pwm1`).
type Sensor = BTreeMap<String, String>;

/// Splits a sysfs file name into kind, number and property: `temp1_crit_alarm` is
/// `("temp", 1, "crit_alarm")`, `pwm2` is `("pwm", 2, "")`, `beep_enable` is
/// `("beep_enable", 0, "")`. `None` for names that are not sensor files.
pub fn split_sensor(file: &str) -> Option<(&str, u32, &str)> {
    let kind_end = file
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(file.len());
    let (kind, rest) = file.split_at(kind_end);
    if kind.is_empty() {
        return None;
    }
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(digits_end);
    let number = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let property = match tail.strip_prefix('_') {
        Some(p) if !p.is_empty() => p,
        Some(_) => return None,
        None if tail.is_empty() => "",
        None => return None,
    };
    // A kind without digits runs to the end (`beep_enable`, `update_interval`).
    if digits.is_empty() && !property.is_empty() {
        return None;
    }
    Some((kind, number, property))
}

/// node_exporter's label cleaning: lower case, anything but `[a-z0-9:_]` becomes `_`, and
/// leading and trailing `_` go.
pub fn clean(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// Reads the first 128 bytes of an attribute, as node_exporter does (some drivers misbehave on
/// longer reads), without the newline.
fn read_value(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut buf = [0u8; 128];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(buf.get(..n)?);
    Some(text.trim_matches('\n').to_string())
}

/// Adds the sensor files of one directory to `sensors`, keyed `temp1`, `pwm2`, `beep_enable0`.
fn read_sensors(dir: &Path, sensors: &mut BTreeMap<String, Sensor>) -> Result<(), CollectorError> {
    for (file, path) in list_dir(dir)? {
        let Some((kind, number, property)) = split_sensor(&file) else {
            continue;
        };
        if !SENSOR_KINDS.contains(&kind) {
            continue;
        }
        if let Some(value) = read_value(&path) {
            sensors
                .entry(format!("{kind}{number}"))
                .or_default()
                .insert(property.to_string(), value);
        }
    }
    Ok(())
}

/// The `chip` label: from the device behind the entry (`platform_coretemp_0`,
/// `pci0000:00_0000:00:18_3`), else the chip's `name`, else the `hwmonN` directory.
pub fn chip_name(dir: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device
            .file_name()
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default();
        let bus = device
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default();
        match (bus.is_empty(), name.is_empty()) {
            (false, false) => return Some(format!("{bus}_{name}")),
            (true, false) => return Some(name),
            _ => {}
        }
    }
    if let Ok(raw) = std::fs::read_to_string(dir.join("name")) {
        let name = clean(&raw);
        if !name.is_empty() {
            return Some(name);
        }
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let name = clean(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

fn gauge(out: &mut MetricSet, name: &str, help: &str, chip: &str, sensor: &str, value: f64) {
    out.gauge(name, help, &[("chip", chip), ("sensor", sensor)], value);
}

/// The family and value of one attribute of a sensor, or `None` when it is not exported.
fn reading(kind: &str, property: &str, has_bare: bool, raw: f64) -> Option<(String, f64, bool)> {
    let prefix = format!("node_hwmon_{kind}");
    let name = match property {
        // `temp1_input` is `node_hwmon_temp_celsius`, unless a bare `temp1` file exists too.
        "input" if has_bare => format!("{prefix}_input"),
        "input" | "" => prefix,
        p => format!("{prefix}_{}", clean(p)),
    };
    let gauge = |name: String, value: f64| Some((name, value, false));
    match (kind, property) {
        (_, "fault" | "alarm") => gauge(name, raw),
        (_, "beep") => gauge(format!("{name}_enabled"), raw),
        ("in" | "cpu", _) => gauge(format!("{name}_volts"), raw * 0.001),
        ("temp", p) if p != "type" => gauge(format!("{name}_celsius"), raw * 0.001),
        ("curr", _) => gauge(format!("{name}_amps"), raw * 0.001),
        ("energy", _) => Some((format!("{name}_joule_total"), raw / 1e6, true)),
        ("power", "accuracy") => gauge(name, raw / 1e6),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => {
            gauge(format!("{name}_seconds"), raw * 0.001)
        }
        ("power", _) => gauge(format!("{name}_watt"), raw / 1e6),
        ("humidity", _) => gauge(name, raw / 1e6),
        ("fan", "input" | "min" | "max" | "target") => gauge(format!("{name}_rpm"), raw),
        ("freq", _) => None,
        _ => gauge(name, raw),
    }
}

fn emit_sensor(out: &mut MetricSet, chip: &str, sensor: &str, data: &Sensor) {
    let kind = sensor.trim_end_matches(|c: char| c.is_ascii_digit());
    if let Some(label) = data.get("label") {
        out.gauge(
            "node_hwmon_sensor_label",
            "Label for given chip and sensor",
            &[
                ("chip", chip),
                ("label", label.as_str()),
                ("sensor", sensor),
            ],
            1.0,
        );
    }
    let bare = data.get("").map(String::as_str);
    match kind {
        "beep_enable" => {
            let on = if bare == Some("1") { 1.0 } else { 0.0 };
            gauge(
                out,
                "node_hwmon_beep_enabled",
                "Hardware beep enabled",
                chip,
                sensor,
                on,
            );
            return;
        }
        "vrm" | "update_interval" => {
            if let Some(v) = bare.and_then(|v| v.trim().parse::<f64>().ok()) {
                let (name, help, value) = if kind == "vrm" {
                    (
                        "node_hwmon_voltage_regulator_version",
                        "Hardware voltage regulator",
                        v,
                    )
                } else {
                    (
                        "node_hwmon_update_interval_seconds",
                        "Hardware monitor update interval",
                        v * 0.001,
                    )
                };
                gauge(out, name, help, chip, sensor, value);
            }
            return;
        }
        _ => {}
    }
    for (property, text) in data {
        if property == "label" {
            continue;
        }
        let Ok(raw) = text.trim().parse::<f64>() else {
            continue;
        };
        if kind == "freq" {
            // GPU clocks: named by their label (`sclk`), in MHz.
            if let (true, Some(label)) = (property == "input", data.get("label")) {
                out.gauge(
                    "node_hwmon_freq_freq_mhz",
                    "Hardware monitor for GPU frequency in MHz",
                    &[("chip", chip), ("sensor", clean(label).as_str())],
                    raw / 1e6,
                );
            }
            continue;
        }
        let Some((name, value, counter)) = reading(kind, property, bare.is_some(), raw) else {
            continue;
        };
        let help = format!("Hardware monitor {kind} element {property}");
        let labels = [("chip", chip), ("sensor", sensor)];
        if counter {
            out.counter(&name, &help, &labels, value);
        } else {
            out.gauge(&name, &help, &labels, value);
        }
    }
}

fn collect_chip(out: &mut MetricSet, dir: &Path) -> Result<(), CollectorError> {
    let Some(chip) = chip_name(dir) else {
        return Ok(());
    };
    let mut sensors = BTreeMap::new();
    read_sensors(dir, &mut sensors)?;
    let device = dir.join("device");
    if device.exists() {
        read_sensors(&device, &mut sensors)?;
    }
    if let Ok(raw) = std::fs::read_to_string(dir.join("name")) {
        let name = clean(&raw);
        if !name.is_empty() {
            out.gauge(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                &[("chip", chip.as_str()), ("chip_name", name.as_str())],
                1.0,
            );
        }
    }
    for (sensor, data) in &sensors {
        emit_sensor(out, &chip, sensor, data);
    }
    Ok(())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let mut last_error = None;
    for (_, dir) in list_dir(&ctx.sys("class/hwmon"))? {
        if !dir.is_dir() {
            continue;
        }
        // One broken chip does not hide the others; the collector still reports the failure.
        if let Err(e) = collect_chip(out, &dir) {
            last_error = Some(e);
        }
    }
    last_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_file_names_split_into_kind_number_and_property() {
        assert_eq!(split_sensor("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(
            split_sensor("temp1_crit_alarm"),
            Some(("temp", 1, "crit_alarm"))
        );
        assert_eq!(split_sensor("fan12_min"), Some(("fan", 12, "min")));
        assert_eq!(split_sensor("pwm2"), Some(("pwm", 2, "")));
        assert_eq!(split_sensor("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(split_sensor("name"), Some(("name", 0, "")));
        assert_eq!(split_sensor("1abc"), None);
        assert_eq!(split_sensor("temp1x"), None);
    }

    #[test]
    fn names_are_cleaned_like_node_exporter() {
        assert_eq!(clean("coretemp\n"), "coretemp");
        assert_eq!(clean("coretemp.0"), "coretemp_0");
        assert_eq!(clean("0000:00:18.3"), "0000:00:18_3");
        assert_eq!(clean("Package id 0"), "package_id_0");
    }

    #[test]
    fn readings_get_node_exporters_names_and_units() {
        let r = |kind, property, bare, raw| reading(kind, property, bare, raw);
        assert_eq!(
            r("temp", "input", false, 45000.0),
            Some(("node_hwmon_temp_celsius".into(), 45.0, false))
        );
        assert_eq!(
            r("temp", "crit_alarm", false, 0.0),
            Some(("node_hwmon_temp_crit_alarm_celsius".into(), 0.0, false))
        );
        assert_eq!(
            r("pwm", "", true, 128.0),
            Some(("node_hwmon_pwm".into(), 128.0, false))
        );
        assert_eq!(
            r("pwm", "input", true, 128.0),
            Some(("node_hwmon_pwm_input".into(), 128.0, false))
        );
        assert_eq!(
            r("fan", "alarm", false, 1.0),
            Some(("node_hwmon_fan_alarm".into(), 1.0, false))
        );
        assert_eq!(
            r("fan", "div", false, 8.0),
            Some(("node_hwmon_fan_div".into(), 8.0, false))
        );
        assert_eq!(
            r("energy", "input", false, 2_500_000.0),
            Some(("node_hwmon_energy_joule_total".into(), 2.5, true))
        );
        assert_eq!(
            r("power", "average_interval", false, 1000.0),
            Some((
                "node_hwmon_power_average_interval_seconds".into(),
                1.0,
                false
            ))
        );
        assert_eq!(
            r("in", "max", false, 1500.0),
            Some(("node_hwmon_in_max_volts".into(), 1.5, false))
        );
    }
}
