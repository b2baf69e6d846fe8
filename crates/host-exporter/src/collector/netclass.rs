//! `node_network_*` interface attributes (what node_exporter reads from `/sys/class/net/*`).
//!
//! Reading ~25 sysfs files per interface is most of node_exporter's CPU per scrape, so the
//! changing attributes come from one rtnetlink dump, the few sysfs-only attributes that cannot
//! change while an interface exists (`addr_assign_type`, `name_assign_type`, `dev_id`) are read
//! once per interface and cached; `speed` and `duplex` are re-read only when the link state
//! changes (a renegotiation takes the carrier down and up) or every 30 s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use metrics_core::MetricSet;
use serde::{Deserialize, Serialize};

use super::netlink::{format_hwaddr, Link, IFF_DORMANT};
use super::{read_attr, CollectorError, Host};

/// sysfs attributes fixed for the life of an interface, keyed by ifindex and name (an index can
/// be reused by a new interface with another name).
#[derive(Debug, Default)]
pub struct StaticAttributes {
    by_index: HashMap<u32, Fixed>,
}

#[derive(Debug, Clone)]
struct Fixed {
    name: String,
    addr_assign_type: Option<f64>,
    name_assign_type: Option<f64>,
    dev_id: Option<f64>,
    /// `speed` and `duplex`, valid while the link state they were read in lasts.
    negotiated: Option<(LinkState, Instant, Option<i64>, Option<String>)>,
}

/// What changes whenever a link renegotiates its speed and duplex: it goes down and up again,
/// which bumps the kernel's carrier change count.
type LinkState = (Option<u32>, u8, u32);

/// Some speeds change without a carrier change (a bond losing a member): re-read at least this
/// often.
const NEGOTIATED_MAX_AGE: Duration = Duration::from_secs(30);

fn link_state(link: &Link) -> LinkState {
    (link.carrier_changes, link.operstate, link.flags)
}

fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    match t.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => t.parse().ok(),
    }
}

fn read_fixed(ctx: &Host, name: &str) -> Fixed {
    let dir = ctx.sys("class/net").join(name);
    let num = |attr: &str| read_attr(&dir.join(attr)).as_deref().and_then(parse_number);
    Fixed {
        name: name.to_string(),
        addr_assign_type: num("addr_assign_type"),
        name_assign_type: num("name_assign_type"),
        dev_id: num("dev_id"),
        negotiated: None,
    }
}

/// `speed` in Mb/s as bytes/s, as node_exporter reports it (`-1` becomes `-125000`).
pub fn speed_bytes(mbits: i64) -> f64 {
    mbits as f64 * 1000.0 * 1000.0 / 8.0
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let all = ctx.links()?;
    let mut links: Vec<&Link> = all
        .iter()
        .filter(|l| !ctx.netclass_ignored.is_match(&l.name))
        .collect();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    let fixed = fixed_attributes(ctx, &links);
    for (link, fixed) in links.iter().zip(fixed) {
        emit(ctx, out, link, &fixed);
    }
    Ok(())
}

fn fixed_attributes(ctx: &Host, links: &[&Link]) -> Vec<Fixed> {
    let mut cache = match ctx.netclass_cache.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    // Forget interfaces that are gone, so the cache never grows past the live set.
    cache
        .by_index
        .retain(|index, f| links.iter().any(|l| l.index == *index && l.name == f.name));
    links
        .iter()
        .map(|l| {
            let fixed = cache
                .by_index
                .entry(l.index)
                .or_insert_with(|| read_fixed(ctx, &l.name));
            let state = link_state(l);
            let fresh = fixed
                .negotiated
                .as_ref()
                .is_some_and(|(s, at, _, _)| *s == state && at.elapsed() < NEGOTIATED_MAX_AGE);
            if !fresh {
                // sysfs answers speed and duplex only while the device is up.
                let (speed, duplex) = if l.is_running() {
                    let dir = ctx.sys("class/net").join(&l.name);
                    (
                        read_attr(&dir.join("speed")).and_then(|s| s.parse::<i64>().ok()),
                        read_attr(&dir.join("duplex")),
                    )
                } else {
                    (None, None)
                };
                fixed.negotiated = Some((state, Instant::now(), speed, duplex));
            }
            fixed.clone()
        })
        .collect()
}

