//! What one scrape read from Redis, and the pure function that turns it into redis_exporter's
//! metric families. Nothing here talks to Redis, so it is tested on captured `INFO ALL` answers.

use std::collections::HashMap;

use metrics_core::MetricSet;

use crate::fields::{self, Kind};
use crate::info::{self, Info};

/// Everything read from one Redis during one scrape.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The `INFO ALL` answer.
    pub info: String,
    /// The `CLUSTER INFO` answer, on cluster nodes only.
    pub cluster_info: Option<String>,
    /// `CONFIG GET` answers for the settings redis_exporter exports (absent when `CONFIG` is
    /// renamed or forbidden, as on managed services).
    pub config: Vec<(String, String)>,
    pub slowlog_length: Option<f64>,
    /// `SLOWLOG GET 1`: `Some(None)` when the log is empty.
    pub slowlog_last: Option<Option<SlowlogEntry>>,
    /// `LATENCY LATEST`.
    pub latency_spikes: Vec<LatencySpike>,
    /// `LATENCY HISTOGRAM` (Redis 7; empty before, where the command is unknown).
    pub latency_histograms: Vec<CommandHistogram>,
    /// The keys asked for with `--check-keys` / `--check-single-keys`.
    pub keys: Vec<KeyStat>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowlogEntry {
    pub id: f64,
    pub duration_micros: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LatencySpike {
    pub event: String,
    /// Unix time of the latest spike.
    pub last: f64,
    pub latest_millis: f64,
}

/// One command's latency distribution from `LATENCY HISTOGRAM`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandHistogram {
    /// As Redis names it (`get`, `config|get`).
    pub cmd: String,
    pub calls: u64,
    /// Cumulative `(upper bound in microseconds, calls)` pairs, as Redis reports them.
    pub buckets: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyStat {
    pub db: u32,
    pub key: String,
    /// Length of a string, list, set, sorted set, hash or stream; HyperLogLog cardinality; 0
    /// for a key that does not exist.
    pub size: f64,
    /// The value of a string key that parses as a number.
    pub value: Option<f64>,
    /// The value of a (short) string key that does not.
    pub text: Option<String>,
    /// `MEMORY USAGE` of a key that exists, in bytes.
    pub memory: Option<f64>,
}

/// How the metrics are named and which optional ones are wanted.
#[derive(Debug, Clone)]
pub struct Naming {
    pub namespace: String,
    pub include_system_metrics: bool,
}

/// Adds metrics under one namespace, building each name in one reused buffer.
pub struct Writer<'a> {
    set: &'a mut MetricSet,
    namespace: &'a str,
    name: String,
}

impl<'a> Writer<'a> {
    pub fn new(set: &'a mut MetricSet, namespace: &'a str) -> Self {
        Self {
            set,
            namespace,
            name: String::with_capacity(64),
        }
    }

    fn full(&mut self, name: &str) -> &str {
        self.name.clear();
        if !self.namespace.is_empty() {
            self.name.push_str(self.namespace);
            self.name.push('_');
        }
        self.name.push_str(name);
        &self.name
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.full(name);
        self.set.gauge(&self.name, help, labels, value);
    }

    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.full(name);
        self.set.counter(&self.name, help, labels, value);
    }

    /// The set and `name` under the namespace, for the kinds with more parts than one value
    /// ([`MetricSet::summary`], [`MetricSet::histogram`]), called on the set directly.
    pub fn named(&mut self, name: &str) -> (&mut MetricSet, &str) {
        self.full(name);
        (&mut *self.set, &self.name)
    }
}

