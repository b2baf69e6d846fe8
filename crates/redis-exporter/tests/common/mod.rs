//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Families whose names, chosen by redis_exporter, trip promtool's naming lints (a counter
/// without `_total`, a gauge with it, `_sec`/`_ms` units). Users' dashboards and rules use these
/// names, so they are kept; every other promtool complaint fails a test.
pub const UPSTREAM_NAMES_PROMTOOL_LINTS: &[&str] = &[
    "aof_current_rewrite_duration_sec",
    "aof_last_rewrite_duration_sec",
    "rdb_current_bgsave_duration_sec",
    "rdb_last_bgsave_duration_sec",
    "current_eviction_exceeded_time_ms",
    "eviction_exceeded_time_ms_total",
    "expire_cycle_cpu_time_ms_total",
    "dump_payload_sanitizations",
    "io_threaded_reads_processed",
    "io_threaded_writes_processed",
    "total_error_replies",
    "total_reads_processed",
    "total_writes_processed",
    "unexpected_error_replies",
    "expired_time_cap_reached_total",
    "migrate_cached_sockets_total",
    "memory_used_vm_total",
    "rdb_saves_total",
    "last_key_groups_scrape_duration_milliseconds",
];

/// promtool's complaints about `text`, less the naming lints of upstream's own names.
pub fn promtool_complaints(text: &str, namespace: &str) -> Vec<String> {
    testkit::promtool_check_metrics(text)
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("");
            let inherited = name
                .strip_prefix(namespace)
                .and_then(|n| n.strip_prefix('_'))
                .is_some_and(|n| UPSTREAM_NAMES_PROMTOOL_LINTS.contains(&n));
            !inherited
        })
        .map(str::to_string)
        .collect()
}
