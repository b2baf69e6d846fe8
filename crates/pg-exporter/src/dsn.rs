//! PostgreSQL connection strings as postgres_exporter accepts them: URIs
//! (`postgresql://user:pass@host:5432/db?sslmode=disable`), libpq `key=value` strings, and the bare
//! `host:port/db` form of `DATA_SOURCE_URI` and `/probe?target=`. Parsed by hand (rather than by
//! tokio-postgres) so that the password can be redacted and the `server` label derived the way
//! upstream does it.

use std::fmt;
use std::time::Duration;

/// One parsed data source. The password never appears in `Display` or `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Dsn {
    /// Host name, IP address, or a directory holding the unix socket (starts with `/`).
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    /// Every other parameter (`sslmode`, `application_name`, ...), in order.
    pub params: Vec<(String, String)>,
}

/// Why a connection string was refused. Never carries any part of the string: a password may be
/// anywhere in it (or be what broke it), so errors point at a character position instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("empty connection string")]
    Empty,
    /// `at` is the 1-based character position (in the trimmed string) where the problem starts.
    #[error("bad connection string at character {at}: {what}")]
    Syntax { at: usize, what: &'static str },
    /// A parameter with a value it cannot take (`sslmode`).
    #[error("bad connection string: {key}: {what}")]
    Value {
        key: &'static str,
        what: &'static str,
    },
}

const DEFAULT_PORT: u16 = 5432;

impl Dsn {
    /// Parses any of the three accepted forms (URI, `key=value`, bare `host:port/db`).
    pub fn parse(text: &str) -> Result<Self, DsnError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DsnError::Empty);
        }
        for scheme in ["postgresql://", "postgres://"] {
            if let Some(rest) = text.strip_prefix(scheme) {
                return uri(text, scheme.len(), rest);
            }
        }
        if let Some(i) = text.find("://") {
            return Err(syntax(
                text,
                i,
                "the scheme must be postgresql:// or postgres://",
            ));
        }
        if looks_like_key_value(text) {
            return key_value(text);
        }
        uri(text, 0, text)
    }

    /// `host:port`, as postgres_exporter's `server` label shows a data source.
    pub fn fingerprint(&self) -> String {
        let host = if self.host.is_empty() {
            "localhost"
        } else {
            &self.host
        };
        format!("{host}:{}", self.port)
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_param(&mut self, key: &str, value: &str) {
        match self.params.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.params.push((key.to_string(), value.to_string())),
        }
    }

    /// The same server with another database (for `--auto-discover-databases`).
    pub fn with_dbname(&self, dbname: &str) -> Self {
        Self {
            dbname: Some(dbname.to_string()),
            ..self.clone()
        }
    }

    /// The tokio-postgres configuration (TLS itself is set up by the target, see `tls`).
    pub fn to_config(&self, connect_timeout: Duration) -> Result<tokio_postgres::Config, DsnError> {
        use tokio_postgres::config::SslMode;
        let mut config = tokio_postgres::Config::new();
        if self.host.starts_with('/') {
            config.host_path(&self.host);
        } else if self.host.is_empty() {
            config.host("localhost");
        } else {
            config.host(&self.host);
        }
        config.port(self.port);
        config.user(self.user.as_deref().unwrap_or("postgres"));
        if let Some(password) = &self.password {
            config.password(password);
        }
        if let Some(dbname) = &self.dbname {
            config.dbname(dbname);
        }
        config.application_name("pg-exporter");
        config.connect_timeout(connect_timeout);
        for (key, value) in &self.params {
            match key.as_str() {
                "sslmode" => {
                    config.ssl_mode(match value.as_str() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" | "verify-ca" | "verify-full" => SslMode::Require,
                        _ => {
                            return Err(DsnError::Value {
                                key: "sslmode",
                                what: "not one of disable, allow, prefer, require, verify-ca, verify-full",
                            })
                        }
                    });
                }
                "application_name" => {
                    config.application_name(value);
                }
                "options" => {
                    config.options(value);
                }
                "connect_timeout" => {
                    if let Ok(secs) = value.parse::<u64>() {
                        if secs > 0 {
                            config.connect_timeout(connect_timeout.min(Duration::from_secs(secs)));
                        }
                    }
                }
                "keepalives" => {
                    config.keepalives(value != "0");
                }
                "keepalives_idle" => {
                    if let Ok(secs) = value.parse::<u64>() {
                        config.keepalives_idle(Duration::from_secs(secs));
                    }
                }
                // sslrootcert is read by the TLS setup; other libpq options are ignored.
                _ => {}
            }
        }
        Ok(config)
    }
}