fn emit(ctx: &Host, out: &mut MetricSet, link: &Link, fixed: &Fixed) {
    let dev = [("device", link.name.as_str())];
    let g = |out: &mut MetricSet, name: &str, help: &str, v: f64| out.gauge(name, help, &dev, v);
    let running = link.is_running();
    let (speed, duplex) = match &fixed.negotiated {
        Some((_, _, speed, duplex)) => (*speed, duplex.as_deref()),
        None => (None, None),
    };
    if let Some(v) = fixed.addr_assign_type {
        g(
            out,
            "node_network_address_assign_type",
            "Network device property: address_assign_type",
            v,
        );
    }
    if running {
        if let Some(c) = link.carrier {
            g(
                out,
                "node_network_carrier",
                "Network device property: carrier",
                f64::from(c),
            );
        }
    }
    let counter = |out: &mut MetricSet, name: &str, help: &str, v: Option<u32>| {
        if let Some(v) = v {
            out.counter(name, help, &dev, f64::from(v));
        }
    };
    counter(
        out,
        "node_network_carrier_changes_total",
        "Network device property: carrier_changes_total",
        link.carrier_changes,
    );
    counter(
        out,
        "node_network_carrier_down_changes_total",
        "Network device property: carrier_down_changes_total",
        link.carrier_down_count,
    );
    counter(
        out,
        "node_network_carrier_up_changes_total",
        "Network device property: carrier_up_changes_total",
        link.carrier_up_count,
    );
    if let Some(v) = fixed.dev_id {
        g(
            out,
            "node_network_device_id",
            "Network device property: device_id",
            v,
        );
    }
    if running {
        let dormant = if link.flags & IFF_DORMANT != 0 {
            1.0
        } else {
            0.0
        };
        g(
            out,
            "node_network_dormant",
            "Network device property: dormant",
            dormant,
        );
    }
    g(
        out,
        "node_network_flags",
        "Network device property: flags",
        f64::from(link.device_flags()),
    );
    g(
        out,
        "node_network_iface_id",
        "Network device property: iface_id",
        f64::from(link.index),
    );
    g(
        out,
        "node_network_iface_link",
        "Network device property: iface_link",
        f64::from(link.iflink.unwrap_or(link.index)),
    );
    g(
        out,
        "node_network_iface_link_mode",
        "Network device property: iface_link_mode",
        f64::from(link.link_mode),
    );
    let address = link
        .address
        .as_deref()
        .map(format_hwaddr)
        .unwrap_or_default();
    let broadcast = link
        .broadcast
        .as_deref()
        .map(format_hwaddr)
        .unwrap_or_default();
    out.gauge(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        &[
            ("address", &address),
            ("adminstate", link.adminstate_name()),
            ("broadcast", &broadcast),
            ("device", &link.name),
            ("duplex", duplex.unwrap_or("")),
            ("ifalias", link.ifalias.as_deref().unwrap_or("")),
            ("operstate", link.operstate_name()),
        ],
        1.0,
    );
    if let Some(mtu) = link.mtu {
        g(
            out,
            "node_network_mtu_bytes",
            "Network device property: mtu_bytes",
            f64::from(mtu),
        );
    }
    if let Some(v) = fixed.name_assign_type {
        g(
            out,
            "node_network_name_assign_type",
            "Network device property: name_assign_type",
            v,
        );
    }
    if let Some(group) = link.group {
        g(
            out,
            "node_network_net_dev_group",
            "Network device property: net_dev_group",
            f64::from(group),
        );
    }
    g(
        out,
        "node_network_protocol_type",
        "Network device property: protocol_type",
        f64::from(link.link_type),
    );
    if let Some(mbits) = speed {
        if !(ctx.netclass_ignore_invalid_speed && mbits < 0) {
            g(
                out,
                "node_network_speed_bytes",
                "Network device property: speed_bytes",
                speed_bytes(mbits),
            );
        }
    }
    if let Some(q) = link.txqlen {
        g(
            out,
            "node_network_transmit_queue_length",
            "Network device property: transmit_queue_length",
            f64::from(q),
        );
    }
    let up = if link.operstate_name() == "up" {
        1.0
    } else {
        0.0
    };
    g(
        out,
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
        up,
    );
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetclassSettings {
    pub ignored_devices: String,
    pub ignore_invalid_speed: bool,
}

impl Default for NetclassSettings {
    fn default() -> Self {
        Self {
            ignored_devices: "^$".into(),
            ignore_invalid_speed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_is_reported_in_bytes_like_node_exporter() {
        assert_eq!(speed_bytes(-1), -125000.0);
        assert_eq!(speed_bytes(1000), 125_000_000.0);
    }

    #[test]
    fn sysfs_numbers_may_be_hex() {
        assert_eq!(parse_number("0x0\n"), Some(0.0));
        assert_eq!(parse_number("3\n"), Some(3.0));
        assert_eq!(parse_number("garbage"), None);
    }
}
