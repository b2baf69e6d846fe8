//! Turning a Redis address as redis_exporter accepts it (`redis://`, `host:port`, `unix://`)
//! plus the configured credentials into connection settings, and naming it without secrets.

use std::collections::HashMap;
use std::path::Path;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

/// A Redis to scrape: how to connect, and a name for logs and errors that holds no password.
#[derive(Clone)]
pub struct Target {
    pub connection: ConnectionInfo,
    pub name: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

/// Why an address cannot be used. The text never repeats the address: it may hold a password
/// with characters that defeat redaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty Redis address")]
    Empty,
    #[error(
        "invalid Redis address: {0} (expected redis://host:port[/db], host:port or unix:///path; \
         the value is not shown as it may hold a password)"
    )]
    Invalid(&'static str),
}

/// Where passwords come from besides the address itself.
#[derive(Default, Clone)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<String>,
    /// Per-address passwords from the password file, keyed by address as written there.
    pub by_address: HashMap<String, String>,
    /// `rediss://` without checking the server's certificate.
    pub skip_tls_verification: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("addresses_with_passwords", &self.by_address.len())
            .field("skip_tls_verification", &self.skip_tls_verification)
            .finish()
    }
}

/// Reads a password file: a JSON object of address -> password (redis_exporter's format), or
/// else the whole file, trimmed, as the one password.
pub fn read_password_file(path: &Path) -> Result<PasswordFile, std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse_password_file(&text))
}

#[derive(Clone, PartialEq)]
pub enum PasswordFile {
    ByAddress(HashMap<String, String>),
    Single(String),
}

impl std::fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ByAddress(map) => write!(f, "ByAddress({} addresses)", map.len()),
            Self::Single(_) => f.write_str("Single(<redacted>)"),
        }
    }
}

pub fn parse_password_file(text: &str) -> PasswordFile {
    match serde_json::from_str::<HashMap<String, String>>(text) {
        Ok(map) => PasswordFile::ByAddress(map),
        Err(_) => PasswordFile::Single(text.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// Which part of a `redis://` address does not parse, judged on the address without its
/// userinfo so the answer never depends on (or shows) the password.
fn invalid_part(url: &str) -> &'static str {
    let shown = metrics_core::secret::redact_url(url);
    let rest = shown.split_once("://").map_or(shown.as_str(), |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port = match authority.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => authority.rsplit_once(':').map(|(_, p)| p),
    };
    if authority.is_empty() || authority.starts_with(':') {
        "the host is missing"
    } else if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        "the port is not a number from 0 to 65535"
    } else if !path.is_empty() && path.parse::<i64>().is_err() {
        "the database after / is not a number"
    } else if url.contains('@') {
        "the user or password part does not parse (characters such as / ? # % @ or a space in \
         a password must be percent-encoded)"
    } else {
        "it does not parse as a URL"
    }
}

/// Parses an address. `keep_url_password` is false for `/scrape?target=`: as upstream, a
/// password is never taken from a URL a scraper sent (it would sit in Prometheus' config and
/// logs); the password file or the configured password is used instead.
pub fn parse(
    address: &str,
    credentials: &Credentials,
    keep_url_password: bool,
) -> Result<Target, TargetError> {
    let address = address.trim();
    if address.is_empty() {
        return Err(TargetError::Empty);
    }
    let redacted = metrics_core::secret::redact_url(address);
    let mut connection = if let Some(path) = address.strip_prefix("unix://") {
        if path.is_empty() || !path.starts_with('/') {
            return Err(TargetError::Invalid(
                "a unix:// address needs an absolute socket path",
            ));
        }
        let (path, db) = match path.split_once("?db=") {
            Some((p, db)) => (
                p,
                db.parse()
                    .map_err(|_| TargetError::Invalid("the database after ?db= is not a number"))?,
            ),
            None => (path, 0),
        };
        ConnectionInfo {
            addr: ConnectionAddr::Unix(path.into()),
            redis: RedisConnectionInfo {
                db,
                ..RedisConnectionInfo::default()
            },
        }
    } else {
        let url = if address.contains("://") {
            address.to_string()
        } else {
            format!("redis://{address}")
        };
        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
            return Err(TargetError::Invalid(
                "the scheme is not redis://, rediss:// or unix://",
            ));
        }
        url.as_str()
            .into_connection_info()
            .map_err(|_| TargetError::Invalid(invalid_part(&url)))?
    };

    if let ConnectionAddr::TcpTls { insecure, .. } = &mut connection.addr {
        *insecure |= credentials.skip_tls_verification;
    }
    if !keep_url_password {
        connection.redis.password = None;
    }
    if connection.redis.username.is_none() {
        connection.redis.username = credentials.user.clone().filter(|u| !u.is_empty());
    }
    if connection.redis.password.is_none() {
        connection.redis.password = credentials
            .by_address
            .get(address)
            .or_else(|| credentials.by_address.get(&redacted))
            .cloned()
            .or_else(|| credentials.password.clone())
            .filter(|p| !p.is_empty());
    }
    let name = display_name(&connection);
    Ok(Target { connection, name })
}

