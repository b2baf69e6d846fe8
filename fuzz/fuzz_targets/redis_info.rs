//! redis-exporter's reading of a Redis server's `INFO ALL` and `CLUSTER INFO` answers (a
//! hostile or broken server sends anything): parsed and turned into redis_exporter's metric
//! families, then served. Properties: nothing panics, and the served exposition parses again
//! (a server cannot break the scrape's text format with its field names or values).
#![no_main]

use host_exporter_src::collector::textfile;
use libfuzzer_sys::fuzz_target;
use metrics_core::MetricSet;
use redis_exporter::info;
use redis_exporter::snapshot::{write_metrics, Naming, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for entry in info::parse(text).entries() {
        let _ = info::number(entry.value);
        let _ = info::parse_keyspace(entry.value);
        let _ = info::parse_cmdstat(entry.value);
        let _ = info::parse_percentiles(entry.value);
        let _ = info::parse_errorstat(entry.value);
        let _ = info::parse_replica(entry.key, entry.value);
    }
    let snapshot = Snapshot {
        info: text.to_string(),
        cluster_info: Some(text.to_string()),
        ..Snapshot::default()
    };
    let naming = Naming {
        namespace: "redis".into(),
        include_system_metrics: true,
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
