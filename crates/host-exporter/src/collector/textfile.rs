//! The textfile collector: metrics that other programs write as `*.prom` files in
//! `--collector.textfile.directory`, plus `node_textfile_mtime_seconds{file}` for each file read
//! and `node_textfile_scrape_error` (1 when any file could not be read or parsed, which then
//! contributes nothing), as node_exporter does.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use metrics_core::MetricSet;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary, Untyped,
};
use serde::{Deserialize, Serialize};

use super::{CollectorError, Host};

type Labels = Vec<(String, String)>;

struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

#[derive(Default)]
struct Pending {
    help: Option<String>,
    kind: Option<MetricType>,
    samples: Vec<Sample>,
}

/// Parses one file of the Prometheus text format into families. Client-side timestamps are
/// rejected, as node_exporter does.
pub fn parse(text: &str, default_help: &str) -> Result<Vec<MetricFamily>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut families: BTreeMap<String, Pending> = BTreeMap::new();
    let entry = |name: &str, order: &mut Vec<String>| -> String {
        if !order.iter().any(|n| n == name) {
            order.push(name.to_string());
        }
        name.to_string()
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |why: String| format!("line {}: {why}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, char::is_whitespace);
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), help) => {
                    let key = entry(name, &mut order);
                    families.entry(key).or_default().help = Some(unescape_help(help.unwrap_or("")));
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let kind = match kind.trim() {
                        "counter" => MetricType::COUNTER,
                        "gauge" => MetricType::GAUGE,
                        "histogram" => MetricType::HISTOGRAM,
                        "summary" => MetricType::SUMMARY,
                        "untyped" => MetricType::UNTYPED,
                        other => return Err(at(format!("unknown metric type {other:?}"))),
                    };
                    let key = entry(name, &mut order);
                    let family = families.entry(key).or_default();
                    if family.kind.is_some() || !family.samples.is_empty() {
                        return Err(at(format!("second TYPE line for {name}")));
                    }
                    family.kind = Some(kind);
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let family = family_of(&sample.name, &families);
        let key = entry(&family, &mut order);
        families.entry(key).or_default().samples.push(sample);
    }
    let mut out = Vec::with_capacity(order.len());
    for name in order {
        let Some(p) = families.remove(&name) else {
            continue;
        };
        if p.samples.is_empty() {
            continue;
        }
        let kind = p.kind.unwrap_or(MetricType::UNTYPED);
        let mut family = MetricFamily::default();
        family.set_name(name.clone());
        family.set_help(p.help.unwrap_or_else(|| default_help.to_string()));
        family.set_field_type(kind);
        family.set_metric(build_metrics(&name, kind, p.samples)?);
        out.push(family);
    }
    Ok(out)
}

fn unescape_help(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\\\", "\\")
}

