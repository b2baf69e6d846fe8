//! The exporter's own `process_*` metrics (the build-info gauge is in [`crate::build_info`]).

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
