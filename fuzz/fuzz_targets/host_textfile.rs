//! host-exporter's textfile collector: a `*.prom` file written by another program, parsed and
//! served on host-exporter's /metrics. Properties: nothing panics, and what the collector
//! serves from a file it accepted parses again with the same families (the file cannot break
//! the exposition format of the whole scrape).
#![no_main]

use host_exporter_src::collector::textfile;
use libfuzzer_sys::fuzz_target;
use metrics_core::MetricSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(families) = textfile::parse(text, "Metric read from fuzz.prom") else {
        return;
    };
    let names: Vec<String> = families.iter().map(|f| f.name().to_string()).collect();
    let mut set = MetricSet::new();
    set.extend_families(families);
    let mut served = Vec::new();
    if set.encode_text(&mut served).is_err() {
        return;
    }
    let served = String::from_utf8(served).expect("the exposition is UTF-8");
    let again = match textfile::parse(&served, "") {
        Ok(f) => f,
        Err(why) => panic!("served text does not parse: {why}\n{served}"),
    };
    let mut again_names: Vec<String> = again.iter().map(|f| f.name().to_string()).collect();
    let mut names = names;
    names.sort();
    names.dedup();
    again_names.sort();
    assert_eq!(
        names, again_names,
        "families changed on the way out:\n{served}"
    );
});