impl fmt::Display for Dsn {
    /// A URI with the password replaced by `******`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgresql://")?;
        if let Some(user) = &self.user {
            f.write_str(&percent_encode(user))?;
            if self.password.is_some() {
                f.write_str(":******")?;
            }
            f.write_str("@")?;
        }
        if self.host.starts_with('/') {
            f.write_str(&percent_encode(&self.host))?;
        } else if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{}", self.port)?;
        if let Some(db) = &self.dbname {
            write!(f, "/{}", percent_encode(db))?;
        }
        for (i, (k, v)) in self.params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", percent_encode(k), percent_encode(v))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({self})")
    }
}

/// Splits a comma-separated list of data sources (`DATA_SOURCE_NAME`, `DATA_SOURCE_URI`). A
/// comma separates only where a new data source starts after it (a `postgres://` scheme or a
/// `key=` pair), or between bare `host:port/db` entries; inside a URI or `key=value` string it
/// belongs to the value, so an unescaped comma in a password does not cut it in two.
pub fn split_list(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices(',') {
        let (current, next) = (&text[start..i], &text[i + 1..]);
        if starts_data_source(next) || is_bare(current) {
            pieces.push(current);
            start = i + 1;
        }
    }
    pieces.push(&text[start..]);
    pieces
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether `text` begins with a scheme or a `key=` pair.
fn starts_data_source(text: &str) -> bool {
    let text = text.trim_start();
    if text.starts_with("postgresql://") || text.starts_with("postgres://") {
        return true;
    }
    let key_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    key_len > 0
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text[key_len..].trim_start().starts_with('=')
}

/// A `host:port/db?params` entry without scheme or credentials.
fn is_bare(text: &str) -> bool {
    let text = text.trim();
    !text.contains("://") && !text.contains('@') && !looks_like_key_value(text)
}

/// `key=value` strings have an `=` before any `/` or `@` (URIs without a scheme have neither
/// in front of the first `=`, which can only be in their query).
fn looks_like_key_value(text: &str) -> bool {
    match text.find('=') {
        Some(eq) => !text[..eq].contains(['/', '@', '?', ':']),
        None => false,
    }
}

/// The error for the byte offset `at` of `whole`, as a 1-based character position.
fn syntax(whole: &str, at: usize, what: &'static str) -> DsnError {
    let chars = whole.get(..at).map_or(at, |before| before.chars().count());
    DsnError::Syntax {
        at: chars.saturating_add(1),
        what,
    }
}

/// Parses a URI after its `postgresql://` scheme, or the bare `host:port/db?params` form.
pub fn parse_uri(rest: &str) -> Result<Dsn, DsnError> {
    uri(rest, 0, rest)
}

/// Parses libpq's `key=value key2='quoted value'` form.
pub fn parse_key_value(text: &str) -> Result<Dsn, DsnError> {
    key_value(text)
}

/// The URI `rest`, which starts at byte `base` of `whole` (for error positions).
fn uri(whole: &str, base: usize, rest: &str) -> Result<Dsn, DsnError> {
    let mut dsn = Dsn {
        port: DEFAULT_PORT,
        ..Dsn::default()
    };
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(q + 1)),
        None => (rest, None),
    };
    // The user part ends at the last `@` before the query, so that `/` and `@` in a password
    // need no escaping (libpq stops at the first `/` and then fails on the rest).
    let host_from = match before_query.rfind('@') {
        Some(at) => {
            let userinfo = &before_query[..at];
            match userinfo.split_once(':') {
                Some((user, pass)) => {
                    dsn.user = Some(decode(whole, base, user)?);
                    dsn.password = Some(decode(whole, base + user.len() + 1, pass)?);
                }
                None => dsn.user = Some(decode(whole, base, userinfo)?),
            }
            at + 1
        }
        None => 0,
    };
    let after_user = &before_query[host_from..];
    let (hostport, path_from) = match after_user.find('/') {
        Some(i) => (&after_user[..i], Some(host_from + i + 1)),
        None => (after_user, None),
    };
    let host_at = base + host_from;
    if let Some(comma) = hostport.find(',') {
        return Err(syntax(
            whole,
            host_at + comma,
            "several hosts in one URI are not supported; give several data sources separated by commas",
        ));
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, tail) = v6
            .split_once(']')
            .ok_or_else(|| syntax(whole, host_at, "unclosed [ in the host"))?;
        let port = tail
            .strip_prefix(':')
            .map(|p| (host_at + host.len() + 3, p));
        (host.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (decode(whole, host_at, h)?, Some((host_at + h.len() + 1, p))),
            None => (decode(whole, host_at, hostport)?, None),
        }
    };
    dsn.host = host;
    if let Some((at, port)) = port.filter(|(_, p)| !p.is_empty()) {
        dsn.port = parse_port(port).ok_or_else(|| syntax(whole, at, "invalid port"))?;
    }
    if let Some(from) = path_from {
        let path = &before_query[from..];
        if !path.is_empty() {
            dsn.dbname = Some(decode(whole, base + from, path)?);
        }
    }
    if let Some(from) = query {
        let mut at = base + from;
        for pair in rest[from..].split('&') {
            if !pair.is_empty() {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let key = decode(whole, at, k)?;
                let value_at = at + k.len() + 1;
                let value = decode(whole, value_at, v)?;
                set_field(&mut dsn, key, value).map_err(|what| {
                    syntax(whole, if what == EMPTY_KEY { at } else { value_at }, what)
                })?;
            }
            at += pair.len() + 1;
        }
    }
    Ok(dsn)
}

