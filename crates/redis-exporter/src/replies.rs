//! Reading the non-INFO replies of a scrape (`CONFIG GET`, `SLOWLOG`, `LATENCY LATEST`) from
//! redis-rs values. A reply of the wrong shape gives nothing rather than an error, and what is
//! kept is capped, so a hostile server costs at most what it sends.

use redis::Value;

use crate::snapshot::{LatencySpike, SlowlogEntry};

/// Most `CONFIG GET` pairs kept from one reply (each exported setting is asked for alone).
pub const MAX_CONFIG_PAIRS: usize = 16;

/// Most `LATENCY LATEST` events kept (Redis knows about twenty kinds).
pub const MAX_LATENCY_EVENTS: usize = 64;

/// Parses one RESP reply from raw bytes (for fuzzing and tests); `None` when it does not parse.
pub fn parse_resp(bytes: &[u8]) -> Option<Value> {
    redis::parse_redis_value(bytes).ok()
}

/// `CONFIG GET` answers `[name, value, ...]` (RESP2) or a map (RESP3); an error (CONFIG
/// disabled) or anything else gives nothing.
pub fn config_get(reply: Value) -> Vec<(String, String)> {
    match reply {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
            .take(MAX_CONFIG_PAIRS)
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .take(MAX_CONFIG_PAIRS)
            .collect(),
        _ => Vec::new(),
    }
}

/// `SLOWLOG LEN`: an integer.
pub fn slowlog_len(reply: Value) -> Option<f64> {
    match reply {
        Value::Int(n) => Some(n as f64),
        _ => None,
    }
}

/// `SLOWLOG GET 1`: `[[id, timestamp, duration_us, args, ...]]`, or `[]` when empty (then
/// `Some(None)`).
pub fn slowlog_get(reply: Value) -> Option<Option<SlowlogEntry>> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let Some(Value::Array(entry)) = entries.first() else {
        return Some(None);
    };
    Some(Some(SlowlogEntry {
        id: entry.first().and_then(int)?,
        duration_micros: entry.get(2).and_then(int).unwrap_or(0.0),
    }))
}

/// `LATENCY LATEST`: `[[event, last_unix_time, latest_ms, max_ms], ...]`.
pub fn latency_latest(reply: Value) -> Vec<LatencySpike> {
    let Value::Array(events) = reply else {
        return Vec::new();
    };
    events
        .iter()
        .filter_map(|e| {
            let Value::Array(fields) = e else {
                return None;
            };
            Some(LatencySpike {
                event: text(fields.first()?)?,
                last: int(fields.get(1)?)?,
                latest_millis: int(fields.get(2)?)?,
            })
        })
        .take(MAX_LATENCY_EVENTS)
        .collect()
}

/// A string, status or integer reply as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok().map(str::to_string),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer reply, or a string one holding a number.
pub fn int(v: &Value) -> Option<f64> {
    match v {
        Value::Int(n) => Some(*n as f64),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        Value::SimpleString(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowlog_replies() {
        assert_eq!(slowlog_get(Value::Array(vec![])), Some(None));
        let entry = Value::Array(vec![
            Value::Int(7),
            Value::Int(1_700_000_000),
            Value::Int(15233),
            Value::Array(vec![]),
        ]);
        assert_eq!(
            slowlog_get(Value::Array(vec![entry])),
            Some(Some(SlowlogEntry {
                id: 7.0,
                duration_micros: 15233.0
            }))
        );
        assert_eq!(slowlog_get(Value::Nil), None);
        assert_eq!(slowlog_len(Value::Int(3)), Some(3.0));
        assert_eq!(slowlog_len(Value::Nil), None);
    }

    #[test]
    fn latency_latest_replies() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"command".to_vec()),
            Value::Int(1_795_568_899),
            Value::Int(15),
            Value::Int(15),
        ])]);
        assert_eq!(
            latency_latest(reply),
            vec![LatencySpike {
                event: "command".into(),
                last: 1_795_568_899.0,
                latest_millis: 15.0
            }]
        );
    }

    #[test]
    fn config_replies_in_both_protocols() {
        let resp2 = Value::Array(vec![
            Value::BulkString(b"maxmemory".to_vec()),
            Value::BulkString(b"0".to_vec()),
        ]);
        assert_eq!(
            config_get(resp2),
            vec![("maxmemory".to_string(), "0".to_string())]
        );
        let resp3 = Value::Map(vec![(
            Value::SimpleString("databases".into()),
            Value::BulkString(b"16".to_vec()),
        )]);
        assert_eq!(
            config_get(resp3),
            vec![("databases".to_string(), "16".to_string())]
        );
    }

    #[test]
    fn hostile_replies_are_capped_or_ignored() {
        let many = Value::Array(
            (0..10_000)
                .map(|i| Value::BulkString(format!("k{i}").into_bytes()))
                .collect(),
        );
        assert_eq!(config_get(many).len(), MAX_CONFIG_PAIRS);
        let event = Value::Array(vec![
            Value::BulkString(b"e".to_vec()),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
        ]);
        let spikes = latency_latest(Value::Array(vec![event; 1000]));
        assert_eq!(spikes.len(), MAX_LATENCY_EVENTS);
        assert_eq!(config_get(Value::Nil), Vec::new());
        assert_eq!(
            config_get(Value::Array(vec![Value::BulkString(vec![0xff, 0xfe])])),
            Vec::new()
        );
        assert_eq!(slowlog_get(Value::Array(vec![Value::Array(vec![])])), None);
        assert_eq!(
            parse_resp(b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n").map(config_get),
            Some(vec![("maxmemory".to_string(), "0".to_string())])
        );
        assert_eq!(parse_resp(b"$2000000000\r\nx"), None);
    }
}