/// Writes every family the snapshot supports. `now` is the Unix time (for
/// `start_time_seconds`).
pub fn write_metrics(snapshot: &Snapshot, naming: &Naming, now: f64, set: &mut MetricSet) {
    let mut w = Writer::new(set, &naming.namespace);
    let info = info::parse(&snapshot.info);
    let db_count = database_count(snapshot, &info);
    write_info(
        &info,
        naming,
        db_count,
        now,
        &snapshot.latency_histograms,
        &mut w,
    );
    if let Some(cluster) = &snapshot.cluster_info {
        let mut help = String::new();
        for entry in info::parse(cluster).entries() {
            write_plain_field(entry.key, entry.value, naming, &mut w, &mut help);
        }
    }
    write_config(&snapshot.config, &mut w);
    write_slowlog(snapshot, &mut w);
    // Key groups are not implemented; upstream reports this family (0) whether or not any are
    // configured, and dashboards may read it.
    w.gauge(
        "last_key_groups_scrape_duration_milliseconds",
        "Duration of the last key group metrics scrape in milliseconds",
        &[],
        0.0,
    );
    for spike in &snapshot.latency_spikes {
        let labels = [("event_name", spike.event.as_str())];
        w.gauge(
            "latency_spike_last",
            "When the latency spike last occurred",
            &labels,
            spike.last,
        );
        w.gauge(
            "latency_spike_duration_seconds",
            "Length of the last latency spike in seconds",
            &labels,
            spike.latest_millis / 1e3,
        );
    }
    let mut db_label = String::new();
    for key in &snapshot.keys {
        db_label.clear();
        db_label.push_str("db");
        db_label.push_str(&key.db.to_string());
        let labels = [("db", db_label.as_str()), ("key", key.key.as_str())];
        w.gauge(
            "key_size",
            "The length or size of \"key\"",
            &labels,
            key.size,
        );
        if let Some(value) = key.value {
            w.gauge("key_value", "The value of \"key\"", &labels, value);
        }
        if let Some(bytes) = key.memory {
            w.gauge(
                "key_memory_usage_bytes",
                "The memory usage of \"key\" in bytes",
                &labels,
                bytes,
            );
        }
        if let Some(text) = &key.text {
            w.gauge(
                "key_value_as_string",
                "The value of \"key\" as a string",
                &[labels[0], labels[1], ("val", text)],
                1.0,
            );
        }
    }
}

/// Most databases padded with zero `db_keys` series: `CONFIG GET databases` comes from the server,
/// which could claim four billion.
pub const MAX_DATABASES: u32 = 4096;

/// Databases to report `db_keys` for: `CONFIG GET databases` (at most [`MAX_DATABASES`]), 1 on a
/// cluster node, else Redis' default of 16.
fn database_count(snapshot: &Snapshot, info: &Info<'_>) -> u32 {
    if info.get("cluster_enabled") == Some("1") {
        return 1;
    }
    snapshot
        .config
        .iter()
        .find(|(k, _)| k == "databases")
        .and_then(|(_, v)| v.parse().ok())
        .filter(|n| *n > 0)
        .map_or(16, |n: u32| n.min(MAX_DATABASES))
}

