//! Input rules, checked before anything reaches the daemon or the store.

use std::time::Duration;

/// The shortest history window a client may ask for.
pub const MIN_WINDOW: Duration = Duration::from_secs(10);

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

/// Longest node name (or `host:port` address) accepted in `?node=`.
pub const MAX_NODE_LEN: usize = 253;

/// The `?node=` pattern, for the OpenAPI document.
pub const NODE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$";

/// Whether `node` is a host name (or a `host:port` address, as a node that never answered is
/// named): `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$`.
pub fn is_valid_node(node: &str) -> bool {
    let bytes = node.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.len() <= MAX_NODE_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
}

/// Which nodes an answer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only this node (what peers ask each other for).
    Local,
    /// Every node in cluster mode; this node otherwise.
    Cluster,
}

/// `local` or `cluster`.
pub fn parse_scope(text: &str) -> Option<Scope> {
    match text {
        "local" => Some(Scope::Local),
        "cluster" => Some(Scope::Cluster),
        _ => None,
    }
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
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
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

/// A regular expression matching exactly the windows [`parse_window`] accepts within
/// `[min, max]`, for the OpenAPI document (so that generated clients and schemathesis know the
/// bounds, not just the syntax).
pub fn window_pattern(min: Duration, max: Duration) -> String {
    let (lo, hi) = (min.as_secs().max(1), max.as_secs());
    let mut units = Vec::new();
    for (unit, secs) in [("s", 1), ("m", 60), ("h", 3600)] {
        let first = lo.div_ceil(secs);
        let last = hi / secs;
        if first <= last {
            units.push(format!("(?:{}){unit}", integer_range_pattern(first, last)));
        }
    }
    format!("^(?:{})$", units.join("|"))
}

/// Alternatives matching the decimal numbers `lo..=hi` (no leading zeros).
pub fn integer_range_pattern(lo: u64, hi: u64) -> String {
    let mut parts = Vec::new();
    let mut start = lo;
    while start <= hi {
        // The largest aligned block of 10^k numbers that starts here and fits.
        let mut step = 1u64;
        while start.is_multiple_of(step * 10) && start + step * 10 - 1 <= hi {
            step *= 10;
        }
        // Blocks of the same size that follow share a prefix and differ in one digit.
        let digit = (start / step) % 10;
        let mut last_digit = digit;
        while last_digit < 9 && start + (last_digit - digit + 2) * step - 1 <= hi {
            last_digit += 1;
        }
        let free = step.trailing_zeros_base10();
        let prefix = start / step / 10;
        let prefix = if prefix == 0 {
            String::new()
        } else {
            prefix.to_string()
        };
        let class = if digit == last_digit {
            digit.to_string()
        } else {
            format!("[{digit}-{last_digit}]")
        };
        let tail = if free == 0 {
            String::new()
        } else {
            format!("[0-9]{{{free}}}")
        };
        parts.push(format!("{prefix}{class}{tail}"));
        start += (last_digit - digit + 1) * step;
    }
    parts.join("|")
}

trait Base10 {
    fn trailing_zeros_base10(self) -> u32;
}

impl Base10 for u64 {
    fn trailing_zeros_base10(self) -> u32 {
        let (mut n, mut k) = (self, 0);
        while n >= 10 && n.is_multiple_of(10) {
            n /= 10;
            k += 1;
        }
        k
    }
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
    fn window_pattern_matches_exactly_the_accepted_windows() {
        let (min, max) = (Duration::from_secs(10), Duration::from_secs(24 * 3600));
        let re = regex_lite(&window_pattern(min, max));
        for text in [
            "10s", "59s", "86400s", "1m", "1440m", "15m", "1h", "24h", "9s", "0s", "86401s",
            "1441m", "25h", "0h", "01m", "100000s",
        ] {
            assert_eq!(re(text), parse_window(text, min, max).is_ok(), "{text}");
        }
        for n in 0..100_000u64 {
            let text = format!("{n}s");
            assert_eq!(re(&text), parse_window(&text, min, max).is_ok(), "{text}");
        }
    }

    #[test]
    fn integer_ranges() {
        assert_eq!(integer_range_pattern(1, 24), "[1-9]|1[0-9]{1}|2[0-4]");
        assert_eq!(integer_range_pattern(10, 99), "[1-9][0-9]{1}");
        assert_eq!(integer_range_pattern(5, 5), "5");
    }

    /// A matcher for the patterns above built from the alternatives (no regex crate needed):
    /// each alternative is a sequence of literal digits, `[a-b]` classes and `[0-9]{k}`.
    fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
        let body = pattern
            .trim_start_matches("^(?:")
            .trim_end_matches(")$")
            .to_string();
        move |text: &str| {
            body.split("|(?:").any(|unit_alt| {
                let unit_alt = unit_alt.trim_start_matches("(?:");
                let Some((alts, unit)) = unit_alt.rsplit_once(')') else {
                    return false;
                };
                let Some(number) = text.strip_suffix(unit) else {
                    return false;
                };
                alts.split('|').any(|alt| matches_alt(alt, number))
            })
        }
    }

    fn matches_alt(alt: &str, number: &str) -> bool {
        let mut chars = number.chars();
        let mut rest = alt;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("[0-9]{") {
                let (k, r) = r.split_once('}').unwrap();
                for _ in 0..k.parse::<usize>().unwrap() {
                    if !chars.next().is_some_and(|c| c.is_ascii_digit()) {
                        return false;
                    }
                }
                rest = r;
            } else if let Some(r) = rest.strip_prefix('[') {
                let (class, r) = r.split_once(']').unwrap();
                let (a, b) = class.split_once('-').unwrap();
                let c = chars.next();
                if !c.is_some_and(|c| {
                    a.starts_with(|a: char| a <= c) && b.starts_with(|b: char| c <= b)
                }) {
                    return false;
                }
                rest = r;
            } else {
                let lit = rest.chars().next().unwrap();
                if chars.next() != Some(lit) {
                    return false;
                }
                rest = &rest[1..];
            }
        }
        chars.next().is_none()
    }

    #[test]
    fn node_names_are_host_names_or_addresses() {
        for ok in [
            "node-1",
            "swarm1.example.com",
            "10.0.1.5:3001",
            "a",
            &"n".repeat(253),
        ] {
            assert!(is_valid_node(ok), "{ok}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "é", "a\0", &"n".repeat(254)] {
            assert!(!is_valid_node(bad), "{bad:?}");
        }
        assert_eq!(parse_scope("local"), Some(Scope::Local));
        assert_eq!(parse_scope("cluster"), Some(Scope::Cluster));
        assert_eq!(parse_scope("LOCAL"), None);
    }

    #[test]
    fn bool_flag() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