const EMPTY_KEY: &str = "empty parameter name";

fn key_value(text: &str) -> Result<Dsn, DsnError> {
    let mut dsn = Dsn {
        port: DEFAULT_PORT,
        ..Dsn::default()
    };
    let mut chars = text.char_indices().peekable();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
    };
    loop {
        skip_space(&mut chars);
        let Some(&(key_at, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        skip_space(&mut chars);
        if !matches!(chars.next(), Some((_, '='))) {
            return Err(syntax(text, key_at, "a parameter without \"=\""));
        }
        skip_space(&mut chars);
        let value_at = chars.peek().map_or(text.len(), |(i, _)| *i);
        let mut value = String::new();
        if matches!(chars.peek(), Some((_, '\''))) {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(syntax(text, value_at, "unterminated quoted value"));
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next().map(|(_, c)| c));
                } else {
                    value.push(c);
                }
            }
        }
        set_field(&mut dsn, key, value).map_err(|what| {
            syntax(
                text,
                if what == EMPTY_KEY { key_at } else { value_at },
                what,
            )
        })?;
    }
    Ok(dsn)
}

/// Stores one parameter; the error says what is wrong without the value.
fn set_field(dsn: &mut Dsn, key: String, value: String) -> Result<(), &'static str> {
    match key.as_str() {
        "host" | "hostaddr" => dsn.host = value,
        "port" => dsn.port = parse_port(&value).ok_or("invalid port")?,
        "user" => dsn.user = Some(value),
        "password" => dsn.password = Some(value),
        "dbname" => dsn.dbname = Some(value),
        "" => return Err(EMPTY_KEY),
        _ => dsn.set_param(&key, &value),
    }
    Ok(())
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse().ok()
}

