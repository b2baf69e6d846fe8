//! Metric families built fresh from a snapshot on every scrape (the Go "const metric" idiom).
//!
//! Nothing here is long-lived: a series whose container, database or device is gone simply is
//! not added to the next scrape's set, so no stale series linger.

use std::collections::HashMap;
use std::fmt::Display;
use std::time::{Duration, Instant};

use prometheus::proto::{
    Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary, Untyped,
};
use prometheus::Encoder;

/// The families of one scrape, in the order they were first added.
#[derive(Debug, Default)]
pub struct MetricSet {
    families: Vec<MetricFamily>,
    index: HashMap<String, usize>,
    /// Families an exporter rendered itself (see [`MetricSet::append_text`]).
    text: Vec<u8>,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut g = Gauge::default();
        g.set_value(value);
        let mut m = metric(labels);
        m.set_gauge(g);
        self.push(name, help, MetricType::GAUGE, m);
    }

    /// Adds a counter sample (a value read from elsewhere; it is never incremented here).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut c = Counter::default();
        c.set_value(value);
        let mut m = metric(labels);
        m.set_counter(c);
        self.push(name, help, MetricType::COUNTER, m);
    }

    /// Adds an untyped sample (what the Go exporters emit for values of unknown kind, e.g.
    /// node_exporter's vmstat and netstat families). The prometheus crate marks `Untyped` as
    /// protobuf-specific, but its text encoder still writes it and compatibility needs the type.
    #[allow(deprecated)]
    pub fn untyped(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut u = Untyped::default();
        u.set_value(value);
        let mut m = metric(labels);
        m.set_untyped(u);
        self.push(name, help, MetricType::UNTYPED, m);
    }

    /// Adds a summary sample with the given `(quantile, value)` pairs.
    pub fn summary(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        sum: f64,
        count: u64,
    ) {
        let mut s = Summary::default();
        s.set_sample_sum(sum);
        s.set_sample_count(count);
        s.set_quantile(
            quantiles
                .iter()
                .map(|(q, v)| {
                    let mut quantile = Quantile::default();
                    quantile.set_quantile(*q);
                    quantile.set_value(*v);
                    quantile
                })
                .collect(),
        );
        let mut m = metric(labels);
        m.set_summary(s);
        self.push(name, help, MetricType::SUMMARY, m);
    }

    /// Moves every family of `other` into this set, merging samples of families both have.
    pub fn append(&mut self, other: MetricSet) {
        self.append_text(other.text);
        for mut family in other.families {
            match self.index.get(family.name()) {
                Some(&i) => {
                    let samples = family.take_metric();
                    self.families[i].mut_metric().extend(samples);
                }
                None => {
                    self.index
                        .insert(family.name().to_string(), self.families.len());
                    self.families.push(family);
                }
            }
        }
    }

    /// Adds complete families already rendered in the text format (`# HELP`, `# TYPE`, samples),
    /// written verbatim after the other families. A fast path for exporters with many regular
    /// series; the caller makes sure these families' names appear nowhere else in the set, and
    /// [`MetricSet::get`] does not see them.
    pub fn append_text(&mut self, text: Vec<u8>) {
        if self.text.is_empty() {
            self.text = text;
        } else {
            self.text.extend_from_slice(&text);
        }
    }

    /// Adds families made elsewhere (for example by a `prometheus::core::Collector`).
    pub fn extend_families(&mut self, families: Vec<MetricFamily>) {
        let mut other = MetricSet::new();
        for family in families {
            other
                .index
                .insert(family.name().to_string(), other.families.len());
            other.families.push(family);
        }
        self.append(other);
    }

    /// Records how one collector went, as node_exporter does:
    /// `{ns}_scrape_collector_success{collector}` and `{ns}_scrape_collector_duration_seconds{collector}`.
    pub fn record_collector(
        &mut self,
        namespace: &str,
        collector: &str,
        elapsed: Duration,
        ok: bool,
    ) {
        let labels = [("collector", collector)];
        self.gauge(
            &format!("{namespace}_scrape_collector_duration_seconds"),
            &format!("{namespace}: Duration of a collector scrape."),
            &labels,
            elapsed.as_secs_f64(),
        );
        self.gauge(
            &format!("{namespace}_scrape_collector_success"),
            &format!("{namespace}: Whether a collector succeeded."),
            &labels,
            if ok { 1.0 } else { 0.0 },
        );
    }

    /// Runs one collector into a set of its own and keeps its samples only if it succeeded; a
    /// failure is logged once and recorded, and the rest of the scrape goes on.
    pub fn run_collector<E: Display>(
        &mut self,
        namespace: &str,
        collector: &str,
        collect: impl FnOnce(&mut MetricSet) -> Result<(), E>,
    ) -> bool {
        let start = Instant::now();
        let mut own = MetricSet::new();
        let result = collect(&mut own);
        let elapsed = start.elapsed();
        let ok = match result {
            Ok(()) => {
                self.append(own);
                true
            }
            Err(e) => {
                tracing::error!(collector, error = %e, "collector failed");
                false
            }
        };
        self.record_collector(namespace, collector, elapsed, ok);
        ok
    }

    pub fn get(&self, name: &str) -> Option<&MetricFamily> {
        self.index.get(name).map(|&i| &self.families[i])
    }

    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    pub fn into_families(self) -> Vec<MetricFamily> {
        self.families
    }

    /// Number of families.
    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty() && self.text.is_empty()
    }

    /// Writes the Prometheus text format (0.0.4) into `buf`, skipping families with no samples.
    /// Families are encoded one at a time (no copies); untyped ones are written here because
    /// the prometheus crate's text encoder panics on them.
    pub fn encode_text(&self, buf: &mut Vec<u8>) -> Result<(), prometheus::Error> {
        let encoder = prometheus::TextEncoder::new();
        for family in &self.families {
            if family.get_metric().is_empty() {
                continue;
            }
            if family.get_field_type() == MetricType::UNTYPED {
                write_untyped(family, buf);
            } else {
                encoder.encode(std::slice::from_ref(family), buf)?;
            }
        }
        buf.extend_from_slice(&self.text);
        Ok(())
    }

    fn push(&mut self, name: &str, help: &str, kind: MetricType, m: Metric) {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let mut family = MetricFamily::default();
                family.set_name(name.to_string());
                family.set_help(help.to_string());
                family.set_field_type(kind);
                self.index.insert(name.to_string(), self.families.len());
                self.families.push(family);
                self.families.len() - 1
            }
        };
        self.families[i].mut_metric().push(m);
    }
}

