//! Reading the non-INFO replies of a scrape (`CONFIG GET`, `SLOWLOG`, `LATENCY LATEST`) from
//! redis-rs values. A reply of the wrong shape gives nothing rather than an error, and what is
//! kept is capped, so a hostile server costs at most what it sends.

use redis::Value;

use crate::snapshot::{CommandHistogram, LatencySpike, SlowlogEntry};

/// Most `CONFIG GET` pairs kept from one reply (each exported setting is asked for alone).
pub const MAX_CONFIG_PAIRS: usize = 16;

/// Most `LATENCY LATEST` events kept (Redis knows about twenty kinds).
pub const MAX_LATENCY_EVENTS: usize = 64;

/// Most commands kept from `LATENCY HISTOGRAM` (Redis 7.0 knows about 380 commands and
/// subcommands, and lists only those called since its start or `CONFIG RESETSTAT`).
pub const MAX_HISTOGRAM_COMMANDS: usize = 1024;

/// Most buckets kept per command (Redis' are powers of two microseconds: about 40 cover a day).
pub const MAX_HISTOGRAM_BUCKETS: usize = 64;

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

/// `LATENCY HISTOGRAM`: per command `calls` and `histogram_usec`, the latter cumulative
/// `bucket, calls` pairs; `[cmd, [..], ...]` in RESP2, maps in RESP3. A command whose entry is
/// not of that shape is left out, as are buckets that are not numbers.
pub fn latency_histogram(reply: Value) -> Vec<CommandHistogram> {
    let Some(commands) = pairs(&reply) else {
        return Vec::new();
    };
    commands
        .into_iter()
        .filter_map(|(cmd, details)| {
            let mut calls = None;
            let mut buckets = Vec::new();
            for (key, value) in pairs(details)? {
                match text(key)?.as_str() {
                    "calls" => calls = count(value),
                    "histogram_usec" => {
                        buckets = pairs(value)?
                            .into_iter()
                            .filter_map(|(le, n)| Some((int(le)?, count(n)?)))
                            .take(MAX_HISTOGRAM_BUCKETS)
                            .collect();
                    }
                    _ => {}
                }
            }
            Some(CommandHistogram {
                cmd: text(cmd)?,
                calls: calls?,
                buckets,
            })
        })
        .take(MAX_HISTOGRAM_COMMANDS)
        .collect()
}

/// The `(key, value)` pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: &Value) -> Option<Vec<(&Value, &Value)>> {
    match v {
        Value::Array(items) => Some(items.chunks_exact(2).map(|kv| (&kv[0], &kv[1])).collect()),
        Value::Map(items) => Some(items.iter().map(|(k, v)| (k, v)).collect()),
        _ => None,
    }
}

/// A count: a non-negative whole number.
fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.trim().parse().ok(),
    }
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

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn latency_histograms_in_both_protocols() {
        // What Redis 7.0 answered here after 51 SETs and one slow EVAL.
        let resp2 = Value::Array(vec![
            bulk("set"),
            Value::Array(vec![
                bulk("calls"),
                Value::Int(51),
                bulk("histogram_usec"),
                Value::Array([2, 23, 4, 48, 8, 50, 16, 51].map(Value::Int).to_vec()),
            ]),
            bulk("eval"),
            Value::Array(vec![
                bulk("calls"),
                Value::Int(1),
                bulk("histogram_usec"),
                Value::Array(vec![Value::Int(16908), Value::Int(1)]),
            ]),
        ]);
        let expected = vec![
            CommandHistogram {
                cmd: "set".into(),
                calls: 51,
                buckets: vec![(2.0, 23), (4.0, 48), (8.0, 50), (16.0, 51)],
            },
            CommandHistogram {
                cmd: "eval".into(),
                calls: 1,
                buckets: vec![(16908.0, 1)],
            },
        ];
        assert_eq!(latency_histogram(resp2), expected);
        let resp3 = Value::Map(vec![(
            bulk("eval"),
            Value::Map(vec![
                (Value::SimpleString("calls".into()), Value::Int(1)),
                (
                    Value::SimpleString("histogram_usec".into()),
                    Value::Map(vec![(Value::Int(16908), Value::Int(1))]),
                ),
            ]),
        )]);
        assert_eq!(latency_histogram(resp3), expected[1..].to_vec());
    }

    #[test]
    fn hostile_latency_histograms_are_capped_or_ignored() {
        let buckets: Vec<Value> = (0..1000).map(Value::Int).collect();
        let entry = Value::Array(vec![
            bulk("calls"),
            Value::Int(5),
            bulk("histogram_usec"),
            Value::Array(buckets),
        ]);
        let mut many = Vec::new();
        for i in 0..5000 {
            many.push(bulk(&format!("c{i}")));
            many.push(entry.clone());
        }
        let read = latency_histogram(Value::Array(many));
        assert_eq!(read.len(), MAX_HISTOGRAM_COMMANDS);
        assert_eq!(read[0].buckets.len(), MAX_HISTOGRAM_BUCKETS);
        // Negative calls, a missing count, a wrong shape, an error reply (Redis 6).
        let negative = Value::Array(vec![
            bulk("get"),
            Value::Array(vec![bulk("calls"), Value::Int(-1)]),
            bulk("set"),
            Value::Array(vec![bulk("histogram_usec"), Value::Array(vec![])]),
            bulk("del"),
            Value::Int(3),
        ]);
        assert_eq!(latency_histogram(negative), Vec::new());
        let redis6 = parse_resp(b"-ERR unknown subcommand 'HISTOGRAM'\r\n").unwrap();
        assert!(matches!(redis6, Value::ServerError(_)));
        assert_eq!(latency_histogram(redis6), Vec::new());
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
