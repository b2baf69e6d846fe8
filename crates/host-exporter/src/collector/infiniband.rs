//! `node_infiniband_*{device,port}` from `/sys/class/infiniband/<device>/`: each HCA's identity
//! (`node_infiniband_info`) and, per port, its state, rate and the `counters/` and
//! `counters_ext/` performance counters. Hosts without InfiniBand (or RoCE) have no data.

use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read, read_attr, CollectorError, Host};

/// `(counter file, metric after node_infiniband_, data in 32-bit words?)`.
const COUNTERS: [(&str, &str, bool); 22] = [
    (
        "excessive_buffer_overrun_errors",
        "excessive_buffer_overrun_errors_total",
        false,
    ),
    ("link_downed", "link_downed_total", false),
    ("link_error_recovery", "link_error_recovery_total", false),
    (
        "local_link_integrity_errors",
        "local_link_integrity_errors_total",
        false,
    ),
    (
        "multicast_rcv_packets",
        "multicast_packets_received_total",
        false,
    ),
    (
        "multicast_xmit_packets",
        "multicast_packets_transmitted_total",
        false,
    ),
    (
        "port_rcv_constraint_errors",
        "port_constraint_errors_received_total",
        false,
    ),
    (
        "port_xmit_constraint_errors",
        "port_constraint_errors_transmitted_total",
        false,
    ),
    ("port_rcv_data", "port_data_received_bytes_total", true),
    ("port_xmit_data", "port_data_transmitted_bytes_total", true),
    ("port_rcv_discards", "port_discards_received_total", false),
    (
        "port_xmit_discards",
        "port_discards_transmitted_total",
        false,
    ),
    ("port_rcv_errors", "port_errors_received_total", false),
    ("port_rcv_packets", "port_packets_received_total", false),
    ("port_xmit_packets", "port_packets_transmitted_total", false),
    ("port_xmit_wait", "port_transmit_wait_total", false),
    (
        "unicast_rcv_packets",
        "unicast_packets_received_total",
        false,
    ),
    (
        "unicast_xmit_packets",
        "unicast_packets_transmitted_total",
        false,
    ),
    (
        "port_rcv_remote_physical_errors",
        "port_receive_remote_physical_errors_total",
        false,
    ),
    (
        "port_rcv_switch_relay_errors",
        "port_receive_switch_relay_errors_total",
        false,
    ),
    ("symbol_error", "symbol_error_total", false),
    ("VL15_dropped", "vl15_dropped_total", false),
];

/// The `counters_ext/` (legacy 64-bit) counters.
const EXTENDED_COUNTERS: [(&str, &str, bool); 8] = [
    (
        "port_multicast_rcv_packets",
        "legacy_multicast_packets_received_total",
        false,
    ),
    (
        "port_multicast_xmit_packets",
        "legacy_multicast_packets_transmitted_total",
        false,
    ),
    ("port_rcv_data_64", "legacy_data_received_bytes_total", true),
    (
        "port_rcv_packets_64",
        "legacy_packets_received_total",
        false,
    ),
    (
        "port_unicast_rcv_packets",
        "legacy_unicast_packets_received_total",
        false,
    ),
    (
        "port_unicast_xmit_packets",
        "legacy_unicast_packets_transmitted_total",
        false,
    ),
    (
        "port_xmit_data_64",
        "legacy_data_transmitted_bytes_total",
        true,
    ),
    (
        "port_xmit_packets_64",
        "legacy_packets_transmitted_total",
        false,
    ),
];

/// `4: ACTIVE` → 4.
pub fn parse_state(text: &str) -> Result<u64, String> {
    let (id, _name) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not 'ID: NAME'"))?;
    id.trim().parse().map_err(|e| format!("{text:?}: {e}"))
}

/// `100 Gb/sec (4X EDR)` → bytes per second (the Gb/s figure read at single precision, as
/// node_exporter reads it, times 125,000,000).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let (gbits, _) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("{text:?} has no unit"))?;
    let gbits: f32 = gbits.parse().map_err(|e| format!("{text:?}: {e}"))?;
    // A float-to-int cast saturates; rates are far below u64::MAX anyway.
    Ok((f64::from(gbits) * 125_000_000.0) as u64)
}

