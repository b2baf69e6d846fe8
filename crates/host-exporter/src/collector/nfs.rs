//! `node_nfs_*` (client, `/proc/net/rpc/nfs`) and `node_nfsd_*` (server, `/proc/net/rpc/nfsd`):
//! network and RPC counters, and requests per NFS version and operation. As node_exporter 1.9
//! does, every family is exported, with zeros for the lines the kernel does not print (no NFSv2,
//! no read-ahead cache on recent kernels).

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

/// The client's NFSv4 operations, in the order of the kernel's `proc4` line.
const CLIENT_V4: &[&str] = &[
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// The server's NFSv4 operations node_exporter reports, by their position in `proc4ops`
/// (operation numbers 0-2, PUTPUBFH and PUTROOTFH are left out, as node_exporter does).
const SERVER_V4_OPS: &[(usize, &str)] = &[
    (3, "Access"),
    (4, "Close"),
    (5, "Commit"),
    (6, "Create"),
    (7, "DelegPurge"),
    (8, "DelegReturn"),
    (9, "GetAttr"),
    (10, "GetFH"),
    (11, "Link"),
    (12, "Lock"),
    (13, "Lockt"),
    (14, "Locku"),
    (15, "Lookup"),
    (16, "LookupRoot"),
    (17, "Nverify"),
    (18, "Open"),
    (19, "OpenAttr"),
    (20, "OpenConfirm"),
    (21, "OpenDgrd"),
    (22, "PutFH"),
    (25, "Read"),
    (26, "ReadDir"),
    (27, "ReadLink"),
    (28, "Remove"),
    (29, "Rename"),
    (30, "Renew"),
    (31, "RestoreFH"),
    (32, "SaveFH"),
    (33, "SecInfo"),
    (34, "SetAttr"),
    (35, "SetClientID"),
    (36, "SetClientIDConfirm"),
    (37, "Verify"),
    (38, "Write"),
    (39, "RelLockOwner"),
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

/// The counters of a `procN` line after its leading count; empty when the line is missing.
fn counters<'a>(lines: &'a [(String, Vec<f64>)], key: &str) -> &'a [f64] {
    get(lines, key).and_then(|v| v.get(1..)).unwrap_or(&[])
}

/// One `requests_total{method,proto}` series per operation: the line's value, or 0.
fn requests(
    out: &mut MetricSet,
    name: &str,
    proto: &str,
    methods: &[(usize, &str)],
    values: &[f64],
) {
    for (index, method) in methods {
        out.counter(
            name,
            "Number of NFS procedures invoked.",
            &[("method", method), ("proto", proto)],
            values.get(*index).copied().unwrap_or(0.0),
        );
    }
}

fn get<'a>(lines: &'a [(String, Vec<f64>)], key: &str) -> Option<&'a [f64]> {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// The `n`th number of a line, 0 when the line or the number is missing.
fn nth(lines: &[(String, Vec<f64>)], key: &str, n: usize) -> f64 {
    get(lines, key)
        .and_then(|v| v.get(n))
        .copied()
        .unwrap_or(0.0)
}

fn all(methods: &'static [&'static str]) -> Vec<(usize, &'static str)> {
    methods.iter().copied().enumerate().collect()
}

/// A version's operations without `Null`, which the server does not report.
fn without_null(methods: &'static [&'static str]) -> Vec<(usize, &'static str)> {
    all(methods)
        .into_iter()
        .filter(|(_, m)| *m != "Null")
        .collect()
}

pub fn collect_client(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let lines = read_stats(ctx, "net/rpc/nfs")?;
    for (protocol, n) in [("udp", 1), ("tcp", 2)] {
        out.counter(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &[("protocol", protocol)],
            nth(&lines, "net", n),
        );
    }
    out.counter(
        "node_nfs_connections_total",
        "Total number of NFSd TCP connections.",
        &[],
        nth(&lines, "net", 3),
    );
    for (name, help, n) in [
        ("node_nfs_rpcs_total", "Total number of RPCs performed.", 0),
        (
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            1,
        ),
        (
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            2,
        ),
    ] {
        out.counter(name, help, &[], nth(&lines, "rpc", n));
    }
    let name = "node_nfs_requests_total";
    requests(out, name, "2", &all(V2), counters(&lines, "proc2"));
    requests(out, name, "3", &all(V3), counters(&lines, "proc3"));
    requests(out, name, "4", &all(CLIENT_V4), counters(&lines, "proc4"));
    Ok(())
}

