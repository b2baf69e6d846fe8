//! `node_watchdog_*{name}` from `/sys/class/watchdog/<name>/`: each hardware watchdog's timeout,
//! time left and flags, and `node_watchdog_info` with its identity and state. Attributes the
//! driver does not offer are left out.

use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// The numeric attributes, each exported as `node_watchdog_<metric>`.
const NUMBERS: [(&str, &str, &str); 7] = [
    (
        "bootstatus",
        "bootstatus",
        "Value of /sys/class/watchdog/<watchdog>/bootstatus",
    ),
    (
        "fw_version",
        "fw_version",
        "Value of /sys/class/watchdog/<watchdog>/fw_version",
    ),
    (
        "nowayout",
        "nowayout",
        "Value of /sys/class/watchdog/<watchdog>/nowayout",
    ),
    (
        "timeleft",
        "timeleft_seconds",
        "Value of /sys/class/watchdog/<watchdog>/timeleft",
    ),
    (
        "timeout",
        "timeout_seconds",
        "Value of /sys/class/watchdog/<watchdog>/timeout",
    ),
    (
        "pretimeout",
        "pretimeout_seconds",
        "Value of /sys/class/watchdog/<watchdog>/pretimeout",
    ),
    (
        "access_cs0",
        "access_cs0",
        "Value of /sys/class/watchdog/<watchdog>/access_cs0",
    ),
];

/// The text attributes, as `node_watchdog_info` labels.
const TEXTS: [&str; 5] = [
    "options",
    "identity",
    "state",
    "status",
    "pretimeout_governor",
];

/// A sysfs integer as the kernel writes it: decimal, or hexadecimal with `0x`.
pub fn parse_integer(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|e| format!("{t:?}: {e}"))
}

fn emit(out: &mut MetricSet, name: &str, dir: &Path) -> Result<(), CollectorError> {
    for (attr, metric, help) in NUMBERS {
        let path = dir.join(attr);
        if let Some(text) = read_attr(&path) {
            let value = parse_integer(&text).map_err(|why| CollectorError::parse(&path, why))?;
            out.gauge(
                &format!("node_watchdog_{metric}"),
                help,
                &[("name", name)],
                value as f64,
            );
        }
    }
    let texts: Vec<String> = TEXTS
        .iter()
        .map(|attr| read_attr(&dir.join(attr)).unwrap_or_default())
        .collect();
    let mut labels = vec![("name", name)];
    labels.extend(TEXTS.iter().zip(&texts).map(|(k, v)| (*k, v.as_str())));
    out.gauge(
        "node_watchdog_info",
        "Info of /sys/class/watchdog/<watchdog>",
        &labels,
        1.0,
    );
    Ok(())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (name, dir) in list_dir(&ctx.sys("class/watchdog"))? {
        emit(out, &name, &dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    fn collect_from(sysfs: &Path) -> Result<MetricSet, CollectorError> {
        fixtures::collect_once(collect, &fixtures::sysfs_context(sysfs))
    }

    #[test]
    fn reads_a_watchdog_and_leaves_out_what_the_driver_lacks() {
        let sys = tempfile::tempdir().unwrap();
        let dir = sys.path().join("class/watchdog/watchdog0");
        std::fs::create_dir_all(&dir).unwrap();
        for (attr, value) in [
            ("bootstatus", "1"),
            ("options", "0x8180"),
            ("identity", "iTCO_wdt"),
            ("nowayout", "0"),
            ("state", "active"),
            ("status", "0x8000"),
            ("timeout", "30"),
            ("timeleft", "0x1c"),
        ] {
            std::fs::write(dir.join(attr), format!("{value}\n")).unwrap();
        }
        let set = collect_from(sys.path()).unwrap();
        let w = [("name", "watchdog0")];
        assert_eq!(set.value("node_watchdog_timeout_seconds", &w), Some(30.0));
        assert_eq!(set.value("node_watchdog_timeleft_seconds", &w), Some(28.0));
        assert_eq!(set.value("node_watchdog_bootstatus", &w), Some(1.0));
        assert!(!set.contains("node_watchdog_pretimeout_seconds"));
        let info = [
            ("identity", "iTCO_wdt"),
            ("options", "0x8180"),
            ("pretimeout_governor", ""),
            ("state", "active"),
            ("status", "0x8000"),
        ];
        assert_eq!(set.value("node_watchdog_info", &info), Some(1.0));
    }

    #[test]
    fn garbage_is_an_error_and_no_class_is_no_data() {
        assert_eq!(parse_integer("0x10"), Ok(16));
        assert!(parse_integer("ten").is_err());
        let none = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect_from(none.path()),
            Err(CollectorError::NoData(_))
        ));
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("class/watchdog")).unwrap();
        assert!(collect_from(sys.path()).unwrap().is_empty());
    }
}
