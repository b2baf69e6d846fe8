//! The exporter's own `process_*` metrics and a `*_build_info` gauge.

use prometheus::core::Collector;
use prometheus::process_collector::ProcessCollector;

use crate::MetricSet;

/// Reads `/proc/self` on each scrape for `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds` and friends, the same families the Go client exports (the ones the
/// `prometheus` crate lacks come from [`crate::process_extra`]).
pub struct ProcessMetrics {
    collector: ProcessCollector,
}

impl ProcessMetrics {
    pub fn new() -> Self {
        Self {
            collector: ProcessCollector::for_self(),
        }
    }

    pub fn collect_into(&self, set: &mut MetricSet) {
        set.extend_families(self.collector.collect());
        crate::process_extra::collect_into(set);
    }
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `{name}` gauge with value 1 carrying version labels, e.g. `node_exporter_build_info`.
pub fn build_info(set: &mut MetricSet, name: &str, what: &str, labels: &[(&str, &str)]) {
    set.gauge(
        name,
        &format!("A metric with a constant '1' value labeled by version, revision, branch, and the toolchain from which {what} was built."),
        labels,
        1.0,
    );
}
