//! `--check-keys` and `--check-single-keys`: which keys to look at, finding pattern matches with
//! SCAN (never KEYS) within a limit, and reading each key's size and numeric value.
//!
//! Every group of commands for a database other than the connection's own runs as one pipeline
//! `SELECT n, ..., SELECT own`, so the shared connection is back on its database afterwards.

use std::time::Instant;

use redis::aio::ConnectionLike;
use redis::{Pipeline, RedisError, Value};

use crate::snapshot::KeyStat;

/// One `[dbN=]key` item of a key list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub db: u32,
    pub key: String,
}

/// Parses redis_exporter's key lists: comma-separated `key` or `dbN=key` (also `N=key`) items,
/// each URL-unescaped (so a key can hold `,` as `%2C`).
pub fn parse_key_list(list: &str) -> Result<Vec<KeySpec>, String> {
    let mut out = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (db, key) = match item.split_once('=') {
            Some((db, key)) => {
                let digits = db.trim().trim_start_matches("db");
                let db = digits
                    .parse::<u32>()
                    .map_err(|_| format!("invalid database in {item:?}: expected dbN=key"))?;
                (db, key.trim())
            }
            None => (0, item),
        };
        if key.contains('=') {
            return Err(format!("invalid key list item {item:?}"));
        }
        let key = unescape(key).ok_or_else(|| format!("invalid escape in {item:?}"))?;
        if key.is_empty() {
            continue;
        }
        out.push(KeySpec { db, key });
    }
    Ok(out)
}

/// Whether a key uses SCAN glob syntax.
pub fn is_pattern(key: &str) -> bool {
    key.contains(['*', '?', '[', ']', '^'])
}

/// `%XX` and `+` unescaping, as Go's `url.QueryUnescape`.
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Longest string value exported as the `val` label of `key_value_as_string`; longer ones are
/// only sized (upstream puts any length into the label).
pub const MAX_VALUE_LABEL_BYTES: usize = 1024;

/// Limits for expanding patterns.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// COUNT hint of each SCAN.
    pub batch: u64,
    /// Most keys reported per pattern.
    pub max_keys: usize,
    /// Most keys examined per pattern (the sum of the SCAN COUNT hints).
    pub max_scanned: u64,
    /// SCAN stops here even if the keyspace is not exhausted.
    pub deadline: Instant,
}