#[allow(deprecated)]
fn write_untyped(family: &MetricFamily, buf: &mut Vec<u8>) {
    use std::io::Write;
    let name = family.name();
    let help = family.help().replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(buf, "# HELP {name} {help}\n# TYPE {name} untyped");
    for m in family.get_metric() {
        buf.extend_from_slice(name.as_bytes());
        let mut sep = '{';
        for pair in m.get_label() {
            let value = pair
                .value()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(buf, "{sep}{}=\"{value}\"", pair.name());
            sep = ',';
        }
        if sep == ',' {
            buf.push(b'}');
        }
        let v = m.get_untyped().get_value();
        let _ = if v.is_nan() {
            writeln!(buf, " NaN")
        } else if v.is_infinite() {
            writeln!(buf, " {}Inf", if v > 0.0 { '+' } else { '-' })
        } else {
            writeln!(buf, " {v}")
        };
    }
}

fn metric(labels: &[(&str, &str)]) -> Metric {
    let mut m = Metric::default();
    if !labels.is_empty() {
        m.set_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*k).to_string());
                    pair.set_value((*v).to_string());
                    pair
                })
                .collect(),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(set: &MetricSet) -> String {
        let mut buf = Vec::new();
        set.encode_text(&mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn samples_of_one_name_share_a_family_with_help_and_type() {
        let mut set = MetricSet::new();
        set.counter("x_total", "Things.", &[("cpu", "0")], 1.0);
        set.counter("x_total", "Things.", &[("cpu", "1")], 2.5);
        set.gauge("y", "Level.", &[], 3.0);
        assert_eq!(
            text(&set),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{cpu=\"0\"} 1\nx_total{cpu=\"1\"} 2.5\n\
             # HELP y Level.\n# TYPE y gauge\ny 3\n"
        );
    }

    #[test]
    fn failed_collector_keeps_no_partial_samples_and_reports_zero() {
        let mut set = MetricSet::new();
        let ok = set.run_collector("node", "broken", |s| {
            s.gauge("half_done", "h", &[], 1.0);
            Err("no such file /proc/nothing")
        });
        assert!(!ok);
        assert!(set.get("half_done").is_none());
        let out = text(&set);
        assert!(
            out.contains("node_scrape_collector_success{collector=\"broken\"} 0"),
            "{out}"
        );
    }

    #[test]
    fn prerendered_text_follows_the_families_and_survives_append() {
        let mut a = MetricSet::new();
        a.gauge("g", "h", &[], 1.0);
        let mut b = MetricSet::new();
        b.append_text(b"# HELP t T.\n# TYPE t gauge\nt 2\n".to_vec());
        a.append(b);
        assert_eq!(
            text(&a),
            "# HELP g h\n# TYPE g gauge\ng 1\n# HELP t T.\n# TYPE t gauge\nt 2\n"
        );
    }

    #[test]
    fn untyped_families_are_written() {
        let mut set = MetricSet::new();
        set.untyped("u", "Unknown \\ thing.", &[("a", "x\"y")], f64::NAN);
        set.untyped("u", "Unknown \\ thing.", &[], 2.5);
        assert_eq!(
            text(&set),
            "# HELP u Unknown \\\\ thing.\n# TYPE u untyped\nu{a=\"x\\\"y\"} NaN\nu 2.5\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut set = MetricSet::new();
        set.gauge("z", "h", &[("path", "a\"b\\c\nd")], 1.0);
        assert!(text(&set).contains(r#"z{path="a\"b\\c\nd"} 1"#));
    }

    #[test]
    fn append_merges_families_by_name() {
        let mut a = MetricSet::new();
        a.gauge("g", "h", &[("k", "1")], 1.0);
        let mut b = MetricSet::new();
        b.gauge("g", "h", &[("k", "2")], 2.0);
        a.append(b);
        assert_eq!(a.len(), 1);
        assert_eq!(a.get("g").unwrap().get_metric().len(), 2);
    }
}
