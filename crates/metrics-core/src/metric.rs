//! Metric families built fresh from a snapshot on every scrape (the Go "const metric" idiom).
//!
//! Nothing here is long-lived: a series whose container, database or device is gone simply is
//! not added to the next scrape's set, so no stale series linger.
//!
//! Samples are rendered into the text format as they are added: an exporter's scrape is hundreds
//! to thousands of regular series, and building protobuf-shaped objects for each and encoding
//! them afterwards cost more CPU than reading the data (measured on pg-exporter: twice the CPU).

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::BuildHasherDefault;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::proto::{MetricFamily, MetricType};
use prometheus::Encoder;

/// A family's type, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Summary,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone)]
struct Family {
    // Shared, not owned: the index holds the name too, and pg-exporter clones its cached
    // settings families (hundreds) on every scrape.
    name: Arc<str>,
    help: Arc<str>,
    kind: Kind,
    /// Rendered sample lines.
    samples: Vec<u8>,
}

/// The families of one scrape, in the order they were first added.
#[derive(Debug, Clone, Default)]
pub struct MetricSet {
    families: Vec<Family>,
    index: HashMap<Arc<str>, usize, BuildHasherDefault<NameHasher>>,
    /// Labels stamped on every sample after its own (e.g. pg-exporter's `server`), rendered
    /// once as `,name="value"` pairs.
    common: Arc<[u8]>,
    /// Whole families rendered elsewhere (histograms from a prometheus registry, textfiles).
    prerendered: Vec<u8>,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set whose every sample also carries `common` labels, after its own.
    pub fn with_labels(common: Vec<(String, String)>) -> Self {
        Self {
            common: render_common(&common).into(),
            ..Self::default()
        }
    }

    /// An empty set with the same common labels.
    pub fn empty_like(&self) -> Self {
        Self {
            common: self.common.clone(),
            ..Self::default()
        }
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(Kind::Gauge, name, help, labels, value);
    }

