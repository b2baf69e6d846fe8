//! `node_netstat_{Proto}_{Field}` (untyped) from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6`, limited to `--collector.netstat.fields`.
//!
//! node_exporter exports whatever fields the regex selects, so these parsers keep every field
//! by name; procfs-core's typed `Snmp`/`Snmp6` structs cannot, and it has no `netstat` parser.

use metrics_core::MetricSet;
use serde::{Deserialize, Serialize};

use super::{read, CollectorError, Host};

/// `Proto: names...` / `Proto: values...` line pairs (`netstat`, `snmp`) into
/// `(proto, field, value)`.
pub fn parse_paired(text: &str) -> Result<Vec<(&str, &str, f64)>, String> {
    let mut out = Vec::with_capacity(256);
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (proto, names) = names
            .split_once(':')
            .ok_or_else(|| format!("no protocol in {names:?}"))?;
        let (proto2, values) = values
            .split_once(':')
            .ok_or_else(|| format!("no protocol in {values:?}"))?;
        if proto != proto2 {
            return Err(format!("header {proto} followed by values of {proto2}"));
        }
        for (name, value) in names
            .split_ascii_whitespace()
            .zip(values.split_ascii_whitespace())
        {
            let value: f64 = value.parse().map_err(|e| format!("{proto}_{name}: {e}"))?;
            out.push((proto, name, value));
        }
    }
    Ok(out)
}

/// `Ip6InOctets 123` lines (`snmp6`) into `(Ip6, InOctets, 123)`, split after the first `6`.
pub fn parse_snmp6(text: &str) -> Result<Vec<(&str, &str, f64)>, String> {
    let mut out = Vec::with_capacity(128);
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let value: f64 = value.parse().map_err(|e| format!("{key}: {e}"))?;
        out.push((&key[..=six], &key[six + 1..], value));
    }
    Ok(out)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let netstat_path = ctx.proc("net/netstat");
    let netstat = read(&netstat_path)?;
    let snmp_path = ctx.proc("net/snmp");
    let snmp = read(&snmp_path)?;
    // IPv6 may be disabled: node_exporter goes on without snmp6.
    let snmp6_path = ctx.proc("net/snmp6");
    let snmp6 = std::fs::read_to_string(&snmp6_path).unwrap_or_default();
    let mut fields =
        parse_paired(&netstat).map_err(|why| CollectorError::parse(&netstat_path, why))?;
    fields.extend(parse_paired(&snmp).map_err(|why| CollectorError::parse(&snmp_path, why))?);
    fields.extend(parse_snmp6(&snmp6).map_err(|why| CollectorError::parse(&snmp6_path, why))?);
    let mut key = String::with_capacity(48);
    let mut name = String::with_capacity(64);
    for (proto, field, value) in fields {
        key.clear();
        key.push_str(proto);
        key.push('_');
        key.push_str(field);
        if !ctx.netstat_fields.keeps(&key) {
            continue;
        }
        name.clear();
        name.push_str("node_netstat_");
        name.push_str(&key);
        out.untyped(
            &name,
            "Statistic from /proc/net/{netstat,snmp,snmp6}.",
            &[],
            value,
        );
    }
    Ok(())
}

/// `collector.netstat.fields`: which `/proc/net/{netstat,snmp,snmp6}` fields to export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetstatSettings {
    pub fields: String,
}

impl Default for NetstatSettings {
    fn default() -> Self {
        Self {
            fields: DEFAULT_NETSTAT_FIELDS.into(),
        }
    }
}

pub const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_real_netstat_and_snmp() {
        let netstat_text = fixtures::read("proc/net/netstat");
        let netstat = parse_paired(&netstat_text).unwrap();
        assert!(netstat
            .iter()
            .any(|(p, f, _)| *p == "TcpExt" && *f == "ListenDrops"));
        assert!(netstat
            .iter()
            .any(|(p, f, _)| *p == "IpExt" && *f == "InOctets"));
        let snmp_text = fixtures::read("proc/net/snmp");
        let snmp = parse_paired(&snmp_text).unwrap();
        assert!(snmp
            .iter()
            .any(|(p, f, _)| *p == "Ip" && *f == "Forwarding"));
        assert!(snmp
            .iter()
            .any(|(p, f, _)| *p == "UdpLite" && *f == "InErrors"));
    }

    #[test]
    fn snmp6_keys_split_after_the_six() {
        let f = parse_snmp6(
            "Ip6InOctets                     \t123\nIcmp6InMsgs 4\nUdpLite6InErrors 0\n",
        )
        .unwrap();
        assert_eq!(f[0], ("Ip6", "InOctets", 123.0));
        assert_eq!(f[1], ("Icmp6", "InMsgs", 4.0));
        assert_eq!(f[2], ("UdpLite6", "InErrors", 0.0));
        assert!(!parse_snmp6(&fixtures::read("proc/net/snmp6"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn mismatched_lines_are_an_error() {
        assert!(parse_paired("Tcp: A B\nUdp: 1 2\n").is_err());
    }
}
