//! `node_fibrechannel_*{fc_host}` from `/sys/class/fc_host/<host>/`: each Fibre Channel host
//! port's identity and state (`node_fibrechannel_info`) and its `statistics/` counters. Hosts
//! without Fibre Channel have no data.

use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// `(statistics file, metric after node_fibrechannel_, help)`.
const COUNTERS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
];

/// `node_fibrechannel_info` labels and the attribute each comes from; the WWN-like ones lose
/// their `0x`.
const INFO: [(&str, &str, bool); 10] = [
    ("dev_loss_tmo", "dev_loss_tmo", false),
    ("fabric_name", "fabric_name", true),
    ("port_id", "port_id", true),
    ("port_name", "port_name", true),
    ("port_state", "port_state", false),
    ("port_type", "port_type", false),
    ("speed", "speed", false),
    ("supported_classes", "supported_classes", false),
    ("supported_speeds", "supported_speeds", false),
    ("symbolic_name", "symbolic_name", false),
];

/// A statistics value as the driver writes it: `0x1a2b` or decimal. All ones means the driver
/// does not count it, and it is left out.
pub fn parse_counter(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    let value = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    }
    .map_err(|e| format!("{t:?}: {e}"))?;
    Ok((value != u64::MAX).then_some(value))
}

fn info_value(dir: &Path, attr: &str, strip_0x: bool) -> String {
    let value = read_attr(&dir.join(attr)).unwrap_or_default();
    if strip_0x && value.len() > 2 {
        value.get(2..).unwrap_or_default().to_string()
    } else {
        value
    }
}

fn emit_host(out: &mut MetricSet, host: &str, dir: &Path) -> Result<(), CollectorError> {
    let values: Vec<String> = INFO
        .iter()
        .map(|(_, attr, strip)| info_value(dir, attr, *strip))
        .collect();
    let mut labels = vec![("fc_host", host)];
    labels.extend(
        INFO.iter()
            .zip(&values)
            .map(|((l, _, _), v)| (*l, v.as_str())),
    );
    out.gauge(
        "node_fibrechannel_info",
        "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
        &labels,
        1.0,
    );
    let statistics = dir.join("statistics");
    for (file, metric, help) in COUNTERS {
        let path = statistics.join(file);
        // Drivers leave out, or refuse to read, what they do not count.
        let Some(text) = read_attr(&path) else {
            continue;
        };
        if let Some(v) = parse_counter(&text).map_err(|why| CollectorError::parse(&path, why))? {
            out.counter(
                &format!("node_fibrechannel_{metric}"),
                help,
                &[("fc_host", host)],
                v as f64,
            );
        }
    }
    Ok(())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (host, dir) in list_dir(&ctx.sys("class/fc_host"))? {
        emit_host(out, &host, &dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_hex_and_all_ones_is_not_counted() {
        assert_eq!(parse_counter("0x1a\n"), Ok(Some(26)));
        assert_eq!(parse_counter("42"), Ok(Some(42)));
        assert_eq!(parse_counter("0xffffffffffffffff"), Ok(None));
        assert!(parse_counter("0xzz").is_err());
    }

    #[test]
    fn a_host_port_reads_its_identity_and_statistics() {
        let sys = tempfile::tempdir().unwrap();
        let dir = sys.path().join("host0");
        std::fs::create_dir_all(dir.join("statistics")).unwrap();
        for (attr, value) in [
            ("port_name", "0x1000e0071bce95f2"),
            ("port_state", "Online"),
            ("speed", "16 Gbit"),
        ] {
            std::fs::write(dir.join(attr), format!("{value}\n")).unwrap();
        }
        for (file, value) in [("rx_frames", "0x3"), ("nos_count", "0xffffffffffffffff")] {
            std::fs::write(dir.join("statistics").join(file), format!("{value}\n")).unwrap();
        }
        let mut set = MetricSet::new();
        emit_host(&mut set, "host0", &dir).unwrap();
        let info = [
            ("fc_host", "host0"),
            ("port_name", "1000e0071bce95f2"),
            ("port_state", "Online"),
            ("speed", "16 Gbit"),
            ("port_id", ""),
        ];
        assert_eq!(set.value("node_fibrechannel_info", &info), Some(1.0));
        assert_eq!(
            set.value("node_fibrechannel_rx_frames_total", &[]),
            Some(3.0)
        );
        assert!(!set.contains("node_fibrechannel_nos_total"));
        assert!(!set.contains("node_fibrechannel_tx_frames_total"));
    }
}