fn write_info(
    info: &Info<'_>,
    naming: &Naming,
    db_count: u32,
    now: f64,
    histograms: &[CommandHistogram],
    w: &mut Writer<'_>,
) {
    let mut master_host = "";
    let mut master_port = "";
    let mut dbs_seen = vec![false; db_count as usize];
    // cmd -> (calls, usec) for the latency summaries, whose percentiles come later in INFO, and
    // for the sums of the latency histograms.
    let mut command_totals: HashMap<&str, (f64, f64)> = HashMap::new();
    let mut percentiles: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    let mut help = String::with_capacity(64);

    for entry in info.entries() {
        let (key, value) = (entry.key, entry.value);
        if is_master_field(key, "_host") {
            master_host = value;
        } else if is_master_field(key, "_port") {
            master_port = value;
        }
        match entry.section {
            "Replication" if write_replication(key, value, master_host, master_port, w) => continue,
            "Server" if key == "uptime_in_seconds" => {
                if let Ok(uptime) = value.parse::<f64>() {
                    w.gauge(
                        "start_time_seconds",
                        "Start time of the Redis instance since unix epoch in seconds.",
                        &[],
                        (now - uptime).floor(),
                    );
                }
            }
            "Commandstats" => {
                if let (Some(cmd), Some(stats)) =
                    (key.strip_prefix("cmdstat_"), info::parse_cmdstat(value))
                {
                    let labels = [("cmd", cmd)];
                    w.counter(
                        "commands_total",
                        "Total number of calls per command",
                        &labels,
                        stats.calls,
                    );
                    w.counter(
                        "commands_duration_seconds_total",
                        "Total amount of time in seconds spent per command",
                        &labels,
                        stats.usec / 1e6,
                    );
                    if let (Some(rejected), Some(failed)) =
                        (stats.rejected_calls, stats.failed_calls)
                    {
                        w.counter(
                            "commands_rejected_calls_total",
                            "Total number of errors prior command execution per command",
                            &labels,
                            rejected,
                        );
                        w.counter(
                            "commands_failed_calls_total",
                            "Total number of errors within command execution per command",
                            &labels,
                            failed,
                        );
                    }
                    command_totals.insert(cmd, (stats.calls, stats.usec));
                }
                continue;
            }
            "Latencystats" => {
                if let (Some(cmd), Some(p)) = (
                    key.strip_prefix("latency_percentiles_usec_"),
                    info::parse_percentiles(value),
                ) {
                    percentiles.push((cmd, p));
                }
                continue;
            }
            "Errorstats" => {
                if let (Some(err), Some(count)) =
                    (key.strip_prefix("errorstat_"), info::parse_errorstat(value))
                {
                    w.counter(
                        "errors_total",
                        "Total number of errors per error type",
                        &[("err", err)],
                        count,
                    );
                }
                continue;
            }
            "Keyspace" => {
                if let (Some(index), Some(db)) = (
                    key.strip_prefix("db").and_then(|n| n.parse::<usize>().ok()),
                    info::parse_keyspace(value),
                ) {
                    let labels = [("db", key)];
                    w.gauge("db_keys", "Total number of keys by DB", &labels, db.keys);
                    w.gauge(
                        "db_keys_expiring",
                        "Total number of expiring keys by DB",
                        &labels,
                        db.expires,
                    );
                    if let Some(ttl) = db.avg_ttl_ms {
                        w.gauge(
                            "db_avg_ttl_seconds",
                            "Avg TTL in seconds",
                            &labels,
                            ttl / 1e3,
                        );
                    }
                    if let Some(cached) = db.cached_keys {
                        w.gauge(
                            "db_keys_cached",
                            "Total number of cached keys by DB",
                            &labels,
                            cached,
                        );
                    }
                    if let Some(seen) = dbs_seen.get_mut(index) {
                        *seen = true;
                    }
                    continue;
                }
            }
            _ => {}
        }
        write_plain_field(key, value, naming, w, &mut help);
    }

    for (cmd, quantiles) in &percentiles {
        if let Some((calls, usec)) = command_totals.get(cmd) {
            let (set, name) = w.named("latency_percentiles_usec");
            set.summary(
                name,
                "A summary of latency percentile distribution per command",
                &[("cmd", cmd)],
                quantiles,
                *usec,
                *calls as u64,
            );
        }
    }

    // As redis_exporter: the buckets and count from `LATENCY HISTOGRAM`, the sum from INFO's
    // commandstats (0 for a command INFO does not list yet).
    for h in histograms {
        let usec = command_totals.get(h.cmd.as_str()).map_or(0.0, |t| t.1);
        let (set, name) = w.named("commands_latencies_usec");
        set.histogram(
            name,
            "A histogram of latencies per command",
            &[("cmd", h.cmd.as_str())],
            &h.buckets,
            usec,
            h.calls,
        );
    }

    let mut name = String::new();
    for (index, seen) in dbs_seen.iter().enumerate() {
        if !seen {
            name.clear();
            name.push_str("db");
            name.push_str(&index.to_string());
            let labels = [("db", name.as_str())];
            w.gauge("db_keys", "Total number of keys by DB", &labels, 0.0);
            w.gauge(
                "db_keys_expiring",
                "Total number of expiring keys by DB",
                &labels,
                0.0,
            );
        }
    }

    let get = |key: &str| info.get(key).unwrap_or("");
    let mode = info
        .get("redis_mode")
        .or(info.get("server_mode"))
        .unwrap_or("");
    let role = get("role");
    w.gauge(
        "instance_info",
        "Information about the Redis instance",
        &[
            ("role", role),
            ("redis_version", get("redis_version")),
            ("redis_build_id", get("redis_build_id")),
            ("redis_mode", mode),
            ("os", get("os")),
            ("maxmemory_policy", get("maxmemory_policy")),
            ("tcp_port", get("tcp_port")),
            ("run_id", get("run_id")),
            ("process_id", get("process_id")),
            ("master_replid", get("master_replid")),
        ],
        1.0,
    );
    if role == "slave" {
        w.gauge(
            "slave_info",
            "Information about the Redis slave",
            &[
                ("master_host", get("master_host")),
                ("master_port", get("master_port")),
                ("read_only", get("slave_read_only")),
            ],
            1.0,
        );
    }
}

