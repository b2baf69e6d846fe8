//! `node_ipvs_*` from `/proc/net/ip_vs_stats` (totals since the module loaded) and
//! `/proc/net/ip_vs` (each virtual service's real servers: weight, active and inactive
//! connections). Swarm's routing mesh and kube-proxy's IPVS mode load the module; hosts without
//! it have no data.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use metrics_core::MetricSet;
use serde::{Deserialize, Serialize};

use super::{read, CollectorError, Host};

/// The backend labels node_exporter offers, in its order (`--collector.ipvs.backend-labels`).
pub const BACKEND_LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

/// The totals line of `ip_vs_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub connections: u64,
    pub incoming_packets: u64,
    pub outgoing_packets: u64,
    pub incoming_bytes: u64,
    pub outgoing_bytes: u64,
}

/// One real server of one virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub proto: String,
    /// Empty for a firewall-mark service.
    pub local_address: String,
    pub local_port: u16,
    pub local_mark: String,
    pub remote_address: String,
    pub remote_port: u16,
    pub weight: u64,
    pub active: u64,
    pub inactive: u64,
}

fn hex(field: &str) -> Result<u64, String> {
    u64::from_str_radix(field, 16).map_err(|e| format!("{field:?}: {e}"))
}

/// The third line of `ip_vs_stats`: five hexadecimal totals.
pub fn parse_totals(text: &str) -> Result<Totals, String> {
    let line = text.lines().nth(2).ok_or("ip_vs_stats is too short")?;
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [connections, incoming_packets, outgoing_packets, incoming_bytes, outgoing_bytes] =
        fields.as_slice()
    else {
        return Err(format!("expected 5 totals, got {line:?}"));
    };
    Ok(Totals {
        connections: hex(connections)?,
        incoming_packets: hex(incoming_packets)?,
        outgoing_packets: hex(outgoing_packets)?,
        incoming_bytes: hex(incoming_bytes)?,
        outgoing_bytes: hex(outgoing_bytes)?,
    })
}

/// `C0A80016:0CEA` (IPv4) or `[2620:0000:...:0001]:0050` (IPv6) as address text and port.
pub fn parse_address(field: &str) -> Result<(String, u16), String> {
    let (address, port) = field
        .rsplit_once(':')
        .ok_or_else(|| format!("no port in {field:?}"))?;
    let port = u16::from_str_radix(port, 16).map_err(|e| format!("port of {field:?}: {e}"))?;
    let ip = if let Some(v6) = address.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        IpAddr::V6(
            v6.parse::<Ipv6Addr>()
                .map_err(|e| format!("{field:?}: {e}"))?,
        )
    } else {
        let bits = u32::from_str_radix(address, 16).map_err(|e| format!("{field:?}: {e}"))?;
        IpAddr::V4(Ipv4Addr::from(bits))
    };
    Ok((ip.to_string(), port))
}

fn number(field: &str) -> Result<u64, String> {
    field.parse().map_err(|e| format!("{field:?}: {e}"))
}