/// A counter file: a number (`0x` for hex), or `N/A (no PMA)` when the port has no performance
/// management agent, which is left out.
pub fn parse_counter(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.contains("N/A (no PMA)") {
        return Ok(None);
    }
    match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    }
    .map(Some)
    .map_err(|e| format!("{t:?}: {e}"))
}

fn emit_counters(
    out: &mut MetricSet,
    dir: &Path,
    table: &[(&str, &str, bool)],
    labels: &[(&str, &str)],
) -> Result<(), CollectorError> {
    for (file, metric, words) in table {
        let path = dir.join(file);
        // Unreadable counters (permission, EINVAL from the driver) are left out.
        let Some(text) = read_attr(&path) else {
            continue;
        };
        let Some(value) = parse_counter(&text).map_err(|why| CollectorError::parse(&path, why))?
        else {
            continue;
        };
        // Data counters count 32-bit words; node_exporter reports bytes.
        let value = if *words {
            value.saturating_mul(4)
        } else {
            value
        };
        out.counter(
            &format!("node_infiniband_{metric}"),
            "InfiniBand port counter",
            labels,
            value as f64,
        );
    }
    Ok(())
}

fn emit_port(
    out: &mut MetricSet,
    device: &str,
    port: &str,
    dir: &Path,
) -> Result<(), CollectorError> {
    let labels = [("device", device), ("port", port)];
    for (file, metric) in [("state", "state_id"), ("phys_state", "physical_state_id")] {
        let path = dir.join(file);
        let id = parse_state(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
        out.gauge(
            &format!("node_infiniband_{metric}"),
            "State of the InfiniBand port",
            &labels,
            id as f64,
        );
    }
    let rate_path = dir.join("rate");
    let rate =
        parse_rate(&read(&rate_path)?).map_err(|why| CollectorError::parse(&rate_path, why))?;
    out.gauge(
        "node_infiniband_rate_bytes_per_second",
        "Maximum signal transfer rate",
        &labels,
        rate as f64,
    );
    // Intel's irdma (iWARP/RoCE) has no standard counters.
    if !device.starts_with("irdma") {
        emit_counters(out, &dir.join("counters"), &COUNTERS, &labels)?;
        emit_counters(out, &dir.join("counters_ext"), &EXTENDED_COUNTERS, &labels)?;
    }
    Ok(())
}

fn emit_device(out: &mut MetricSet, device: &str, dir: &Path) -> Result<(), CollectorError> {
    let firmware = read(&dir.join("fw_ver"))?;
    let attr = |name: &str| read_attr(&dir.join(name)).unwrap_or_default();
    out.gauge(
        "node_infiniband_info",
        "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
        &[
            ("board_id", attr("board_id").as_str()),
            ("device", device),
            ("firmware_version", firmware.trim()),
            ("hca_type", attr("hca_type").as_str()),
        ],
        1.0,
    );
    for (port, port_dir) in list_dir(&dir.join("ports"))? {
        if port.parse::<u32>().is_err() {
            return Err(CollectorError::parse(
                &port_dir,
                "port directory is not a number",
            ));
        }
        emit_port(out, device, &port, &port_dir)?;
    }
    Ok(())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (device, dir) in list_dir(&ctx.sys("class/infiniband"))? {
        emit_device(out, &device, &dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_rates_and_counters_parse() {
        assert_eq!(parse_state("4: ACTIVE\n"), Ok(4));
        assert_eq!(parse_state("5: LinkUp"), Ok(5));
        assert!(parse_state("ACTIVE").is_err());
        assert_eq!(parse_rate("100 Gb/sec (4X EDR)\n"), Ok(12_500_000_000));
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)"), Ok(312_500_000));
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_counter("N/A (no PMA)\n"), Ok(None));
        assert_eq!(parse_counter("0x10"), Ok(Some(16)));
        assert!(parse_counter("lots").is_err());
    }

    #[test]
    fn data_counters_are_reported_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("port_rcv_data"), "1000\n").unwrap();
        std::fs::write(dir.path().join("symbol_error"), "N/A (no PMA)\n").unwrap();
        let mut set = MetricSet::new();
        let labels = [("device", "mlx4_0"), ("port", "1")];
        emit_counters(&mut set, dir.path(), &COUNTERS, &labels).unwrap();
        assert_eq!(
            set.value("node_infiniband_port_data_received_bytes_total", &labels),
            Some(4000.0)
        );
        assert!(!set.contains("node_infiniband_symbol_error_total"));
    }
}
