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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("empty connection string")]
    Empty,
    #[error("bad connection string: {0}")]
    Syntax(String),
}

const DEFAULT_PORT: u16 = 5432;

impl Dsn {
    /// Parses any of the three accepted forms (URI, `key=value`, bare `host:port/db`).
    pub fn parse(text: &str) -> Result<Self, DsnError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DsnError::Empty);
        }
        if let Some(rest) = text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
        {
            return parse_uri(rest);
        }
        if text.contains("://") {
            return Err(DsnError::Syntax(
                "the scheme must be postgresql:// or postgres://".into(),
            ));
        }
        if looks_like_key_value(text) {
            return parse_key_value(text);
        }
        parse_uri(text)
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
                        other => {
                            return Err(DsnError::Syntax(format!("unknown sslmode {other:?}")))
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

/// `key=value` strings have an `=` before any `/` or `@` (URIs without a scheme have neither
/// in front of the first `=`, which can only be in their query).
fn looks_like_key_value(text: &str) -> bool {
    match text.find('=') {
        Some(eq) => !text[..eq].contains(['/', '@', '?', ':']),
        None => false,
    }
}

/// Parses a URI after its `postgresql://` scheme, or the bare `host:port/db?params` form.
pub fn parse_uri(rest: &str) -> Result<Dsn, DsnError> {
    let mut dsn = Dsn {
        port: DEFAULT_PORT,
        ..Dsn::default()
    };
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            match userinfo.split_once(':') {
                Some((user, pass)) => {
                    dsn.user = Some(percent_decode(user)?);
                    dsn.password = Some(percent_decode(pass)?);
                }
                None => dsn.user = Some(percent_decode(userinfo)?),
            }
            hostport
        }
        None => authority,
    };
    if hostport.contains(',') {
        return Err(DsnError::Syntax(
            "several hosts in one URI are not supported; give several data sources separated by commas".into(),
        ));
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, tail) = v6
            .split_once(']')
            .ok_or_else(|| DsnError::Syntax("unclosed [ in host".into()))?;
        (host.to_string(), tail.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (percent_decode(h)?, Some(p)),
            None => (percent_decode(hostport)?, None),
        }
    };
    dsn.host = host;
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        dsn.port = parse_port(port)?;
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        dsn.dbname = Some(percent_decode(path)?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        set_field(&mut dsn, k, v)?;
    }
    Ok(dsn)
}

/// Parses libpq's `key=value key2='quoted value'` form.
pub fn parse_key_value(text: &str) -> Result<Dsn, DsnError> {
    let mut dsn = Dsn {
        port: DEFAULT_PORT,
        ..Dsn::default()
    };
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(DsnError::Syntax(format!("missing \"=\" after {key:?}")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(DsnError::Syntax(format!(
                    "unterminated quoted value of {key:?}"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        set_field(&mut dsn, key, value)?;
    }
    Ok(dsn)
}

fn set_field(dsn: &mut Dsn, key: String, value: String) -> Result<(), DsnError> {
    match key.as_str() {
        "host" | "hostaddr" => dsn.host = value,
        "port" => dsn.port = parse_port(&value)?,
        "user" => dsn.user = Some(value),
        "password" => dsn.password = Some(value),
        "dbname" => dsn.dbname = Some(value),
        "" => return Err(DsnError::Syntax("empty parameter name".into())),
        _ => dsn.set_param(&key, &value),
    }
    Ok(())
}

fn parse_port(text: &str) -> Result<u16, DsnError> {
    text.parse()
        .map_err(|_| DsnError::Syntax(format!("invalid port {text:?}")))
}

fn percent_decode(text: &str) -> Result<String, DsnError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| DsnError::Syntax("bad percent-encoding".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DsnError::Syntax("percent-encoding is not UTF-8".into()))
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
}
