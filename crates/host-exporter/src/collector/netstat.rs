//! `node_netstat_{Proto}_{Field}` (untyped) from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6`, limited to `--collector.netstat.fields`.
//!
//! node_exporter exports whatever fields the regex selects, so these parsers keep every field
//! by name; procfs-core's typed `Snmp`/`Snmp6` structs cannot, and it has no `netstat` parser.

use metrics_core::MetricSet;

use super::{read, CollectorError, Context};

/// `Proto: names...` / `Proto: values...` line pairs (`netstat`, `snmp`) into
/// `(proto, field, value)`.
pub fn parse_paired(text: &str) -> Result<Vec<(String, String, f64)>, String> {
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
            out.push((proto.to_string(), name.to_string(), value));
        }
    }
    Ok(out)
}

/// `Ip6InOctets 123` lines (`snmp6`) into `(Ip6, InOctets, 123)`, split after the first `6`.
pub fn parse_snmp6(text: &str) -> Result<Vec<(String, String, f64)>, String> {
    let mut out = Vec::with_capacity(128);
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let value: f64 = value.parse().map_err(|e| format!("{key}: {e}"))?;
        out.push((key[..=six].to_string(), key[six + 1..].to_string(), value));
    }
    Ok(out)
}

pub fn collect(ctx: &Context, out: &mut MetricSet) -> Result<(), CollectorError> {
    let mut fields = Vec::with_capacity(512);
    for file in ["net/netstat", "net/snmp"] {
        let path = ctx.proc(file);
        fields
            .extend(parse_paired(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?);
    }
    // IPv6 may be disabled: node_exporter goes on without snmp6.
    let snmp6 = ctx.proc("net/snmp6");
    if let Ok(text) = std::fs::read_to_string(&snmp6) {
        fields.extend(parse_snmp6(&text).map_err(|why| CollectorError::parse(&snmp6, why))?);
    }
    let mut key = String::with_capacity(48);
    let mut name = String::with_capacity(64);
    for (proto, field, value) in fields {
        key.clear();
        key.push_str(&proto);
        key.push('_');
        key.push_str(&field);
        if !ctx.netstat_fields.is_match(&key) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_real_netstat_and_snmp() {
        let netstat = parse_paired(&fixtures::read("proc/net/netstat")).unwrap();
        assert!(netstat
            .iter()
            .any(|(p, f, _)| p == "TcpExt" && f == "ListenDrops"));
        assert!(netstat
            .iter()
            .any(|(p, f, _)| p == "IpExt" && f == "InOctets"));
        let snmp = parse_paired(&fixtures::read("proc/net/snmp")).unwrap();
        assert!(snmp.iter().any(|(p, f, _)| p == "Ip" && f == "Forwarding"));
        assert!(snmp
            .iter()
            .any(|(p, f, _)| p == "UdpLite" && f == "InErrors"));
    }

    #[test]
    fn snmp6_keys_split_after_the_six() {
        let f = parse_snmp6(
            "Ip6InOctets                     \t123\nIcmp6InMsgs 4\nUdpLite6InErrors 0\n",
        )
        .unwrap();
        assert_eq!(f[0], ("Ip6".into(), "InOctets".into(), 123.0));
        assert_eq!(f[1], ("Icmp6".into(), "InMsgs".into(), 4.0));
        assert_eq!(f[2], ("UdpLite6".into(), "InErrors".into(), 0.0));
        assert!(!parse_snmp6(&fixtures::read("proc/net/snmp6"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn mismatched_lines_are_an_error() {
        assert!(parse_paired("Tcp: A B\nUdp: 1 2\n").is_err());
    }
}
