//! `node_nfs_*` (client, `/proc/net/rpc/nfs`) and `node_nfsd_*` (server, `/proc/net/rpc/nfsd`):
//! network and RPC counters, and NFSv2/v3 requests per operation. NFSv4 per-operation counts are
//! not exported yet.

use metrics_core::MetricSet;

use super::{CollectorError, Host};

const V2: &[&str] = &[
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];
const V3: &[&str] = &[
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// Lines of `key n n n ...` into `(key, numbers)`.
pub fn parse(text: &str) -> Result<Vec<(String, Vec<f64>)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let key = fields.next().unwrap_or_default().to_string();
            let values = fields
                .map(|f| f.parse::<f64>().map_err(|e| format!("{key}: {f:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, values))
        })
        .collect()
}

fn read_stats(ctx: &Host, rel: &str) -> Result<Vec<(String, Vec<f64>)>, CollectorError> {
    let path = ctx.proc(rel);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            CollectorError::NoData(format!("{} does not exist", path.display()))
        }
        _ => CollectorError::Read {
            path: path.clone(),
            source,
        },
    })?;
    parse(&text).map_err(|why| CollectorError::parse(&path, why))
}

fn requests(out: &mut MetricSet, name: &str, lines: &[(String, Vec<f64>)]) {
    for (key, methods, proto) in [("proc2", V2, "2"), ("proc3", V3, "3")] {
        let Some((_, v)) = lines.iter().find(|(k, _)| k == key) else {
            continue;
        };
        // The first number is how many counters follow.
        for (method, count) in methods.iter().zip(v.iter().skip(1)) {
            out.counter(
                name,
                "Number of NFS procedures invoked.",
                &[("method", method), ("proto", proto)],
                *count,
            );
        }
    }
}

fn get<'a>(lines: &'a [(String, Vec<f64>)], key: &str) -> Option<&'a [f64]> {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

pub fn collect_client(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let lines = read_stats(ctx, "net/rpc/nfs")?;
    if let Some([_, udp, tcp, tcp_conn, ..]) = get(&lines, "net") {
        out.counter(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &[("protocol", "udp")],
            *udp,
        );
        out.counter(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &[("protocol", "tcp")],
            *tcp,
        );
        out.counter(
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
            &[],
            *tcp_conn,
        );
    }
    if let Some([calls, retrans, auth_refresh, ..]) = get(&lines, "rpc") {
        out.counter(
            "node_nfs_rpcs_total",
            "Total number of RPCs performed.",
            &[],
            *calls,
        );
        out.counter(
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            &[],
            *retrans,
        );
        out.counter(
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            &[],
            *auth_refresh,
        );
    }
    requests(out, "node_nfs_requests_total", &lines);
    Ok(())
}

pub fn collect_server(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let lines = read_stats(ctx, "net/rpc/nfsd")?;
    if let Some([hits, misses, nocache, ..]) = get(&lines, "rc") {
        out.counter(
            "node_nfsd_reply_cache_hits_total",
            "Total number of NFSd Reply Cache hits (client lost server response).",
            &[],
            *hits,
        );
        out.counter(
            "node_nfsd_reply_cache_misses_total",
            "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
            &[],
            *misses,
        );
        out.counter(
            "node_nfsd_reply_cache_nocache_total",
            "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
            &[],
            *nocache,
        );
    }
    if let Some([stale, ..]) = get(&lines, "fh") {
        out.counter(
            "node_nfsd_file_handles_stale_total",
            "Total number of NFSd stale file handles",
            &[],
            *stale,
        );
    }
    if let Some([read, write, ..]) = get(&lines, "io") {
        out.counter(
            "node_nfsd_disk_bytes_read_total",
            "Total NFSd bytes read.",
            &[],
            *read,
        );
        out.counter(
            "node_nfsd_disk_bytes_written_total",
            "Total NFSd bytes written.",
            &[],
            *write,
        );
    }
    if let Some([threads, ..]) = get(&lines, "th") {
        out.gauge(
            "node_nfsd_server_threads",
            "Total number of NFSd kernel threads that are running.",
            &[],
            *threads,
        );
    }
    if let Some([_, udp, tcp, tcp_conn, ..]) = get(&lines, "net") {
        out.counter(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &[("proto", "udp")],
            *udp,
        );
        out.counter(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &[("proto", "tcp")],
            *tcp,
        );
        out.counter(
            "node_nfsd_connections_total",
            "Total number of NFSd TCP connections.",
            &[],
            *tcp_conn,
        );
    }
    if let Some([calls, _bad, fmt, auth, client, ..]) = get(&lines, "rpc") {
        out.counter(
            "node_nfsd_server_rpcs_total",
            "Total number of NFSd RPCs.",
            &[],
            *calls,
        );
        for (error, v) in [("fmt", fmt), ("auth", auth), ("cInt", client)] {
            out.counter(
                "node_nfsd_rpc_errors_total",
                "Total number of NFSd RPC errors by error type.",
                &[("error", error)],
                *v,
            );
        }
    }
    requests(out, "node_nfsd_requests_total", &lines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_stats() {
        let lines =
            parse("net 18628 0 18628 6\nrpc 4329785 0 4338291\nproc3 22 1 4084749 29200 94754\n")
                .unwrap();
        assert_eq!(get(&lines, "rpc"), Some(&[4329785.0, 0.0, 4338291.0][..]));
        let mut set = MetricSet::new();
        requests(&mut set, "node_nfs_requests_total", &lines);
        assert_eq!(set.sample_count("node_nfs_requests_total"), 4);
    }
}