/// The real servers of every virtual service in `/proc/net/ip_vs`.
pub fn parse_backends(text: &str) -> Result<Vec<Backend>, String> {
    let mut out = Vec::new();
    // The service the following `->` lines belong to: (proto, address, port, mark).
    let mut service: Option<(String, String, u16, String)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.as_slice() {
            ["IP", ..] | ["Prot", ..] | [_, "RemoteAddress:Port", ..] | [] => {}
            [proto @ ("TCP" | "UDP"), address, ..] => {
                let (address, port) = parse_address(address)?;
                service = Some(((*proto).to_string(), address, port, String::new()));
            }
            ["FWM", mark, ..] => {
                service = Some(("FWM".into(), String::new(), 0, (*mark).to_string()));
            }
            ["->", remote, _forward, weight, active, inactive, ..] => {
                let Some((proto, local_address, local_port, local_mark)) = &service else {
                    return Err(format!("real server before any service: {line:?}"));
                };
                let (remote_address, remote_port) = parse_address(remote)?;
                out.push(Backend {
                    proto: proto.clone(),
                    local_address: local_address.clone(),
                    local_port: *local_port,
                    local_mark: local_mark.clone(),
                    remote_address,
                    remote_port,
                    weight: number(weight)?,
                    active: number(active)?,
                    inactive: number(inactive)?,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

fn label_value(backend: &Backend, label: &str) -> String {
    match label {
        "local_address" => backend.local_address.clone(),
        "local_port" => backend.local_port.to_string(),
        "remote_address" => backend.remote_address.clone(),
        "remote_port" => backend.remote_port.to_string(),
        "proto" => backend.proto.clone(),
        _ => backend.local_mark.clone(),
    }
}

/// Checks `--collector.ipvs.backend-labels`: known names, kept in node_exporter's order.
pub fn backend_labels(list: &str) -> Result<Vec<&'static str>, String> {
    let wanted: Vec<&str> = list.split(',').filter(|l| !l.is_empty()).collect();
    if let Some(unknown) = wanted.iter().find(|l| !BACKEND_LABELS.contains(l)) {
        return Err(format!(
            "--collector.ipvs.backend-labels: unknown IPVS backend label {unknown:?}"
        ));
    }
    Ok(BACKEND_LABELS
        .into_iter()
        .filter(|l| wanted.contains(l))
        .collect())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let stats_path = ctx.proc("net/ip_vs_stats");
    let stats = match std::fs::read_to_string(&stats_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectorError::NoData("IPVS is not loaded".into()))
        }
        Err(source) => {
            return Err(CollectorError::Read {
                path: stats_path,
                source,
            })
        }
    };
    let totals = parse_totals(&stats).map_err(|why| CollectorError::parse(&stats_path, why))?;
    let backends_path = ctx.proc("net/ip_vs");
    let backends = parse_backends(&read(&backends_path)?)
        .map_err(|why| CollectorError::parse(&backends_path, why))?;
    emit_totals(out, &totals);
    emit_backends(out, &backends, &ctx.ipvs_backend_labels);
    Ok(())
}

fn emit_totals(out: &mut MetricSet, t: &Totals) {
    for (name, help, value) in [
        (
            "node_ipvs_connections_total",
            "The total number of connections made.",
            t.connections,
        ),
        (
            "node_ipvs_incoming_packets_total",
            "The total number of incoming packets.",
            t.incoming_packets,
        ),
        (
            "node_ipvs_outgoing_packets_total",
            "The total number of outgoing packets.",
            t.outgoing_packets,
        ),
        (
            "node_ipvs_incoming_bytes_total",
            "The total amount of incoming data.",
            t.incoming_bytes,
        ),
        (
            "node_ipvs_outgoing_bytes_total",
            "The total amount of outgoing data.",
            t.outgoing_bytes,
        ),
    ] {
        out.counter(name, help, &[], value as f64);
    }
}

/// One series per distinct set of the chosen labels; real servers that the chosen labels do
/// not tell apart are summed.
fn emit_backends(out: &mut MetricSet, backends: &[Backend], labels: &[&'static str]) {
    let mut sums: BTreeMap<Vec<String>, (u64, u64, u64)> = BTreeMap::new();
    for b in backends {
        let key: Vec<String> = labels.iter().map(|l| label_value(b, l)).collect();
        let sum = sums.entry(key).or_default();
        sum.0 = sum.0.saturating_add(b.active);
        sum.1 = sum.1.saturating_add(b.inactive);
        sum.2 = sum.2.saturating_add(b.weight);
    }
    for (values, (active, inactive, weight)) in &sums {
        let l: Vec<(&str, &str)> = labels
            .iter()
            .copied()
            .zip(values.iter().map(String::as_str))
            .collect();
        for (name, help, value) in [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
                active,
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
                inactive,
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
                weight,
            ),
        ] {
            out.gauge(name, help, &l, *value as f64);
        }
    }
}

/// `collector.ipvs.backend-labels`: which labels the per-backend IPVS series carry (comma
/// separated; backends the chosen labels do not tell apart are summed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpvsSettings {
    pub backend_labels: String,
}

impl Default for IpvsSettings {
    fn default() -> Self {
        Self {
            backend_labels: BACKEND_LABELS.join(","),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n 16AA370 E33656E5        0     51D8C8883AB3        0\n\n Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n       4    1FB3C        0          1282A8F        0\n";

    const BACKENDS: &str = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port Scheduler Flags\n\
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
TCP  C0A80016:0CEA wlc\n\
  -> C0A85216:0CEA      Tunnel  100    248        2\n\
  -> C0A85215:0CEA      Tunnel  100    248        1\n\
TCP  [2620:0000:0000:0000:0000:0000:0000:0001]:0050 sh\n\
  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0050      Route   1      0          0\n\
FWM  10001000 wlc\n\
  -> C0A8321A:0CEA      Route   0      0          1\n";

    #[test]
    fn totals_are_the_hex_third_line() {
        assert_eq!(
            parse_totals(STATS).unwrap(),
            Totals {
                connections: 0x16AA370,
                incoming_packets: 0xE33656E5,
                outgoing_packets: 0,
                incoming_bytes: 0x51D8C8883AB3,
                outgoing_bytes: 0,
            }
        );
        assert!(parse_totals("a\nb\n").is_err());
        assert!(parse_totals("a\nb\n1 2 3\n").is_err());
    }

    #[test]
    fn backends_carry_their_services_address_or_mark() {
        let b = parse_backends(BACKENDS).unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(
            (
                b[0].local_address.as_str(),
                b[0].local_port,
                b[0].remote_address.as_str()
            ),
            ("192.168.0.22", 3306, "192.168.82.22")
        );
        assert_eq!((b[0].weight, b[0].active, b[0].inactive), (100, 248, 2));
        assert_eq!(
            (
                b[2].local_address.as_str(),
                b[2].remote_address.as_str(),
                b[2].remote_port
            ),
            ("2620::1", "2620::2", 80)
        );
        assert_eq!(
            (
                b[3].proto.as_str(),
                b[3].local_mark.as_str(),
                b[3].local_address.as_str()
            ),
            ("FWM", "10001000", "")
        );
        assert!(parse_backends("  -> C0A8321A:0CEA Route 0 0 1\n").is_err());
        assert!(parse_address("nothex:0050").is_err());
    }

    #[test]
    fn fewer_labels_sum_the_backends_they_do_not_tell_apart() {
        let b = parse_backends(BACKENDS).unwrap();
        let mut set = MetricSet::new();
        emit_backends(
            &mut set,
            &b,
            &backend_labels("local_address,local_port").unwrap(),
        );
        let service = [("local_address", "192.168.0.22"), ("local_port", "3306")];
        assert_eq!(
            set.value("node_ipvs_backend_connections_active", &service),
            Some(496.0)
        );
        assert_eq!(set.value("node_ipvs_backend_weight", &service), Some(200.0));
        assert_eq!(set.sample_count("node_ipvs_backend_weight"), 3);
        assert!(backend_labels("local_address,nope").is_err());
        assert_eq!(
            backend_labels("proto,local_address").unwrap(),
            vec!["local_address", "proto"]
        );
    }
}
