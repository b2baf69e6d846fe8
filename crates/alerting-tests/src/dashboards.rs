//! The Grafana dashboards' panels and the PromQL behind them, with Grafana's template variables
//! replaced so that a plain Prometheus can run each query.

use std::path::Path;

use serde_json::Value;

/// One query of one panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelQuery {
    pub dashboard: String,
    pub panel_id: i64,
    pub panel_title: String,
    /// The query as written in the dashboard.
    pub expr: String,
}

impl PanelQuery {
    /// The query as Grafana would send it with every variable at "All".
    pub fn runnable(&self) -> String {
        substitute_variables(&self.expr)
    }
}

/// Reads and parses a dashboard file.
pub fn load(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

/// Every panel query of every dashboard in `grafana/dashboards/`, for checks against a live
/// Prometheus (the stack's end-to-end test runs each `runnable()` query and expects data).
pub fn all_panel_queries() -> Result<Vec<PanelQuery>, String> {
    let mut queries = Vec::new();
    for file in crate::paths::files_with_extension(&crate::paths::dashboards_dir(), "json") {
        queries.extend(panel_queries(&load(&file)?));
    }
    Ok(queries)
}

/// Every panel, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        for nested in panel["panels"].as_array().into_iter().flatten() {
            out.push(nested);
        }
    }
    out
}

/// Every panel target's PromQL.
pub fn panel_queries(dashboard: &Value) -> Vec<PanelQuery> {
    let title = dashboard["title"].as_str().unwrap_or_default();
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |target| {
                    Some(PanelQuery {
                        dashboard: title.to_string(),
                        panel_id: panel["id"].as_i64().unwrap_or_default(),
                        panel_title: panel["title"].as_str().unwrap_or_default().to_string(),
                        expr: target["expr"].as_str()?.to_string(),
                    })
                })
        })
        .collect()
}

/// The series selectors of the dashboard's `label_values(selector, label)` variables.
pub fn variable_selectors(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|variable| {
            let name = variable["name"].as_str()?.to_string();
            let query = variable["definition"].as_str()?;
            let inner = query.strip_prefix("label_values(")?.strip_suffix(')')?;
            let (selector, _label) = inner.rsplit_once(',')?;
            Some((name, substitute_variables(selector.trim())))
        })
        .collect()
}

/// Replaces Grafana's interval variables by `1m` and every other `$variable` / `${variable}`
/// by `.+` (the dashboards match variables with `=~`, so that is "All"); `$node` by `.*`, the
/// Swarm node variable's "All", which also matches series without a `node` label.
pub fn substitute_variables(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(match name {
            "__rate_interval" | "__interval" | "__range" => "1m",
            "node" => ".*",
            _ => ".+",
        });
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_intervals_and_variables() {
        assert_eq!(
            substitute_variables(
                r#"rate(x{name=~"$container", i=~"${instance}"}[$__rate_interval])"#
            ),
            r#"rate(x{name=~".+", i=~".+"}[1m])"#
        );
        assert_eq!(substitute_variables("up $ 1"), "up $ 1");
    }

    #[test]
    fn finds_queries_in_rows_and_variables() {
        let dashboard = serde_json::json!({
            "title": "T",
            "templating": {"list": [{"name": "instance", "definition": "label_values(redis_up{job=~\"$job\"}, instance)"}]},
            "panels": [
                {"id": 1, "type": "row", "title": "r", "panels": [
                    {"id": 2, "title": "nested", "targets": [{"expr": "up"}]}]},
                {"id": 3, "title": "top", "targets": [{"expr": "a"}, {"expr": "b"}]}
            ]
        });
        let exprs: Vec<_> = panel_queries(&dashboard)
            .into_iter()
            .map(|q| (q.panel_id, q.expr))
            .collect();
        assert_eq!(
            exprs,
            vec![(2, "up".into()), (3, "a".into()), (3, "b".into())]
        );
        assert_eq!(
            variable_selectors(&dashboard),
            vec![("instance".into(), r#"redis_up{job=~".+"}"#.into())]
        );
    }
}
