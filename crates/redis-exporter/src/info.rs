//! Parsing the text Redis answers to `INFO ALL`: `# Section` headers and `key:value` lines, some
//! of whose values are themselves `k=v,k=v` lists (keyspace, command, error and latency stats,
//! connected replicas). Everything here is pure: text in, borrowed typed values out.

/// One `key:value` line and the section it appeared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub section: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

/// The lines of one `INFO` answer, in order.
#[derive(Debug, Default, Clone)]
pub struct Info<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Info<'a> {
    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    /// The value of the first line with this key, in any section.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.value)
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.entries.iter().any(|e| e.section == section)
    }
}

/// Splits an `INFO` answer into entries. Lines that are neither a section header nor
/// `key:value` are skipped, as Redis' own clients do.
pub fn parse(text: &str) -> Info<'_> {
    let mut section = "";
    let mut entries = Vec::with_capacity(256);
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("# ") {
            section = name.trim();
            continue;
        }
        if line.len() < 2 || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            entries.push(Entry {
                section,
                key,
                value,
            });
        }
    }
    Info { entries }
}

/// A plain INFO value as a number: `ok`/`true` are 1 and `err`/`fail`/`false` are 0 (the
/// `*_status` fields), anything else must parse as a float.
pub fn number(value: &str) -> Option<f64> {
    match value {
        "ok" | "true" => Some(1.0),
        "err" | "fail" | "false" => Some(0.0),
        other => other.parse().ok(),
    }
}

/// Iterates the `k=v` pairs of a compound value; `None` for a part without `=`.
fn pairs(value: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    value.split(',').map(|part| part.split_once('='))
}

/// A `dbN:keys=..,expires=..,avg_ttl=..` line of the Keyspace section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbStats {
    pub keys: f64,
    pub expires: f64,
    /// Milliseconds, as Redis reports it.
    pub avg_ttl_ms: Option<f64>,
    /// KeyDB only.
    pub cached_keys: Option<f64>,
}

/// Parses the value of a Keyspace line (`keys=..,expires=..[,avg_ttl=..]`); `None` if malformed.
pub fn parse_keyspace(value: &str) -> Option<DbStats> {
    let (mut keys, mut expires, mut avg_ttl_ms, mut cached_keys) = (None, None, None, None);
    for pair in pairs(value) {
        let (k, v) = pair?;
        let slot = match k {
            "keys" => &mut keys,
            "expires" => &mut expires,
            "avg_ttl" => &mut avg_ttl_ms,
            "cached_keys" => &mut cached_keys,
            _ => continue,
        };
        *slot = Some(v.parse::<f64>().ok()?);
    }
    Some(DbStats {
        keys: keys?,
        expires: expires?,
        avg_ttl_ms,
        cached_keys,
    })
}

/// A `cmdstat_<cmd>:calls=..,usec=..,usec_per_call=..[,rejected_calls=..,failed_calls=..]` line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommandStats {
    pub calls: f64,
    pub usec: f64,
    /// Redis 6.2 and later.
    pub rejected_calls: Option<f64>,
    pub failed_calls: Option<f64>,
}

/// Parses the value of a `cmdstat_<cmd>` line; `None` without `calls` and `usec`.
pub fn parse_cmdstat(value: &str) -> Option<CommandStats> {
    let (mut calls, mut usec, mut rejected_calls, mut failed_calls) = (None, None, None, None);
    for pair in pairs(value) {
        let (k, v) = pair?;
        let slot = match k {
            "calls" => &mut calls,
            "usec" => &mut usec,
            "rejected_calls" => &mut rejected_calls,
            "failed_calls" => &mut failed_calls,
            _ => continue,
        };
        *slot = Some(v.parse::<f64>().ok()?);
    }
    Some(CommandStats {
        calls: calls?,
        usec: usec?,
        rejected_calls,
        failed_calls,
    })
}

/// A `latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=..` line (Redis 7): the percentiles
/// as written (50, 99, 99.9) with their latency in microseconds.
pub fn parse_percentiles(value: &str) -> Option<Vec<(f64, f64)>> {
    pairs(value)
        .map(|pair| {
            let (k, v) = pair?;
            Some((k.strip_prefix('p')?.parse().ok()?, v.parse().ok()?))
        })
        .collect()
}