/// `x_bucket`, `x_sum`, `x_count` belong to a histogram or summary `x` declared before them.
fn family_of(sample: &str, families: &BTreeMap<String, Pending>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if let Some(p) = families.get(base) {
                let histogram = p.kind == Some(MetricType::HISTOGRAM);
                let summary = p.kind == Some(MetricType::SUMMARY);
                if histogram || (summary && suffix != "_bucket") {
                    return base.to_string();
                }
            }
        }
    }
    sample.to_string()
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        v => v
            .parse()
            .map_err(|_| format!("expected float as value, got {v:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        })
    {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let close;
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
            {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    close = *i;
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            let key = key.trim().to_string();
            if key.is_empty() {
                return Err("empty label name".into());
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key}: value is not quoted"));
            }
            let mut value = String::new();
            let mut escaped = false;
            let mut closed = false;
            for (_, c) in chars.by_ref() {
                if escaped {
                    value.push(if c == 'n' { '\n' } else { c });
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    closed = true;
                    break;
                } else {
                    value.push(c);
                }
            }
            if !closed {
                return Err(format!("label {key}: unterminated value"));
            }
            labels.push((key, value));
        }
        rest = &body[close + 1..];
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if fields.next().is_some() {
        return Err("client-side timestamps are not supported".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn label_pairs(labels: &[(String, String)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(k, v)| {
            let mut p = LabelPair::default();
            p.set_name(k.clone());
            p.set_value(v.clone());
            p
        })
        .collect()
}

#[allow(deprecated)] // Untyped: see MetricSet::untyped
fn build_metrics(
    name: &str,
    kind: MetricType,
    samples: Vec<Sample>,
) -> Result<Vec<Metric>, String> {
    match kind {
        MetricType::HISTOGRAM | MetricType::SUMMARY => {
            // Group by the label set without `le` / `quantile`.
            let special = if kind == MetricType::HISTOGRAM {
                "le"
            } else {
                "quantile"
            };
            let mut groups: Vec<(Labels, Vec<Sample>)> = Vec::new();
            for s in samples {
                let key: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .filter(|(k, _)| k != special)
                    .cloned()
                    .collect();
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(s),
                    None => groups.push((key, vec![s])),
                }
            }
            let mut out = Vec::with_capacity(groups.len());
            for (labels, group) in groups {
                let mut m = Metric::default();
                m.set_label(label_pairs(&labels));
                let (mut sum, mut count) = (0.0, 0u64);
                let mut points = Vec::new();
                for s in group {
                    if s.name == format!("{name}_sum") {
                        sum = s.value;
                    } else if s.name == format!("{name}_count") {
                        count = s.value as u64;
                    } else {
                        let bound = s
                            .labels
                            .iter()
                            .find(|(k, _)| k == special)
                            .ok_or_else(|| format!("{} without {special} label", s.name))?;
                        points.push((parse_value(&bound.1)?, s.value));
                    }
                }
                if kind == MetricType::HISTOGRAM {
                    let mut h = Histogram::default();
                    h.set_sample_sum(sum);
                    h.set_sample_count(count);
                    h.set_bucket(
                        points
                            .into_iter()
                            .filter(|(le, _)| le.is_finite())
                            .map(|(le, v)| {
                                let mut b = Bucket::default();
                                b.set_upper_bound(le);
                                b.set_cumulative_count(v as u64);
                                b
                            })
                            .collect(),
                    );
                    m.set_histogram(h);
                } else {
                    let mut s = Summary::default();
                    s.set_sample_sum(sum);
                    s.set_sample_count(count);
                    s.set_quantile(
                        points
                            .into_iter()
                            .map(|(q, v)| {
                                let mut quantile = Quantile::default();
                                quantile.set_quantile(q);
                                quantile.set_value(v);
                                quantile
                            })
                            .collect(),
                    );
                    m.set_summary(s);
                }
                out.push(m);
            }
            Ok(out)
        }
        _ => Ok(samples
            .into_iter()
            .map(|s| {
                let mut m = Metric::default();
                m.set_label(label_pairs(&s.labels));
                match kind {
                    MetricType::COUNTER => {
                        let mut c = Counter::default();
                        c.set_value(s.value);
                        m.set_counter(c);
                    }
                    MetricType::GAUGE => {
                        let mut g = Gauge::default();
                        g.set_value(s.value);
                        m.set_gauge(g);
                    }
                    _ => {
                        let mut u = Untyped::default();
                        u.set_value(s.value);
                        m.set_untyped(u);
                    }
                }
                m
            })
            .collect()),
    }
}

fn read_file(path: &Path) -> Result<(Vec<MetricFamily>, f64), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| e.to_string())?
        .duration_since(UNIX_EPOCH)
        // Whole seconds, as node_exporter reports it.
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0);
    let families = parse(&text, &format!("Metric read from {}", path.display()))?;
    Ok((families, mtime))
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let dir = ctx.textfile_directory.as_str();
    let mut errored = false;
    let mut mtimes: Vec<(String, f64)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    if !dir.is_empty() {
        match std::fs::read_dir(dir) {
            Err(e) => {
                errored = true;
                problems.push(format!(
                    "failed to read textfile collector directory {dir}: {e}"
                ));
            }
            Ok(entries) => {
                let mut files: Vec<_> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "prom") && p.is_file())
                    .collect();
                files.sort();
                for path in files {
                    match read_file(&path) {
                        Ok((families, mtime)) => {
                            out.extend_families(families);
                            mtimes.push((path.display().to_string(), mtime));
                        }
                        Err(why) => {
                            errored = true;
                            problems.push(format!(
                                "failed to collect textfile data from {}: {why}",
                                path.display()
                            ));
                        }
                    }
                }
            }
        }
    }
    // Each problem is logged when it appears, not on every scrape while it lasts.
    {
        let mut logged = match ctx.textfile_problems.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        for p in problems.iter().filter(|p| !logged.contains(p)) {
            tracing::error!(collector = "textfile", error = %p, "textfile problem");
        }
        *logged = problems;
    }
    for (file, mtime) in &mtimes {
        out.gauge(
            "node_textfile_mtime_seconds",
            "Unixtime mtime of textfiles successfully read.",
            &[("file", file)],
            *mtime,
        );
    }
    out.gauge(
        "node_textfile_scrape_error",
        "1 if there was an error opening or reading a file, 0 otherwise",
        &[],
        if errored { 1.0 } else { 0.0 },
    );
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextfileSettings {
    pub directory: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# HELP my_metric A test.\n# TYPE my_metric gauge\nmy_metric{a=\"1\",b=\"x\\\"y\"} 3\n\
        # TYPE my_hist histogram\nmy_hist_bucket{le=\"1\"} 1\nmy_hist_bucket{le=\"+Inf\"} 2\nmy_hist_sum 3\nmy_hist_count 2\n\
        untyped_thing 5\n";

    #[test]
    fn parses_gauges_histograms_and_untyped() {
        let f = parse(SAMPLE, "Metric read from x").unwrap();
        let names: Vec<&str> = f.iter().map(|f| f.name()).collect();
        assert_eq!(names, vec!["my_metric", "my_hist", "untyped_thing"]);
        assert_eq!(f[0].get_metric()[0].get_label()[1].value(), "x\"y");
        let h = f[1].get_metric()[0].get_histogram();
        assert_eq!((h.get_sample_count(), h.get_sample_sum()), (2, 3.0));
        assert_eq!(h.get_bucket().len(), 1);
        assert_eq!(f[2].help(), "Metric read from x");
    }

    #[test]
    fn bad_lines_and_timestamps_are_errors() {
        assert!(parse("bad line {\n", "").is_err());
        assert!(parse("x 1 1700000000000\n", "").is_err());
        assert!(parse("x{a=\"1} 1\n", "").is_err());
    }
}
