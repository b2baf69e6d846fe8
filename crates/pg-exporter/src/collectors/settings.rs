//! `pg_settings_<name>[_seconds|_bytes]`: every boolean and numeric server setting, with time
//! units converted to seconds and memory units to bytes, as postgres_exporter does.

use super::{for_rows, Out};
use crate::target::Session;

// The session's own statement_timeout is ours (set at connect); reset_val is the server's.
const QUERY: &str = "SELECT name, \
    CASE WHEN name = 'statement_timeout' THEN reset_val ELSE setting END, \
    COALESCE(unit, ''), short_desc, vartype \
    FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real') \
    AND name != 'sync_commit_cancel_wait'";

/// One setting as a sample: the family name, its value, and the unit note for the help text.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingSample {
    pub name: String,
    pub value: f64,
    pub converted_to: Option<&'static str>,
}

/// Converts one row of `pg_settings`; `None` for values or units it cannot read.
pub fn setting_sample(
    name: &str,
    setting: &str,
    unit: &str,
    vartype: &str,
) -> Option<SettingSample> {
    let raw = match vartype {
        "bool" => match setting {
            "on" => 1.0,
            "off" => 0.0,
            _ => return None,
        },
        _ => setting.parse::<f64>().ok()?,
    };
    let (factor, suffix) = match unit {
        "" => (1.0, None),
        "ms" => (0.001, Some("seconds")),
        "s" => (1.0, Some("seconds")),
        "min" => (60.0, Some("seconds")),
        "h" => (3600.0, Some("seconds")),
        "d" => (86400.0, Some("seconds")),
        "B" => (1.0, Some("bytes")),
        "kB" => (1024.0, Some("bytes")),
        "MB" => (1024.0 * 1024.0, Some("bytes")),
        "GB" => (1024.0 * 1024.0 * 1024.0, Some("bytes")),
        "TB" => (1024.0 * 1024.0 * 1024.0 * 1024.0, Some("bytes")),
        other => {
            // Block-sized units: "8kB", "16MB", ...
            let digits = other.find(|c: char| !c.is_ascii_digit())?;
            let count: f64 = other[..digits].parse().ok()?;
            let base = match &other[digits..] {
                "kB" => 1024.0,
                "MB" => 1024.0 * 1024.0,
                _ => return None,
            };
            (count * base, Some("bytes"))
        }
    };
    // -1 means "disabled" or "default" and is reported as it is.
    let value = if raw == -1.0 { raw } else { raw * factor };
    let mut family = String::with_capacity(12 + name.len() + 8);
    family.push_str("pg_settings_");
    family.push_str(&name.replace('.', "_"));
    if let Some(suffix) = suffix {
        family.push('_');
        family.push_str(suffix);
    }
    Some(SettingSample {
        name: family,
        value,
        converted_to: suffix,
    })
}

/// Server settings change only on a reload or restart, and both move `pg_conf_load_time()`; our
/// own session never changes them after connecting. So the settings are read again only when
/// that time moves, and the previous samples are reused otherwise.
const LOAD_TIME: &str = "SELECT pg_conf_load_time()::text";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    let rows = s.rows(LOAD_TIME).await?;
    let stamp = rows
        .first()
        .and_then(|r| r.get(0))
        .unwrap_or_default()
        .to_string();
    let cached = match s.settings_cache.lock() {
        Ok(cache) => cache
            .as_ref()
            .filter(|(k, _)| *k == stamp)
            .map(|(_, o)| o.clone()),
        Err(_) => None,
    };
    if let Some(samples) = cached {
        out.append(samples);
        return Ok(());
    }
    let mut own = out.empty_like();
    read_settings(s, &mut own).await?;
    if let Ok(mut cache) = s.settings_cache.lock() {
        *cache = Some((stamp, own.clone()));
    }
    out.append(own);
    Ok(())
}

async fn read_settings(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    let mut help = String::new();
    for_rows(s, QUERY, |row| {
        let (Some(name), Some(setting)) = (row.get(0), row.get(1)) else {
            return;
        };
        let unit = row.get(2).unwrap_or_default();
        let Some(sample) = setting_sample(name, setting, unit, row.get(4).unwrap_or_default())
        else {
            tracing::debug!(setting = name, unit, "cannot convert setting");
            return;
        };
        help.clear();
        help.push_str(row.get(3).unwrap_or_default());
        if let Some(to) = sample.converted_to {
            help.push_str(" [Units converted to ");
            help.push_str(to);
            help.push_str(".]");
        }
        out.gauge(&sample.name, &help, &[], sample.value);
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_like_postgres_exporter() {
        let s = setting_sample("shared_buffers", "16384", "8kB", "integer").unwrap();
        assert_eq!(s.name, "pg_settings_shared_buffers_bytes");
        assert_eq!(s.value, 134217728.0);
        let s = setting_sample("log_min_duration_statement", "-1", "ms", "integer").unwrap();
        assert_eq!(
            (s.name.as_str(), s.value),
            ("pg_settings_log_min_duration_statement_seconds", -1.0)
        );
        let s = setting_sample("checkpoint_timeout", "300", "s", "integer").unwrap();
        assert_eq!(s.value, 300.0);
        let s = setting_sample("fsync", "on", "", "bool").unwrap();
        assert_eq!(
            (s.name.as_str(), s.value, s.converted_to),
            ("pg_settings_fsync", 1.0, None)
        );
        let s = setting_sample("pg_stat_statements.max", "5000", "", "integer").unwrap();
        assert_eq!(s.name, "pg_settings_pg_stat_statements_max");
        assert!(setting_sample("x", "1", "furlongs", "integer").is_none());
        assert!(setting_sample("x", "maybe", "", "bool").is_none());
    }

    /// `pg_settings` of a real PostgreSQL 15, with the family names postgres_exporter 0.11.1
    /// produced for it: every one must come out the same.
    #[test]
    fn a_real_pg15_settings_table_gives_upstreams_family_names() {
        let rows = include_str!("../../tests/fixtures/pg15_settings.txt");
        let expected = include_str!("../../tests/fixtures/pg15_settings_families_upstream.txt");
        let mut ours: Vec<String> = rows
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split('|').collect();
                setting_sample(f[0], f[1], f[2], f[3]).map(|s| s.name)
            })
            .collect();
        ours.sort();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(ours, expected);
    }
}
