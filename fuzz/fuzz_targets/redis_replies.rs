//! redis-exporter's reading of a Redis server's other replies as raw RESP bytes: `CONFIG GET`,
//! `SLOWLOG LEN`, `SLOWLOG GET 1`, `LATENCY LATEST` and `LATENCY HISTOGRAM`, then the metric
//! families made from them. Properties: nothing panics; what is kept is capped as documented;
//! the served exposition parses again.
#![no_main]

use host_exporter_src::collector::textfile;
use libfuzzer_sys::fuzz_target;
use metrics_core::MetricSet;
use redis_exporter::replies;
use redis_exporter::snapshot::{write_metrics, Naming, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Some(reply) = replies::parse_resp(data) else {
        return;
    };
    let config = replies::config_get(reply.clone());
    assert!(config.len() <= replies::MAX_CONFIG_PAIRS);
    let latency_spikes = replies::latency_latest(reply.clone());
    assert!(latency_spikes.len() <= replies::MAX_LATENCY_EVENTS);
    let latency_histograms = replies::latency_histogram(reply.clone());
    assert!(latency_histograms.len() <= replies::MAX_HISTOGRAM_COMMANDS);
    assert!(latency_histograms
        .iter()
        .all(|h| h.buckets.len() <= replies::MAX_HISTOGRAM_BUCKETS));
    let snapshot = Snapshot {
        config,
        slowlog_length: replies::slowlog_len(reply.clone()),
        slowlog_last: replies::slowlog_get(reply),
        latency_spikes,
        latency_histograms,
        ..Snapshot::default()
    };
    let naming = Naming {
        namespace: "redis".into(),
        include_system_metrics: false,
    };
    let mut set = MetricSet::new();
    write_metrics(&snapshot, &naming, 1.7e9, &mut set);
    let mut served = Vec::new();
    set.encode_text(&mut served).expect("the families encode");
    let served = String::from_utf8(served).expect("the exposition is UTF-8");
    if let Err(why) = textfile::parse(&served, "") {
        panic!("served text does not parse: {why}\n{served}");
    }
});
