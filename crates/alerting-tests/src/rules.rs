//! Reading the alert rule files and the promtool unit tests, and making the fast copies of the
//! rules that the end-to-end test loads.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

/// One alerting rule, as written in `prometheus/alerts/*.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub group: String,
    pub alert: String,
    pub expr: String,
    /// The `for:` duration as written (`None` when absent).
    pub for_duration: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The alerting rules of one rule file, in order (recording rules are skipped).
pub fn alert_rules(path: &Path) -> Result<Vec<AlertRule>, String> {
    let doc = read_yaml(path)?;
    let mut rules = Vec::new();
    for group in doc["groups"].as_sequence().into_iter().flatten() {
        let group_name = group["name"].as_str().unwrap_or_default().to_string();
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            let Some(alert) = rule["alert"].as_str() else {
                continue;
            };
            rules.push(AlertRule {
                group: group_name.clone(),
                alert: alert.to_string(),
                expr: rule["expr"].as_str().unwrap_or_default().to_string(),
                for_duration: rule["for"].as_str().map(str::to_string),
                labels: string_map(&rule["labels"]),
                annotations: string_map(&rule["annotations"]),
            });
        }
    }
    Ok(rules)
}

/// What the promtool unit tests of one file check for an alert: how many `alert_rule_test`
/// cases expect it to fire (non-empty `exp_alerts`) and how many expect silence.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub firing_cases: usize,
    pub silent_cases: usize,
}

/// The coverage of every alert name in a `promtool test rules` file.
pub fn unit_test_coverage(path: &Path) -> Result<BTreeMap<String, Coverage>, String> {
    let doc = read_yaml(path)?;
    let mut coverage: BTreeMap<String, Coverage> = BTreeMap::new();
    for test in doc["tests"].as_sequence().into_iter().flatten() {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let Some(name) = case["alertname"].as_str() else {
                continue;
            };
            let entry = coverage.entry(name.to_string()).or_default();
            if case["exp_alerts"]
                .as_sequence()
                .is_some_and(|a| !a.is_empty())
            {
                entry.firing_cases += 1;
            } else {
                entry.silent_cases += 1;
            }
        }
    }
    Ok(coverage)
}

/// The rule file's text with every rule's `for:` set to `for_duration`: the end-to-end test
/// uses seconds where the real rules wait minutes (the unit tests cover the real durations).
pub fn with_for_duration(text: &str, for_duration: &str) -> Result<String, String> {
    let mut doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    for group in doc["groups"].as_sequence_mut().into_iter().flatten() {
        for rule in group["rules"].as_sequence_mut().into_iter().flatten() {
            if let Some(rule) = rule.as_mapping_mut() {
                if rule.contains_key("alert") {
                    rule.insert("for".into(), for_duration.into());
                }
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n      - alert: A\n        expr: up == 0\n        for: 5m\n        labels: {severity: warning}\n";

    #[test]
    fn with_for_duration_rewrites_alerts_only() {
        let fast = with_for_duration(RULES, "2s").unwrap();
        let doc: Value = serde_yaml::from_str(&fast).unwrap();
        let rules = doc["groups"][0]["rules"].as_sequence().unwrap();
        assert!(
            rules[0].get("for").is_none(),
            "recording rule got a for: {fast}"
        );
        assert_eq!(rules[1]["for"].as_str(), Some("2s"));
        assert_eq!(rules[1]["expr"].as_str(), Some("up == 0"));
    }
}