pub fn collect_server(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let lines = read_stats(ctx, "net/rpc/nfsd")?;
    let counter = |out: &mut MetricSet, name: &str, help: &str, key: &str, n: usize| {
        out.counter(name, help, &[], nth(&lines, key, n));
    };
    counter(
        out,
        "node_nfsd_reply_cache_hits_total",
        "Total number of NFSd Reply Cache hits (client lost server response).",
        "rc",
        0,
    );
    counter(
        out,
        "node_nfsd_reply_cache_misses_total",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        "rc",
        1,
    );
    counter(
        out,
        "node_nfsd_reply_cache_nocache_total",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        "rc",
        2,
    );
    counter(
        out,
        "node_nfsd_file_handles_stale_total",
        "Total number of NFSd stale file handles",
        "fh",
        0,
    );
    counter(
        out,
        "node_nfsd_disk_bytes_read_total",
        "Total NFSd bytes read.",
        "io",
        0,
    );
    counter(
        out,
        "node_nfsd_disk_bytes_written_total",
        "Total NFSd bytes written.",
        "io",
        1,
    );
    out.gauge(
        "node_nfsd_server_threads",
        "Total number of NFSd kernel threads that are running.",
        &[],
        nth(&lines, "th", 0),
    );
    out.gauge(
        "node_nfsd_read_ahead_cache_size_blocks",
        "How large the read ahead cache is in blocks.",
        &[],
        nth(&lines, "ra", 0),
    );
    counter(
        out,
        "node_nfsd_read_ahead_cache_not_found_total",
        "Total number of NFSd read ahead cache not found.",
        "ra",
        11,
    );
    for (proto, n) in [("udp", 1), ("tcp", 2)] {
        out.counter(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &[("proto", proto)],
            nth(&lines, "net", n),
        );
    }
    counter(
        out,
        "node_nfsd_connections_total",
        "Total number of NFSd TCP connections.",
        "net",
        3,
    );
    for (error, n) in [("fmt", 2), ("auth", 3), ("cInt", 4)] {
        out.counter(
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
            &[("error", error)],
            nth(&lines, "rpc", n),
        );
    }
    counter(
        out,
        "node_nfsd_server_rpcs_total",
        "Total number of NFSd RPCs.",
        "rpc",
        0,
    );
    let name = "node_nfsd_requests_total";
    requests(out, name, "2", &without_null(V2), counters(&lines, "proc2"));
    requests(out, name, "3", &without_null(V3), counters(&lines, "proc3"));
    requests(out, name, "4", SERVER_V4_OPS, counters(&lines, "proc4ops"));
    out.counter(
        name,
        "Number of NFS procedures invoked.",
        &[("method", "WdelegGetattr"), ("proto", "4")],
        nth(&lines, "wdeleg_getattr", 0),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_position_and_missing_ones_are_zero() {
        let lines =
            parse("net 18628 0 18628 6\nrpc 4329785 0 4338291\nproc3 22 1 4084749 29200 94754\n")
                .unwrap();
        assert_eq!(get(&lines, "rpc"), Some(&[4329785.0, 0.0, 4338291.0][..]));
        let mut set = MetricSet::new();
        let name = "node_nfs_requests_total";
        requests(&mut set, name, "3", &all(V3), counters(&lines, "proc3"));
        requests(
            &mut set,
            name,
            "4",
            &all(CLIENT_V4),
            counters(&lines, "proc4"),
        );
        assert_eq!(set.sample_count(name), V3.len() + CLIENT_V4.len());
        let v3 = |m| set.value(name, &[("method", m), ("proto", "3")]);
        assert_eq!(
            (v3("Null"), v3("GetAttr"), v3("Lookup")),
            (Some(1.0), Some(4084749.0), Some(94754.0))
        );
        assert_eq!(v3("Commit"), Some(0.0));
        assert_eq!(
            set.value(name, &[("method", "Clone"), ("proto", "4")]),
            Some(0.0)
        );
    }

    #[test]
    fn server_v4_operations_skip_the_unused_numbers() {
        let ops: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let lines = parse(&format!("proc4ops 40 {}\n", ops.join(" "))).unwrap();
        let mut set = MetricSet::new();
        let name = "node_nfsd_requests_total";
        requests(
            &mut set,
            name,
            "4",
            SERVER_V4_OPS,
            counters(&lines, "proc4ops"),
        );
        let op = |m| set.value(name, &[("method", m), ("proto", "4")]);
        // ACCESS is operation 3; READ (25) follows PUTFH (22) after PUTPUBFH and PUTROOTFH.
        assert_eq!(
            (op("Access"), op("PutFH"), op("Read")),
            (Some(3.0), Some(22.0), Some(25.0))
        );
        assert_eq!(op("RelLockOwner"), Some(39.0));
        assert_eq!(set.sample_count(name), SERVER_V4_OPS.len());
    }
}
