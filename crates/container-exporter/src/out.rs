//! Where the family builders write: one container's samples into the scrape's set, each with
//! the container's base labels.

use metrics_core::MetricSet;

/// The scrape's set and the base labels of the container being written.
pub(crate) struct Out<'a> {
    set: &'a mut MetricSet,
    base: Vec<(&'a str, &'a str)>,
}

impl<'a> Out<'a> {
    /// Writes into `set`, every sample with the labels `base` first.
    pub(crate) fn new(set: &'a mut MetricSet, base: &'a [(String, String)]) -> Self {
        Out {
            set,
            base: base.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        }
    }

    pub(crate) fn gauge(&mut self, name: &str, help: &str, extra: &[(&str, &str)], v: f64) {
        let labels = join(&self.base, extra);
        self.set.gauge(name, help, &labels, v);
    }
    pub(crate) fn counter(&mut self, name: &str, help: &str, extra: &[(&str, &str)], v: f64) {
        let labels = join(&self.base, extra);
        self.set.counter(name, help, &labels, v);
    }
}

fn join<'l>(base: &[(&'l str, &'l str)], extra: &[(&'l str, &'l str)]) -> Vec<(&'l str, &'l str)> {
    let mut all = Vec::with_capacity(base.len() + extra.len());
    all.extend_from_slice(base);
    all.extend_from_slice(extra);
    all
}
