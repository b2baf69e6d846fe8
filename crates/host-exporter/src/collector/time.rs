//! `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` and the clocksources.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::Offset;
use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// The zone abbreviation for `offset` from the POSIX TZ string closing a TZif file
/// (`CET-1CEST,M3.5.0,M10.5.0/3`): the standard name, or the daylight one when the offset is
/// not the standard one.
pub fn zone_name(tzif: &[u8], offset_seconds: i32) -> Option<String> {
    let text = std::str::from_utf8(tzif.rsplit(|b| *b == b'\n').nth(1)?).ok()?;
    let (std_name, rest) = split_name(text)?;
    let digits_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '+' || c == '-'))
        .unwrap_or(rest.len());
    let std_offset = parse_posix_offset(&rest[..digits_end]).unwrap_or(0);
    let dst = &rest[digits_end..];
    if std_offset.checked_neg() == Some(offset_seconds) || dst.is_empty() {
        return Some(std_name.to_string());
    }
    split_name(dst).map(|(name, _)| name.to_string())
}

fn split_name(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('<') {
        let end = rest.find('>')?;
        return Some((&rest[..end], &rest[end + 1..]));
    }
    let end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// `-1`, `5`, `-5:30` → seconds west of UTC as written (POSIX sign convention); `None` when it
/// does not fit an `i32` (checked: the file is not trusted).
fn parse_posix_offset(s: &str) -> Option<i32> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => (-1, b),
        None => (1, s.trim_start_matches('+')),
    };
    let mut parts = body.split(':').map(|p| p.parse::<i32>().ok());
    let hours = parts.next()??;
    let minutes = parts.next().flatten().unwrap_or(0);
    hours
        .checked_mul(3600)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_mul(sign)
}

/// The zone name for `offset`, reading `/etc/localtime` only when the offset changes.
fn zone_name_cached(ctx: &Host, offset: i32) -> String {
    let mut cache = match ctx.zone_cache.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((cached, name)) = cache.as_ref() {
        if *cached == offset {
            return name.clone();
        }
    }
    let name = std::fs::read("/etc/localtime")
        .ok()
        .and_then(|tzif| zone_name(&tzif, offset))
        .unwrap_or_else(|| {
            if offset == 0 {
                "UTC".into()
            } else {
                format!("{offset:+}")
            }
        });
    *cache = Some((offset, name.clone()));
    name
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    out.gauge(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        &[],
        now,
    );
    let offset = chrono::Local::now().offset().fix().local_minus_utc();
    let name = zone_name_cached(ctx, offset);
    out.gauge(
        "node_time_zone_offset_seconds",
        "System time zone offset in seconds.",
        &[("time_zone", &name)],
        f64::from(offset),
    );
    let sources = match list_dir(&ctx.sys("devices/system/clocksource")) {
        Ok(s) => s,
        Err(CollectorError::NoData(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    for (name, dir) in sources {
        let Some(device) = name.strip_prefix("clocksource") else {
            continue;
        };
        if let Some(available) = read_attr(&dir.join("available_clocksource")) {
            for source in available.split_ascii_whitespace() {
                out.gauge(
                    "node_time_clocksource_available_info",
                    "Available clocksources read from '/sys/devices/system/clocksource'.",
                    &[("clocksource", source), ("device", device)],
                    1.0,
                );
            }
        }
        if let Some(current) = read_attr(&dir.join("current_clocksource")) {
            out.gauge(
                "node_time_clocksource_current_info",
                "Current clocksource read from '/sys/devices/system/clocksource'.",
                &[("clocksource", current.as_str()), ("device", device)],
                1.0,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_come_from_the_tzif_footer() {
        let cet = b"TZif2...binary...\nCET-1CEST,M3.5.0,M10.5.0/3\n";
        assert_eq!(zone_name(cet, 3600).as_deref(), Some("CET"));
        assert_eq!(zone_name(cet, 7200).as_deref(), Some("CEST"));
        assert_eq!(zone_name(b"TZif\nUTC0\n", 0).as_deref(), Some("UTC"));
        assert_eq!(
            zone_name(b"TZif\n<+0530>-5:30\n", 19800).as_deref(),
            Some("+0530")
        );
    }

    /// Input the host_proc fuzz target found: an offset of 2477256 hours overflowed i32.
    #[test]
    fn offsets_beyond_i32_are_no_panic() {
        assert_eq!(zone_name(b"TZif\ntimestam2477256 0 410\n", 3600), None);
        assert_eq!(parse_posix_offset("2477256"), None);
        assert_eq!(parse_posix_offset("-5:30"), Some(-19_800));
        assert_eq!(parse_posix_offset("1:99999999"), None);
    }
}
