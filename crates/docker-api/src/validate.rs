//! Input rules, checked before anything reaches the daemon or the store.

use std::time::Duration;

/// Longest container id or name accepted.
pub const MAX_ID_LEN: usize = 128;

/// Whether `id` is a container id or name we accept: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`.
/// Everything else (slashes, `..`, NUL, unicode, long strings) is rejected before any lookup.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.len() <= MAX_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Parses a history window such as `90s`, `15m`, `1h` or `24h` (a whole number and one unit),
/// accepted when it lies within `[min, max]`.
pub fn parse_window(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let bad = || {
        format!(
            "window must be a whole number of s, m or h between {} and {}, e.g. 15m",
            humantime::format_duration(min),
            humantime::format_duration(max)
        )
    };
    if text.is_empty() || text.len() > 8 || !text.is_ascii() {
        return Err(bad());
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(bad()),
    };
    let window = Duration::from_secs(secs);
    if window < min || window > max {
        return Err(bad());
    }
    Ok(window)
}

/// `true`/`false`/`1`/`0`, as the `all` flag of the container list.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_and_names() {
        for id in [
            "a",
            "cluster-postgres",
            "web_1.blue",
            "0123456789abcdef",
            &"f".repeat(64),
            &"x".repeat(128),
        ] {
            assert!(is_valid_id(id), "{id}");
        }
    }

    #[test]
    fn rejects_container_id_with_slash_dots_nul_unicode_or_length() {
        for id in [
            "",
            "a/b",
            "..",
            "../etc",
            ".hidden",
            "-flag",
            "_x",
            "a b",
            "a\0b",
            "é",
            "abc%2Fdef",
            "a\nb",
            &"x".repeat(129),
            &"y".repeat(10 * 1024),
        ] {
            assert!(!is_valid_id(id), "{id:?}");
        }
    }

    #[test]
    fn window_is_parsed_and_bounded() {
        let (min, max) = (Duration::from_secs(10), Duration::from_secs(24 * 3600));
        assert_eq!(parse_window("15m", min, max), Ok(Duration::from_secs(900)));
        assert_eq!(parse_window("1h", min, max), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_window("24h", min, max), Ok(max));
        assert_eq!(parse_window("10s", min, max), Ok(min));
        for bad in [
            "",
            "5s",
            "25h",
            "15",
            "m",
            "-1m",
            "1.5h",
            "15 m",
            "1d",
            "99999999h",
            "1e3s",
            "१m",
            "1१",
        ] {
            assert!(parse_window(bad, min, max).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bool_flag() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