/// Expands patterns with SCAN and returns the keys to read (single keys first), deduplicated.
pub async fn expand<C: ConnectionLike>(
    conn: &mut C,
    own_db: i64,
    patterns: &[KeySpec],
    single: &[KeySpec],
    limits: ScanLimits,
) -> Result<Vec<KeySpec>, RedisError> {
    let mut keys: Vec<KeySpec> = single.to_vec();
    for spec in patterns {
        if !is_pattern(&spec.key) {
            keys.push(spec.clone());
            continue;
        }
        let mut cursor: u64 = 0;
        let mut found = 0usize;
        let mut examined = 0u64;
        let scanned = keys.len();
        loop {
            let count = limits
                .batch
                .min(limits.max_scanned.saturating_sub(examined))
                .max(1);
            examined = examined.saturating_add(count);
            let mut pipe = redis::pipe();
            pipe.cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&spec.key)
                .arg("COUNT")
                .arg(count);
            let reply = match run_in_db(conn, &pipe, spec.db, own_db).await {
                Ok(reply) => reply,
                Err(e) if is_refusal(&e) => {
                    tracing::warn!(db = spec.db, pattern = %spec.key, error = %e, "cannot scan for checked keys");
                    keys.truncate(scanned);
                    break;
                }
                Err(e) => return Err(e),
            };
            let (next, batch) =
                parse_scan_reply(reply.into_iter().next()).ok_or_else(|| unexpected("SCAN"))?;
            for key in batch {
                if found >= limits.max_keys {
                    break;
                }
                found = found.saturating_add(1);
                keys.push(KeySpec { db: spec.db, key });
            }
            cursor = next;
            if cursor == 0
                || found >= limits.max_keys
                || examined >= limits.max_scanned
                || Instant::now() >= limits.deadline
            {
                break;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert((k.db, k.key.clone())));
    Ok(keys)
}

/// Reads type, size and (for numeric strings) value of each key, in two or three pipelines per
/// database.
pub async fn read<C: ConnectionLike>(
    conn: &mut C,
    own_db: i64,
    keys: &[KeySpec],
) -> Result<Vec<KeyStat>, RedisError> {
    let mut stats = Vec::with_capacity(keys.len());
    let mut dbs: Vec<u32> = keys.iter().map(|k| k.db).collect();
    dbs.sort_unstable();
    dbs.dedup();
    for db in dbs {
        let in_db: Vec<&KeySpec> = keys.iter().filter(|k| k.db == db).collect();
        let before = stats.len();
        match read_db(conn, own_db, db, &in_db, &mut stats).await {
            Ok(()) => {}
            Err(e) if is_refusal(&e) => {
                tracing::warn!(db, error = %e, "cannot read checked keys");
                stats.truncate(before);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(stats)
}

/// Whether Redis refused a command (a database that does not exist, an ACL without SCAN), as
/// opposed to the connection failing: a refusal costs only the keys concerned, as upstream.
fn is_refusal(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::ResponseError
            | redis::ErrorKind::ExtensionError
            | redis::ErrorKind::TypeError
    )
}

async fn read_db<C: ConnectionLike>(
    conn: &mut C,
    own_db: i64,
    db: u32,
    in_db: &[&KeySpec],
    stats: &mut Vec<KeyStat>,
) -> Result<(), RedisError> {
    {
        let mut types = redis::pipe();
        for k in in_db {
            types.cmd("TYPE").arg(&k.key);
        }
        let types = run_in_db(conn, &types, db, own_db).await?;

        // Strings get STRLEN and their first bytes (enough for any number, and for the
        // HyperLogLog magic), other types their length command, and both MEMORY USAGE (as
        // redis_exporter 1.69, with Redis' default sampling); missing keys nothing.
        let mut sizes = redis::pipe();
        let mut plan = Vec::with_capacity(in_db.len());
        for (k, t) in in_db.iter().zip(&types) {
            let kind = match t {
                Value::SimpleString(s) => s.as_str(),
                Value::Okay => "ok",
                _ => "none",
            };
            let step = match kind {
                "string" => {
                    sizes.cmd("STRLEN").arg(&k.key);
                    sizes
                        .cmd("GETRANGE")
                        .arg(&k.key)
                        .arg(0)
                        .arg(MAX_VALUE_LABEL_BYTES - 1);
                    Step::String
                }
                "list" | "set" | "zset" | "hash" | "stream" => {
                    let cmd = match kind {
                        "list" => "LLEN",
                        "set" => "SCARD",
                        "zset" => "ZCARD",
                        "hash" => "HLEN",
                        _ => "XLEN",
                    };
                    sizes.cmd(cmd).arg(&k.key);
                    Step::Length
                }
                _ => Step::Missing,
            };
            if !matches!(step, Step::Missing) {
                sizes.cmd("MEMORY").arg("USAGE").arg(&k.key);
            }
            plan.push(step);
        }
        let replies = if sizes.cmd_iter().next().is_some() {
            run_in_db(conn, &sizes, db, own_db).await?
        } else {
            Vec::new()
        };

        let mut replies = replies.into_iter();
        let mut hyperloglogs = Vec::new();
        for (k, step) in in_db.iter().zip(plan) {
            let mut stat = KeyStat {
                db,
                key: k.key.clone(),
                size: 0.0,
                value: None,
                text: None,
                memory: None,
            };
            let exists = !matches!(step, Step::Missing);
            match step {
                Step::Missing => {}
                Step::Length => stat.size = as_int(replies.next()).unwrap_or(0) as f64,
                Step::String => {
                    let length = as_int(replies.next()).unwrap_or(0);
                    let head = as_bytes(replies.next());
                    stat.size = length as f64;
                    if head.starts_with(b"HYLL") {
                        hyperloglogs.push(stats.len());
                    } else if length <= MAX_VALUE_LABEL_BYTES as i64 {
                        if let Ok(text) = String::from_utf8(head) {
                            match text.trim().parse::<f64>() {
                                Ok(v) => stat.value = Some(v),
                                Err(_) => stat.text = Some(text),
                            }
                        }
                    }
                }
            }
            if exists {
                // An error (MEMORY forbidden by an ACL) leaves the key without the family.
                stat.memory = as_int(replies.next()).map(|n| n as f64);
            }
            stats.push(stat);
        }

        if !hyperloglogs.is_empty() {
            let mut counts = redis::pipe();
            for stat in hyperloglogs.iter().filter_map(|&i| stats.get(i)) {
                counts.cmd("PFCOUNT").arg(&stat.key);
            }
            let counts = run_in_db(conn, &counts, db, own_db).await?;
            for (&i, count) in hyperloglogs.iter().zip(counts) {
                if let (Some(n), Some(stat)) = (as_int(Some(count)), stats.get_mut(i)) {
                    stat.size = n as f64;
                }
            }
        }
    }
    Ok(())
}

enum Step {
    Missing,
    Length,
    String,
}

/// Runs `pipe` in database `db` and returns one reply per command of `pipe` (server errors
/// included as values). The connection is switched back to `own_db` in the same pipeline.
async fn run_in_db<C: ConnectionLike>(
    conn: &mut C,
    pipe: &Pipeline,
    db: u32,
    own_db: i64,
) -> Result<Vec<Value>, RedisError> {
    let count = pipe.cmd_iter().count();
    if i64::from(db) == own_db {
        return conn.req_packed_commands(pipe, 0, count).await;
    }
    let mut wrapped = redis::pipe();
    wrapped.cmd("SELECT").arg(db);
    for cmd in pipe.cmd_iter() {
        wrapped.add_command(cmd.clone());
    }
    wrapped.cmd("SELECT").arg(own_db);
    let mut replies = conn
        .req_packed_commands(&wrapped, 0, count.saturating_add(2))
        .await?
        .into_iter();
    match replies.next() {
        Some(Value::ServerError(e)) => Err(e.into()),
        Some(_) => Ok(replies.take(count).collect()),
        None => Err(unexpected("SELECT")),
    }
}

fn parse_scan_reply(reply: Option<Value>) -> Option<(u64, Vec<String>)> {
    let Some(Value::Array(mut parts)) = reply else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let keys = parts.pop()?;
    let cursor = String::from_utf8(as_bytes(parts.pop()))
        .ok()?
        .parse()
        .ok()?;
    let Value::Array(keys) = keys else {
        return None;
    };
    let keys = keys
        .into_iter()
        .filter_map(|k| String::from_utf8(as_bytes(Some(k))).ok())
        .collect();
    Some((cursor, keys))
}

fn as_int(v: Option<Value>) -> Option<i64> {
    match v? {
        Value::Int(n) => Some(n),
        Value::BulkString(b) => std::str::from_utf8(&b).ok()?.parse().ok(),
        _ => None,
    }
}

fn as_bytes(v: Option<Value>) -> Vec<u8> {
    match v {
        Some(Value::BulkString(b)) => b,
        Some(Value::SimpleString(s)) => s.into_bytes(),
        _ => Vec::new(),
    }
}

fn unexpected(what: &str) -> RedisError {
    RedisError::from((
        redis::ErrorKind::TypeError,
        "unexpected reply",
        what.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lists_with_databases_and_escapes() {
        let keys = parse_key_list("a, db3=b*,4=c%2Cd, ,x+y").unwrap();
        assert_eq!(
            keys,
            vec![
                KeySpec {
                    db: 0,
                    key: "a".into()
                },
                KeySpec {
                    db: 3,
                    key: "b*".into()
                },
                KeySpec {
                    db: 4,
                    key: "c,d".into()
                },
                KeySpec {
                    db: 0,
                    key: "x y".into()
                },
            ]
        );
        assert!(parse_key_list("dbx=a").is_err());
        assert!(parse_key_list("a=b=c").is_err());
        assert!(parse_key_list("%zz").is_err());
        assert!(parse_key_list("").unwrap().is_empty());
    }

    #[test]
    fn patterns_are_told_from_plain_keys() {
        assert!(is_pattern("user:*"));
        assert!(is_pattern("h?llo"));
        assert!(is_pattern("h[ae]llo"));
        assert!(!is_pattern("plain:key"));
    }

    #[test]
    fn scan_reply() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"k1".to_vec()),
                Value::BulkString(b"k2".to_vec()),
            ]),
        ]);
        assert_eq!(
            parse_scan_reply(Some(reply)),
            Some((17, vec!["k1".into(), "k2".into()]))
        );
        assert_eq!(parse_scan_reply(Some(Value::Nil)), None);
    }
}