fn display_name(info: &ConnectionInfo) -> String {
    let db = info.redis.db;
    match &info.addr {
        ConnectionAddr::Unix(path) if db != 0 => format!("unix://{}?db={db}", path.display()),
        ConnectionAddr::Unix(path) => format!("unix://{}", path.display()),
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            let scheme = match info.addr {
                ConnectionAddr::TcpTls { .. } => "rediss",
                _ => "redis",
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            if db != 0 {
                format!("{scheme}://{host}:{port}/{db}")
            } else {
                format!("{scheme}://{host}:{port}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(password: Option<&str>) -> Credentials {
        Credentials {
            password: password.map(str::to_string),
            ..Credentials::default()
        }
    }

    #[test]
    fn host_port_gets_the_redis_scheme() {
        let t = parse("127.0.0.1:6380", &creds(None), true).unwrap();
        assert_eq!(t.name, "redis://127.0.0.1:6380");
        assert!(matches!(t.connection.addr, ConnectionAddr::Tcp(ref h, 6380) if h == "127.0.0.1"));
    }

    #[test]
    fn url_with_db_and_credentials_is_named_without_them() {
        let t = parse(
            "redis://alice:s3cret@localhost:6379/2",
            &creds(Some("other")),
            true,
        )
        .unwrap();
        assert_eq!(t.name, "redis://localhost:6379/2");
        assert_eq!(t.connection.redis.db, 2);
        assert_eq!(t.connection.redis.username.as_deref(), Some("alice"));
        assert_eq!(t.connection.redis.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn scrape_targets_never_take_a_password_from_the_url() {
        let t = parse(
            "redis://:s3cret@localhost:6379",
            &creds(Some("configured")),
            false,
        )
        .unwrap();
        assert_eq!(t.connection.redis.password.as_deref(), Some("configured"));
    }

    #[test]
    fn password_file_entry_wins_over_the_configured_password() {
        let mut c = creds(Some("configured"));
        c.by_address
            .insert("redis://localhost:6379".into(), "from-file".into());
        let t = parse("redis://localhost:6379", &c, true).unwrap();
        assert_eq!(t.connection.redis.password.as_deref(), Some("from-file"));
    }

    #[test]
    fn unix_socket_with_db() {
        let t = parse("unix:///run/redis/redis.sock?db=3", &creds(None), true).unwrap();
        assert_eq!(t.name, "unix:///run/redis/redis.sock?db=3");
        assert_eq!(t.connection.redis.db, 3);
    }

    #[test]
    fn bad_addresses_are_errors_that_hide_passwords() {
        assert_eq!(
            parse("  ", &creds(None), true).unwrap_err(),
            TargetError::Empty
        );
        let err = parse("redis://u:hunter2@host:notaport", &creds(None), true).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("port"), "{err}");
        assert!(parse("http://host:1", &creds(None), true).is_err());
        assert!(parse("unix://relative", &creds(None), true).is_err());
    }

    #[test]
    fn passwords_with_reserved_characters_never_reach_the_error() {
        for password in ["a/b", "a,b", "a@b", "a%zz", "a b", "p/a,s@s%w rd"] {
            for address in [
                format!("redis://:{password}@127.0.0.1:6379"),
                format!("redis://user:{password}@127.0.0.1:6379/0"),
                format!("rediss://:{password}@host:notaport"),
                format!(":{password}@host:6379"),
            ] {
                if let Err(e) = parse(&address, &creds(None), true) {
                    let shown = e.to_string();
                    assert!(!shown.contains(password), "{address:?} -> {shown}");
                }
            }
        }
    }

    #[test]
    fn rediss_is_tls_and_skip_verification_makes_it_insecure() {
        let t = parse("rediss://h:6380", &creds(None), true).unwrap();
        assert_eq!(t.name, "rediss://h:6380");
        assert!(matches!(
            t.connection.addr,
            ConnectionAddr::TcpTls {
                insecure: false,
                ..
            }
        ));
        let mut c = creds(None);
        c.skip_tls_verification = true;
        let t = parse("rediss://h:6380", &c, true).unwrap();
        assert!(matches!(
            t.connection.addr,
            ConnectionAddr::TcpTls { insecure: true, .. }
        ));
    }

    #[test]
    fn password_file_formats() {
        assert_eq!(
            parse_password_file("s3cret\n"),
            PasswordFile::Single("s3cret".into())
        );
        match parse_password_file(r#"{"redis://h:1": "p"}"#) {
            PasswordFile::ByAddress(m) => assert_eq!(m["redis://h:1"], "p"),
            other => panic!("{other:?}"),
        }
    }
}