/// Percent-decodes `part`, which starts at byte `at` of `whole`.
fn decode(whole: &str, at: usize, part: &str) -> Result<String, DsnError> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| syntax(whole, at + i, "\"%\" not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| syntax(whole, at, "percent-encoding that is not UTF-8"))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_uri_with_everything() {
        let d =
            Dsn::parse("postgresql://mon:s%40cret@db.example:6543/app?sslmode=disable").unwrap();
        assert_eq!(d.host, "db.example");
        assert_eq!(d.port, 6543);
        assert_eq!(d.user.as_deref(), Some("mon"));
        assert_eq!(d.password.as_deref(), Some("s@cret"));
        assert_eq!(d.dbname.as_deref(), Some("app"));
        assert_eq!(d.param("sslmode"), Some("disable"));
        assert_eq!(d.fingerprint(), "db.example:6543");
    }

    #[test]
    fn parses_key_value_with_quotes() {
        let d =
            Dsn::parse("host=/run/postgresql user=prometheus password='a b\\'c' dbname=postgres")
                .unwrap();
        assert_eq!(d.host, "/run/postgresql");
        assert_eq!(d.port, 5432);
        assert_eq!(d.password.as_deref(), Some("a b'c"));
        assert_eq!(d.fingerprint(), "/run/postgresql:5432");
    }

    #[test]
    fn bare_host_port_is_a_uri_without_scheme() {
        let d = Dsn::parse("localhost:5433/postgres?sslmode=disable").unwrap();
        assert_eq!(d.host, "localhost");
        assert_eq!(d.port, 5433);
        assert_eq!(d.dbname.as_deref(), Some("postgres"));
        let d = Dsn::parse("10.0.0.7").unwrap();
        assert_eq!(d.fingerprint(), "10.0.0.7:5432");
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets_out() {
        let d = Dsn::parse("postgres://[::1]:5432/x").unwrap();
        assert_eq!(d.host, "::1");
        assert_eq!(d.to_string(), "postgresql://[::1]:5432/x");
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        for text in [
            "postgresql://u:hunter2@h/db?password=hunter2",
            "host=h user=u password=hunter2",
        ] {
            let d = Dsn::parse(text).unwrap();
            assert!(!d.to_string().contains("hunter2"), "{d}");
            assert!(!format!("{d:?}").contains("hunter2"));
            assert!(d.to_string().contains("******"));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Dsn::parse("  "), Err(DsnError::Empty));
        assert!(Dsn::parse("mysql://x").is_err());
        assert!(Dsn::parse("postgres://h:notaport/db").is_err());
        assert!(Dsn::parse("host=h password='open").is_err());
        assert!(Dsn::parse("postgres://h/%zz").is_err());
        assert!(Dsn::parse("postgres://[::1/db").is_err());
    }

    #[test]
    fn unknown_sslmode_is_an_error_but_require_is_accepted() {
        let d = Dsn::parse("postgres://h/db?sslmode=sometimes").unwrap();
        assert!(d.to_config(Duration::from_secs(1)).is_err());
        let d = Dsn::parse("postgres://h/db?sslmode=require").unwrap();
        assert!(d.to_config(Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn errors_point_at_a_position_and_never_repeat_the_text() {
        let secret = "Zq7p%Xk9";
        for text in [
            format!("postgresql://mon:{secret}@h/db"),
            format!("host=h password={secret} port=x{secret}"),
            format!("postgresql://mon@h:{secret}/db"),
            format!("host=h {secret}"),
            format!("host=h password='{secret}"),
        ] {
            let err = Dsn::parse(&text).unwrap_err().to_string();
            assert!(!err.contains("Zq7") && !err.contains("Xk9"), "{err}");
            assert!(err.contains("at character"), "{err}");
        }
        assert_eq!(
            Dsn::parse("postgres://h:5x/db"),
            Err(DsnError::Syntax {
                at: 14,
                what: "invalid port"
            })
        );
    }

    #[test]
    fn passwords_with_slash_at_comma_and_space_need_no_escaping() {
        let d = Dsn::parse("postgresql://mon:a/b@c d,e@h:5433/db?sslmode=disable").unwrap();
        assert_eq!(d.password.as_deref(), Some("a/b@c d,e"));
        assert_eq!(d.fingerprint(), "h:5433");
        assert_eq!(d.dbname.as_deref(), Some("db"));
    }

    #[test]
    fn lists_split_where_a_data_source_starts() {
        assert_eq!(
            split_list("postgresql://a:x,y@h1/db, host=h2 user=b,postgres://h3"),
            vec![
                "postgresql://a:x,y@h1/db",
                "host=h2 user=b",
                "postgres://h3"
            ]
        );
        assert_eq!(
            split_list("host=h password=a,b, host=h2"),
            vec!["host=h password=a,b", "host=h2"]
        );
        assert_eq!(
            split_list("h1:5432/db?sslmode=disable,h2, h3:1"),
            vec!["h1:5432/db?sslmode=disable", "h2", "h3:1"]
        );
        assert!(split_list(" , ").is_empty());
    }

    /// Random strings over the characters the parsers care about (and a few multi-byte ones):
    /// no panic, and error positions inside the string.
    #[test]
    fn arbitrary_input_never_panics_or_leaks() {
        let alphabet: Vec<char> = "ab9:/@?&=%,' \\[]#xé€𝄞".chars().collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let mut s = seed;
            for _ in 0..len {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push(alphabet[(s >> 33) as usize % alphabet.len()]);
            }
            for candidate in [
                text.clone(),
                format!("postgresql://{text}"),
                format!("host={text}"),
            ] {
                if let Err(DsnError::Syntax { at, .. }) = Dsn::parse(&candidate) {
                    let chars = candidate.trim().chars().count();
                    assert!(at >= 1 && at <= chars + 1, "{candidate:?}: {at}");
                }
                let _ = parse_uri(&candidate);
                let _ = parse_key_value(&candidate);
                let _ = split_list(&candidate);
            }
        }
    }
}
