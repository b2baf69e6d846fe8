//! docker-api's reading of what a client sends: the query string (percent-decoding), container
//! ids, node names, `scope`, `window` and boolean parameters. Properties: nothing panics; a
//! window that parses lies within the bounds asked for; an accepted id or node name has no
//! character a path or a label could be broken with.
#![no_main]

use std::time::Duration;

use docker_api::api::query;
use docker_api::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = query::decode(text);
    let pairs = query::parse_query(text).unwrap_or_default();
    let values = pairs.iter().map(|(_, v)| v.as_str()).chain([text]);
    for value in values {
        if validate::is_valid_id(value) {
            assert!(value.len() <= validate::MAX_ID_LEN, "{value:?}");
            assert!(!value.starts_with(['.', '-']), "{value:?}");
            assert!(!value.contains(['/', '"', '\\', '\n', ' ', '\0']), "{value:?}");
        }
        if validate::is_valid_node(value) {
            assert!(value.len() <= validate::MAX_NODE_LEN, "{value:?}");
            assert!(!value.contains(['/', '"', '\\', '\n', ' ']), "{value:?}");
        }
        let _ = validate::parse_scope(value);
        let _ = validate::parse_bool(value);
        let (min, max) = (validate::MIN_WINDOW, Duration::from_secs(24 * 3600));
        if let Ok(window) = validate::parse_window(value, min, max) {
            assert!(window >= min && window <= max, "{value:?} -> {window:?}");
        }
    }
});
