//! `node_network_{receive,transmit}_*_total` per interface from one rtnetlink dump, as
//! node_exporter does with `--collector.netdev.netlink` (its default).

use metrics_core::MetricSet;

use super::netlink::Counters;
use super::{CollectorError, Host};

/// `(metric suffix, counter)` in node_exporter's names.
pub fn counter_fields(c: &Counters) -> [(&'static str, u64); 17] {
    [
        ("receive_bytes_total", c.rx_bytes),
        ("receive_compressed_total", c.rx_compressed),
        ("receive_drop_total", c.rx_dropped),
        ("receive_errs_total", c.rx_errors),
        ("receive_fifo_total", c.rx_fifo_errors),
        ("receive_frame_total", c.rx_frame_errors),
        ("receive_multicast_total", c.multicast),
        ("receive_nohandler_total", c.rx_nohandler),
        ("receive_packets_total", c.rx_packets),
        ("transmit_bytes_total", c.tx_bytes),
        ("transmit_carrier_total", c.tx_carrier_errors),
        ("transmit_colls_total", c.collisions),
        ("transmit_compressed_total", c.tx_compressed),
        ("transmit_drop_total", c.tx_dropped),
        ("transmit_errs_total", c.tx_errors),
        ("transmit_fifo_total", c.tx_fifo_errors),
        ("transmit_packets_total", c.tx_packets),
    ]
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let all = ctx.links()?;
    let mut links: Vec<&super::netlink::Link> = all.iter().collect();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    let mut name = String::with_capacity(48);
    for link in links {
        if ctx.netdev_filter.excludes(&link.name) {
            continue;
        }
        let Some(counters) = &link.counters else {
            continue;
        };
        for (suffix, value) in counter_fields(counters) {
            name.clear();
            name.push_str("node_network_");
            name.push_str(suffix);
            out.counter(
                &name,
                "Network device statistic.",
                &[("device", &link.name)],
                value as f64,
            );
        }
    }
    Ok(())
}
