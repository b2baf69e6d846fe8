//! `node_sockstat_*` from `/proc/net/sockstat` and `/proc/net/sockstat6`.

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// `(metric suffix, value)`: `sockets: used 33` → `sockets_used`, `TCP: inuse 4` → `TCP_inuse`.
pub fn parse(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::with_capacity(24);
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        while let (Some(key), Some(value)) = (parts.next(), parts.next()) {
            let value: f64 = value.parse().map_err(|e| format!("{proto} {key}: {e}"))?;
            out.push((format!("{proto}_{key}"), value));
        }
    }
    Ok(out)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let page_size = rustix::param::page_size() as f64;
    let path = ctx.proc("net/sockstat");
    let mut fields = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    // No IPv6 is not an error, as in node_exporter.
    let path6 = ctx.proc("net/sockstat6");
    if let Ok(text) = std::fs::read_to_string(&path6) {
        fields.extend(parse(&text).map_err(|why| CollectorError::parse(&path6, why))?);
    }
    for (key, value) in fields {
        let help = "Number of sockets in the given state (from /proc/net/sockstat).";
        out.gauge(&format!("node_sockstat_{key}"), help, &[], value);
        // Socket buffer memory is counted in pages; node_exporter adds it in bytes too.
        if key == "TCP_mem" || key == "UDP_mem" {
            out.gauge(
                &format!("node_sockstat_{key}_bytes"),
                help,
                &[],
                value * page_size,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_real_sockstat_files() {
        let v4 = parse(&fixtures::read("proc/net/sockstat")).unwrap();
        let keys: Vec<&str> = v4.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "sockets_used",
            "TCP_inuse",
            "TCP_orphan",
            "TCP_tw",
            "TCP_alloc",
            "TCP_mem",
            "UDP_mem",
            "FRAG_memory",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let v6 = parse(&fixtures::read("proc/net/sockstat6")).unwrap();
        assert!(v6.iter().any(|(k, _)| k == "TCP6_inuse"));
    }
}