/// An `errorstat_<PREFIX>:count=N` line.
pub fn parse_errorstat(value: &str) -> Option<f64> {
    value.strip_prefix("count=")?.parse().ok()
}

/// A `slaveN:ip=..,port=..,state=..,offset=..,lag=..` line on a primary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replica<'a> {
    pub ip: &'a str,
    pub port: &'a str,
    pub state: &'a str,
    pub offset: f64,
    /// Missing before Redis 3.0.
    pub lag: Option<f64>,
}

/// Parses a `slaveN` line of a primary; `None` for other keys or a value without `offset`.
pub fn parse_replica<'a>(key: &str, value: &'a str) -> Option<Replica<'a>> {
    let index = key.strip_prefix("slave")?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (mut ip, mut port, mut state, mut offset, mut lag) = ("", "", "", None, None);
    for pair in pairs(value) {
        let (k, v) = pair?;
        match k {
            "ip" => ip = v,
            "port" => port = v,
            "state" => state = v,
            "offset" => offset = Some(v.parse().ok()?),
            "lag" => lag = Some(v.parse().ok()?),
            _ => {}
        }
    }
    Some(Replica {
        ip,
        port,
        state,
        offset: offset?,
        lag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_values_keep_colons_after_the_first() {
        let info = parse("# Server\r\nredis_version:7.0.15\r\nexecutable:/a:b\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n");
        assert_eq!(info.get("executable"), Some("/a:b"));
        assert_eq!(info.entries()[2].section, "Keyspace");
        assert!(info.has_section("Server"));
    }

    #[test]
    fn status_words_are_numbers() {
        assert_eq!(number("ok"), Some(1.0));
        assert_eq!(number("fail"), Some(0.0));
        assert_eq!(number("-1"), Some(-1.0));
        assert_eq!(number("1.25"), Some(1.25));
        assert_eq!(number("jemalloc-5.3.0"), None);
    }

    #[test]
    fn keyspace_line() {
        let db = parse_keyspace("keys=10,expires=2,avg_ttl=850988").unwrap();
        assert_eq!(
            (db.keys, db.expires, db.avg_ttl_ms),
            (10.0, 2.0, Some(850988.0))
        );
        // Redis 7.4 adds subexpiry; unknown fields are ignored.
        assert!(parse_keyspace("keys=1,expires=0,avg_ttl=0,subexpiry=0").is_some());
        assert!(parse_keyspace("keys=x,expires=0").is_none());
        assert!(parse_keyspace("expires=0").is_none());
    }

    #[test]
    fn command_stats_old_and_new_format() {
        let old = parse_cmdstat("calls=21,usec=175,usec_per_call=8.33").unwrap();
        assert_eq!((old.calls, old.usec, old.failed_calls), (21.0, 175.0, None));
        let new =
            parse_cmdstat("calls=2,usec=16,usec_per_call=8.00,rejected_calls=1,failed_calls=3")
                .unwrap();
        assert_eq!(
            (new.rejected_calls, new.failed_calls),
            (Some(1.0), Some(3.0))
        );
        assert!(parse_cmdstat("calls=2").is_none());
    }

    #[test]
    fn percentiles_keep_their_written_scale() {
        assert_eq!(
            parse_percentiles("p50=3.007,p99=9.023,p99.9=9.023").unwrap(),
            vec![(50.0, 3.007), (99.0, 9.023), (99.9, 9.023)]
        );
        assert!(parse_percentiles("p50=x").is_none());
    }

    #[test]
    fn replica_lines() {
        let r = parse_replica(
            "slave0",
            "ip=127.0.0.1,port=16380,state=online,offset=129,lag=1",
        )
        .unwrap();
        assert_eq!(
            (r.ip, r.port, r.state, r.offset, r.lag),
            ("127.0.0.1", "16380", "online", 129.0, Some(1.0))
        );
        assert_eq!(
            parse_replica("slave1", "ip=a,port=1,state=online,offset=5")
                .unwrap()
                .lag,
            None
        );
        assert!(parse_replica("slave_read_only", "1").is_none());
        assert!(parse_replica("slave_priority", "100").is_none());
    }
}
