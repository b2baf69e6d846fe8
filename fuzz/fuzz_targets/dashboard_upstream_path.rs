//! The dashboard's forwarder: the request path and query a browser sends to `/api/*`, turned into
//! the path and query requested from docker-api (`dashboard::forward::upstream_path`). The input
//! is a request target as it arrives (`path?query`, split at the first `?`), and also the whole
//! input as a path with no query. Properties, for every target it accepts: the result is the path
//! and query unchanged; it starts with `/api/` and its path holds only plain segments of
//! `[A-Za-z0-9_.-]` (no `.` or `..`, no empty segment, no `%`, `\` or `:`); no ASCII control
//! character (CR, LF, NUL...), space or `#` anywhere, the query within its length cap; and joined
//! to docker-api's base URL it names the same scheme, host and port and the same path, with
//! nothing normalised away, is printable ASCII as sent, and carries the same parameters.
#![no_main]

use dashboard::forward::upstream_path;
use libfuzzer_sys::fuzz_target;

/// docker-api as the dashboard is configured to reach it.
const BASE: &str = "http://docker-api:3001";

/// Longest query the forwarder passes on (its `MAX_QUERY`).
const MAX_QUERY: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    check(path, query);
    check(text, "");
});

fn check(path: &str, query: &str) {
    let Ok(forwarded) = upstream_path(path, query) else {
        return;
    };
    let expected = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    assert_eq!(forwarded, expected, "changed on the way");
    let rest = path.strip_prefix("/api/").expect("only /api/ is forwarded");
    for segment in rest.split('/') {
        assert!(!segment.is_empty(), "empty segment in {path:?}");
        assert!(segment != "." && segment != "..", "dot segment in {path:?}");
        assert!(
            segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            "{segment:?} in {path:?}"
        );
    }
    assert!(query.len() <= MAX_QUERY, "query of {} bytes", query.len());
    // No byte that could end or split the request line; other characters (a C1 control such as
    // U+008C, any non-ASCII) go out percent-encoded, as checked on the URL below.
    assert!(
        !forwarded
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'#'),
        "{forwarded:?}"
    );
    let joined = format!("{BASE}{forwarded}");
    let url = url::Url::parse(&joined).expect("an accepted path makes a valid URL");
    assert_eq!(url.scheme(), "http", "{joined:?}");
    assert_eq!(url.host_str(), Some("docker-api"), "{joined:?}");
    assert_eq!(url.port(), Some(3001), "{joined:?}");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{joined:?}"
    );
    assert_eq!(url.path(), path, "path normalised: {joined:?}");
    assert!(url.fragment().is_none(), "{joined:?}");
    // What goes on the wire: printable ASCII only, and the same parameters once decoded.
    assert!(
        url.as_str().bytes().all(|b| b.is_ascii_graphic()),
        "{joined:?}"
    );
    let sent: Vec<_> = url::form_urlencoded::parse(url.query().unwrap_or("").as_bytes()).collect();
    let asked: Vec<_> = url::form_urlencoded::parse(query.as_bytes()).collect();
    assert_eq!(sent, asked, "parameters changed: {joined:?}");
}
