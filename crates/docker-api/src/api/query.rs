//! Query strings, path ids and the parameters handlers take from them, decoded strictly: a
//! malformed value is a 400 before anything is looked up.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::errors::{invalid_id, JsonError};
use super::Api;
use crate::validate::{self, Scope};

/// Query parameters, decoded; a malformed string is a 400.
pub(super) fn query(req: &HttpRequest) -> Result<Vec<(String, String)>, JsonError> {
    parse_query(req.query_string())
        .map_err(|e| JsonError::new(StatusCode::BAD_REQUEST, format!("bad query string: {e}")))
}

/// A query string (`a=1&b=%20x`) as decoded `(name, value)` pairs, in order; `Err` names what is
/// malformed (a bad `%` escape, bytes that are not UTF-8).
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

/// One query-string component with `+` and `%XX` decoded; `Err` for a bad escape or non-UTF-8.
pub fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    // from_str_radix alone would take a sign ("%+f").
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("bad percent-encoding")?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}

pub(super) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(super) fn window(api: &Api, q: &[(String, String)]) -> Result<Duration, JsonError> {
    match param(q, "window") {
        None => Ok(api.limits.window),
        Some(w) => validate::parse_window(w, validate::MIN_WINDOW, api.limits.long_window)
            .map_err(|e| JsonError::new(StatusCode::BAD_REQUEST, e)),
    }
}

pub(super) fn container_id(req: &HttpRequest) -> Result<String, JsonError> {
    let id = req.match_info().get("id").unwrap_or_default();
    if validate::is_valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(invalid_id())
    }
}

/// `scope` and `node`, validated.
pub(super) fn reach(q: &[(String, String)]) -> Result<(Scope, Option<String>), JsonError> {
    let scope = match param(q, "scope") {
        None => Scope::Cluster,
        Some(v) => validate::parse_scope(v).ok_or_else(|| {
            JsonError::new(
                StatusCode::BAD_REQUEST,
                "scope must be local or cluster".into(),
            )
        })?,
    };
    let node = match param(q, "node") {
        None => None,
        Some(v) if validate::is_valid_node(v) => Some(v.to_string()),
        Some(_) => {
            return Err(JsonError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid node: it must match {}", validate::NODE_PATTERN),
            ))
        }
    };
    Ok((scope, node))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded_strictly() {
        assert_eq!(
            parse_query("window=15m&all=true").unwrap(),
            vec![
                ("window".into(), "15m".into()),
                ("all".into(), "true".into())
            ]
        );
        assert_eq!(parse_query("a=%41+b").unwrap()[0].1, "A b");
        assert!(parse_query("a=%zz").is_err());
        assert!(parse_query("a=%ff").is_err());
        assert!(parse_query("a=%4").is_err());
        assert!(parse_query("a=%+f").is_err());
        assert!(parse_query("a=%").is_err());
    }
}