/// `master_host`, `master_1_host` (KeyDB multi-master) and the like.
fn is_master_field(key: &str, suffix: &str) -> bool {
    let Some(rest) = key
        .strip_prefix("master")
        .and_then(|r| r.strip_suffix(suffix))
    else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix('_')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The replication fields with labels; true when the field was handled here.
fn write_replication(key: &str, value: &str, host: &str, port: &str, w: &mut Writer<'_>) -> bool {
    let labels = [("master_host", host), ("master_port", port)];
    if is_master_field(key, "_link_status") {
        let up = if value == "up" { 1.0 } else { 0.0 };
        w.gauge(
            "master_link_up",
            "Master link status on Redis slave",
            &labels,
            up,
        );
        return true;
    }
    let direct = if is_master_field(key, "_last_io_seconds_ago") {
        Some(("master_last_io_seconds_ago", "Master last io seconds ago"))
    } else if is_master_field(key, "_sync_in_progress") {
        Some(("master_sync_in_progress", "Master sync in progress"))
    } else if key == "slave_repl_offset" {
        Some(("slave_repl_offset", "Slave replication offset"))
    } else {
        None
    };
    if let Some((name, help)) = direct {
        // Upstream parses these as integers and reports 0 for anything else.
        let v = value.parse::<i64>().map(|v| v as f64).unwrap_or(0.0);
        w.gauge(name, help, &labels, v);
        return true;
    }
    if let Some(replica) = info::parse_replica(key, value) {
        let labels = [
            ("slave_ip", replica.ip),
            ("slave_port", replica.port),
            ("slave_state", replica.state),
        ];
        w.gauge(
            "connected_slave_offset_bytes",
            "Offset of connected slave",
            &labels,
            replica.offset,
        );
        if let Some(lag) = replica.lag {
            w.gauge(
                "connected_slave_lag_seconds",
                "Lag of connected slave",
                &labels,
                lag,
            );
        }
        return true;
    }
    false
}

fn write_plain_field(
    key: &str,
    value: &str,
    naming: &Naming,
    w: &mut Writer<'_>,
    help: &mut String,
) {
    let (name, kind, divisor) = match key {
        "latest_fork_usec" => ("latest_fork_seconds", Kind::Gauge, 1e6),
        "total_system_memory" if naming.include_system_metrics => {
            ("total_system_memory_bytes", Kind::Gauge, 1.0)
        }
        _ => match fields::lookup(key) {
            Some((name, kind)) => (name, kind, 1.0),
            None if key.starts_with("cluster_") && is_metric_name(key) => (key, Kind::Gauge, 1.0),
            None => return,
        },
    };
    let Some(v) = info::number(value) else {
        return;
    };
    help.clear();
    help.push_str(name);
    help.push_str(" metric");
    // A divisor, not a factor: 827 / 1e6 prints as upstream's 0.000827, 827 * 1e-6 does not.
    match kind {
        Kind::Gauge => w.gauge(name, help, &[], v / divisor),
        Kind::Counter => w.counter(name, help, &[], v / divisor),
    }
}

fn is_metric_name(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `config_maxmemory`, `config_maxclients` and `config_io_threads`, as redis_exporter names them.
fn write_config(config: &[(String, String)], w: &mut Writer<'_>) {
    for (key, value) in config {
        if key == "client-output-buffer-limit" {
            write_output_buffer_limits(value, w);
            continue;
        }
        let name = match key.as_str() {
            "maxmemory" => "config_maxmemory",
            "maxclients" => "config_maxclients",
            "io-threads" => "config_io_threads",
            _ => continue,
        };
        if let Ok(v) = value.parse::<f64>() {
            w.gauge(name, &format!("{name} metric"), &[], v);
        }
    }
}

/// `client-output-buffer-limit`, `<class> <hard bytes> <soft bytes> <soft seconds>` per class
/// (`normal`, `slave`, `pubsub`): as redis_exporter, the two limits per class and how long the
/// soft one may be exceeded. A class whose figures are not numbers is left out.
fn write_output_buffer_limits(value: &str, w: &mut Writer<'_>) {
    let words: Vec<&str> = value.split_ascii_whitespace().collect();
    for class in words.chunks_exact(4) {
        let numbers: Option<Vec<f64>> = class[1..].iter().map(|n| n.parse().ok()).collect();
        let Some([hard, soft, seconds]) = numbers.as_deref() else {
            continue;
        };
        for (limit, bytes) in [("hard", hard), ("soft", soft)] {
            w.gauge(
                "config_client_output_buffer_limit_bytes",
                "The configured buffer limits per class",
                &[("class", class[0]), ("limit", limit)],
                *bytes,
            );
        }
        w.gauge(
            "config_client_output_buffer_limit_overcome_seconds",
            "How long for buffer limits per class to be exceeded before replicas are dropped",
            &[("class", class[0]), ("limit", "soft")],
            *seconds,
        );
    }
}

fn write_slowlog(snapshot: &Snapshot, w: &mut Writer<'_>) {
    if let Some(length) = snapshot.slowlog_length {
        w.gauge("slowlog_length", "Total slowlog", &[], length);
    }
    if let Some(last) = snapshot.slowlog_last {
        let last = last.unwrap_or(SlowlogEntry {
            id: 0.0,
            duration_micros: 0.0,
        });
        w.gauge("slowlog_last_id", "Last id of slowlog", &[], last.id);
        w.gauge(
            "last_slow_execution_duration_seconds",
            "The amount of time needed for last slow execution, in seconds",
            &[],
            last.duration_micros / 1e6,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_field_names() {
        assert!(is_master_field("master_host", "_host"));
        assert!(is_master_field("master_1_host", "_host"));
        assert!(!is_master_field("master_replid", "_host"));
        assert!(!is_master_field("master_x_host", "_host"));
        assert!(is_master_field("master_link_status", "_link_status"));
    }
}
