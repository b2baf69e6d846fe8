//! A parser for the Prometheus text format, enough to compare two exporters family by family.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name (`x_bucket`, `x_sum` for histograms and summaries).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Family {
    pub name: String,
    pub help: String,
    /// `counter`, `gauge`, `untyped`, `summary` or `histogram`.
    pub kind: String,
    pub samples: Vec<Sample>,
}

impl Family {
    /// Label names used by the family's samples, without `le`/`quantile`.
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.keys())
            .filter(|k| *k != "le" && *k != "quantile")
            .cloned()
            .collect()
    }

    /// The value of the sample whose labels include all of `labels`.
    pub fn value(&self, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }
}

/// The value on the line of `series` written exactly as the exporter writes it (name, then
/// labels in its order: `up`, `refused_total{reason="x"}`); `None` when no line has it.
pub fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Parses an exposition into families keyed by name. Samples without a `# TYPE` line form an
/// `untyped` family of their own name.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, tail) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
            let Some(name) = name else { continue };
            let family = families.entry(name.to_string()).or_insert_with(|| Family {
                name: name.to_string(),
                kind: "untyped".into(),
                ..Family::default()
            });
            match keyword {
                Some("HELP") => family.help = tail.to_string(),
                Some("TYPE") => family.kind = tail.to_string(),
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
        let family_name = family_of(&sample.name, &families);
        families
            .entry(family_name.clone())
            .or_insert_with(|| Family {
                name: family_name,
                kind: "untyped".into(),
                ..Family::default()
            })
            .samples
            .push(sample);
    }
    Ok(families)
}

fn family_of(sample: &str, families: &BTreeMap<String, Family>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if families
                .get(base)
                .is_some_and(|f| f.kind == "histogram" || f.kind == "summary")
            {
                return base.to_string();
            }
        }
    }
    sample.to_string()
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => (&line[..i], &line[i..]),
        None => return Err("no value".into()),
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end;
        loop {
            // label name
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            if let Some((i, '}')) = chars.peek().copied() {
                end = i;
                break;
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut value = String::new();
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                if escaped {
                    value.push(match c {
                        'n' => '\n',
                        other => other,
                    });
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    break;
                } else {
                    value.push(c);
                }
            }
            labels.insert(key.trim().to_string(), value);
            if chars.peek().is_none() {
                return Err("unterminated labels".into());
            }
        }
        &body[end + 1..]
    } else {
        rest
    };
    let value_text = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_value_finds_the_exact_series_only() {
        let text = "a_total{r=\"x\"} 3\na 1 1700000000\nab 9\n";
        assert_eq!(sample_value(text, "a"), Some(1.0));
        assert_eq!(sample_value(text, r#"a_total{r="x"}"#), Some(3.0));
        assert_eq!(sample_value(text, "a_total"), None);
        assert_eq!(sample_value(text, "b"), None);
    }

    #[test]
    fn parses_families_labels_and_summaries() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"z\"} 3\n\
                    # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\nloose 1e3\n";
        let f = parse(text).unwrap();
        assert_eq!(f["a_total"].kind, "counter");
        assert_eq!(f["a_total"].samples[0].labels["y"], "q\"z");
        assert_eq!(f["s"].samples.len(), 3);
        assert_eq!(f["loose"].samples[0].value, 1000.0);
        assert_eq!(f["a_total"].value(&[("x", "1")]), Some(3.0));
    }
}