    /// Adds a counter sample (a value read from elsewhere; it is never incremented here).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(Kind::Counter, name, help, labels, value);
    }

    /// Adds an untyped sample (what the Go exporters emit for values of unknown kind, e.g.
    /// node_exporter's vmstat and netstat families).
    pub fn untyped(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(Kind::Untyped, name, help, labels, value);
    }

    /// Adds one sample of a family of the given kind; the first sample of a name fixes the
    /// family's help and kind.
    pub fn sample(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let i = self.family(kind, name, help);
        let common = self.common.clone();
        let out = &mut self.families[i].samples;
        write_series(out, name, labels, &common, None);
        write_value(out, value);
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
        let i = self.family(Kind::Summary, name, help);
        let common = self.common.clone();
        let out = &mut self.families[i].samples;
        for (q, v) in quantiles {
            let q = format_value(*q);
            write_series(out, name, labels, &common, Some(("quantile", &q)));
            write_value(out, *v);
        }
        write_series(out, &format!("{name}_sum"), labels, &common, None);
        write_value(out, sum);
        write_series(out, &format!("{name}_count"), labels, &common, None);
        write_value(out, count as f64);
    }

    /// Adds a histogram sample from cumulative `(upper bound, count)` buckets read elsewhere
    /// (e.g. Redis' `LATENCY HISTOGRAM`); the `+Inf` bucket is `count`.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        let i = self.family(Kind::Histogram, name, help);
        let common = self.common.clone();
        let out = &mut self.families[i].samples;
        let bucket = format!("{name}_bucket");
        for (le, n) in buckets {
            let le = format_value(*le);
            write_series(out, &bucket, labels, &common, Some(("le", &le)));
            write_value(out, *n as f64);
        }
        write_series(out, &bucket, labels, &common, Some(("le", "+Inf")));
        write_value(out, count as f64);
        write_series(out, &format!("{name}_sum"), labels, &common, None);
        write_value(out, sum);
        write_series(out, &format!("{name}_count"), labels, &common, None);
        write_value(out, count as f64);
    }

    /// Moves every family of `other` into this set, merging samples of families both have.
    pub fn append(&mut self, other: MetricSet) {
        if self.families.is_empty() && self.prerendered.is_empty() {
            // Nothing to merge with (the usual first append of a scrape): take `other` whole.
            // Its samples are rendered already, so only our common labels, for samples added
            // later, are kept.
            let common = std::mem::take(&mut self.common);
            *self = other;
            self.common = common;
            return;
        }
        self.prerendered.extend_from_slice(&other.prerendered);
        self.index.reserve(other.families.len());
        for family in other.families {
            match self.index.get(&*family.name) {
                Some(&i) => self.families[i].samples.extend_from_slice(&family.samples),
                None => {
                    self.index.insert(family.name.clone(), self.families.len());
                    self.families.push(family);
                }
            }
        }
    }

    /// Adds families made elsewhere (a `prometheus::core::Collector` or registry, a parsed
    /// textfile). Their names must not be used by samples added to this set otherwise.
    pub fn extend_families(&mut self, families: Vec<MetricFamily>) {
        let encoder = prometheus::TextEncoder::new();
        for family in families {
            if family.get_metric().is_empty() {
                continue;
            }
            if family.get_field_type() == MetricType::UNTYPED {
                // The prometheus crate's text encoder panics on untyped families.
                self.extend_untyped(&family);
            } else if let Err(e) =
                encoder.encode(std::slice::from_ref(&family), &mut self.prerendered)
            {
                tracing::error!(family = family.name(), error = %e, "cannot encode metric family");
            }
        }
    }

    #[allow(deprecated)] // Untyped is "protobuf specific" in the prometheus crate, yet real.
    fn extend_untyped(&mut self, family: &MetricFamily) {
        for m in family.get_metric() {
            let labels: Vec<(&str, &str)> = m
                .get_label()
                .iter()
                .map(|p| (p.name(), p.value()))
                .collect();
            self.untyped(
                family.name(),
                family.help(),
                &labels,
                m.get_untyped().get_value(),
            );
        }
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

    /// The value of the first sample of family `name` whose labels include all of `labels`
    /// (for tests and for exporters that read back what a collector produced).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = &self.families[*self.index.get(name)?];
        let text = std::str::from_utf8(&family.samples).ok()?;
        text.lines().find_map(|line| {
            let wanted = labels.iter().all(|(k, v)| {
                let mut needle = String::with_capacity(k.len() + v.len() + 3);
                needle.push_str(k);
                needle.push_str("=\"");
                needle.push_str(&escape(v, true));
                needle.push('"');
                line.contains(&needle)
            });
            if !wanted || !line.starts_with(name) {
                return None;
            }
            match line.rsplit_once(' ')?.1 {
                "NaN" => Some(f64::NAN),
                "+Inf" => Some(f64::INFINITY),
                "-Inf" => Some(f64::NEG_INFINITY),
                v => v.parse().ok(),
            }
        })
    }

    /// Number of samples of family `name` (summaries count each line).
    pub fn sample_count(&self, name: &str) -> usize {
        self.index.get(name).map_or(0, |&i| {
            self.families[i]
                .samples
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        })
    }

    /// Whether a family of this name has samples.
    pub fn contains(&self, name: &str) -> bool {
        self.sample_count(name) > 0
    }

    /// Number of families (not counting pre-rendered ones).
    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty() && self.prerendered.is_empty()
    }

    /// Writes the Prometheus text format (0.0.4) into `buf`, skipping families with no samples.
    pub fn encode_text(&self, buf: &mut Vec<u8>) -> Result<(), prometheus::Error> {
        for f in &self.families {
            if f.samples.is_empty() {
                continue;
            }
            // Plain copies: the formatter cost more than the samples' rendering for the
            // hundreds of small families a PostgreSQL scrape has.
            for part in [
                "# HELP ",
                &f.name,
                " ",
                &escape(&f.help, false),
                "\n# TYPE ",
                &f.name,
                " ",
                f.kind.as_str(),
                "\n",
            ] {
                buf.extend_from_slice(part.as_bytes());
            }
            buf.extend_from_slice(&f.samples);
        }
        buf.extend_from_slice(&self.prerendered);
        Ok(())
    }

    fn family(&mut self, kind: Kind, name: &str, help: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let name: Arc<str> = name.into();
        self.index.insert(name.clone(), self.families.len());
        self.families.push(Family {
            name,
            help: help.into(),
            kind,
            samples: Vec::with_capacity(128),
        });
        self.families.len() - 1
    }
}

/// Common labels as they follow a sample's own: `,name="value"` for each.
fn render_common(common: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in common {
        write_label(&mut out, b',', k, v);
    }
    out
}

fn write_label(out: &mut Vec<u8>, sep: u8, name: &str, value: &str) {
    out.push(sep);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    out.extend_from_slice(escape(value, true).as_bytes());
    out.push(b'"');
}

/// `name{own labels,common labels,extra}` and a space; `common` is pre-rendered.
fn write_series(
    out: &mut Vec<u8>,
    name: &str,
    labels: &[(&str, &str)],
    common: &[u8],
    extra: Option<(&str, &str)>,
) {
    out.extend_from_slice(name.as_bytes());
    let mut sep = b'{';
    for (k, v) in labels {
        write_label(out, sep, k, v);
        sep = b',';
    }
    if let Some(rest) = common.strip_prefix(b",") {
        out.push(sep);
        out.extend_from_slice(rest);
        sep = b',';
    }
    if let Some((k, v)) = extra {
        write_label(out, sep, k, v);
        sep = b',';
    }
    if sep == b',' {
        out.push(b'}');
    }
    out.push(b' ');
}

fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Integral values (counts, bytes) are most samples: skip float formatting.
        write_integer(out, v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
    out.push(b'\n');
}

/// Decimal digits of `n`, without the formatting machinery (most samples are integers).
fn write_integer(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

fn format_value(v: f64) -> String {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out.pop();
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes a label value (backslash, quote, newline) or a help text (no quote).
fn escape(text: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    // A fold without early exit: the compiler vectorises it, and almost no text needs escaping.
    let special = text.bytes().fold(false, |found, b| {
        found | (b == b'\\') | (b == b'\n') | (quote & (b == b'"'))
    });
    if !special {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The family index's hash (rustc's FxHash): every sample looks its family name up, and
/// SipHash on these short names, which come from the exporters' code and configuration, not
/// from requests, was a tenth of pg-exporter's CPU per scrape (callgrind).
#[derive(Default, Clone, Copy)]
struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = self
            .0
            .wrapping_add(word)
            .wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak; hashbrown takes its bucket from them.
        self.0.rotate_left(26)
    }
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
        assert!(!set.contains("half_done"));
        let out = text(&set);
        assert!(
            out.contains("node_scrape_collector_success{collector=\"broken\"} 0"),
            "{out}"
        );
    }

    #[test]
    fn common_labels_follow_each_samples_own() {
        let mut set = MetricSet::with_labels(vec![("server".into(), "db:5432".into())]);
        set.gauge("g", "h", &[("datname", "app")], 1.0);
        let mut more = set.empty_like();
        more.summary("s", "h", &[], &[(0.5, 2.0)], 3.0, 4);
        set.append(more);
        assert_eq!(
            text(&set),
            "# HELP g h\n# TYPE g gauge\ng{datname=\"app\",server=\"db:5432\"} 1\n\
             # HELP s h\n# TYPE s summary\ns{server=\"db:5432\",quantile=\"0.5\"} 2\n\
             s_sum{server=\"db:5432\"} 3\ns_count{server=\"db:5432\"} 4\n"
        );
    }

    #[test]
    fn histograms_end_with_inf_sum_and_count() {
        let mut set = MetricSet::new();
        set.histogram(
            "h_usec",
            "H.",
            &[("cmd", "get")],
            &[(2.0, 3), (4.0, 5)],
            11.5,
            6,
        );
        assert_eq!(
            text(&set),
            "# HELP h_usec H.\n# TYPE h_usec histogram\n\
             h_usec_bucket{cmd=\"get\",le=\"2\"} 3\nh_usec_bucket{cmd=\"get\",le=\"4\"} 5\n\
             h_usec_bucket{cmd=\"get\",le=\"+Inf\"} 6\nh_usec_sum{cmd=\"get\"} 11.5\n\
             h_usec_count{cmd=\"get\"} 6\n"
        );
    }

    #[test]
    fn families_from_a_prometheus_registry_are_encoded_after_ours() {
        let registry = prometheus::Registry::new();
        let h = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("lat_seconds", "L.").buckets(vec![0.1]),
        )
        .unwrap();
        registry.register(Box::new(h.clone())).unwrap();
        h.observe(0.05);
        let mut set = MetricSet::new();
        set.extend_families(registry.gather());
        set.gauge("g", "h", &[], 1.5);
        let out = text(&set);
        assert!(
            out.starts_with("# HELP g h\n# TYPE g gauge\ng 1.5\n"),
            "{out}"
        );
        assert!(out.contains("lat_seconds_bucket{le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("lat_seconds_count 1\n"), "{out}");
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
        assert_eq!(a.sample_count("g"), 2);
        assert_eq!(a.value("g", &[("k", "2")]), Some(2.0));
    }

    #[test]
    fn values_render_like_the_formatter() {
        for v in [
            0.0,
            -0.0,
            7.0,
            -42.0,
            1234567890123.0,
            999_999_999_999_999.0,
            1.5,
            -2.25,
            1e15,
            3e20,
        ] {
            let mut out = Vec::new();
            write_value(&mut out, v);
            let expected = if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}\n", v as i64)
            } else {
                format!("{v}\n")
            };
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{v}");
        }
    }

    #[test]
    fn append_into_an_empty_set_keeps_its_own_common_labels() {
        let mut a = MetricSet::with_labels(vec![("server".into(), "a".into())]);
        let mut b = MetricSet::with_labels(vec![("server".into(), "b".into())]);
        b.gauge("g", "h", &[], 1.0);
        a.append(b);
        a.gauge("g", "h", &[], 2.0);
        let mut c = MetricSet::new();
        c.counter("c_total", "c", &[], 3.0);
        a.append(c);
        assert_eq!(
            text(&a),
            "# HELP g h\n# TYPE g gauge\ng{server=\"b\"} 1\ng{server=\"a\"} 2\n\
             # HELP c_total c\n# TYPE c_total counter\nc_total 3\n"
        );
    }
}
