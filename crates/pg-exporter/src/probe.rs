//! What `/probe?target=` may reach, and with which settings. Only allowed servers (the
//! configured data sources and `probe.allowed_targets`); credentials, TLS settings and files
//! come from the configuration only (the matching data source, or `auth_module`). A request
//! that names a file, a TLS setting or credentials, or a server not allowed, is refused before
//! anything is sent anywhere.

use std::collections::BTreeMap;

use crate::config::AuthModule;
use crate::dsn::{Dsn, DsnError};

/// Parameters a request's target may carry besides host, port and database.
const REQUEST_PARAMS: &[&str] = &["application_name", "connect_timeout"];
/// libpq parameters that name a file the exporter would read.
const FILE_PARAMS: &[&str] = &[
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslcrldir",
    "passfile",
    "service",
    "servicefile",
];

/// Why a probe request was refused. Messages never repeat the request's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the target parameter is required")]
    NoTarget,
    #[error("invalid target: {0}")]
    InvalidTarget(DsnError),
    #[error("the target may not name files ({0}): they come from the configuration (auth_modules options)")]
    FileParameter(&'static str),
    #[error("the target may not carry TLS settings: they come from the configuration (the data source or auth_modules options)")]
    TlsParameter,
    #[error("the target may not carry a user or password: use auth_module")]
    Credentials,
    #[error("the target may carry only host, port, dbname, application_name and connect_timeout")]
    OtherParameter,
    #[error("target not allowed: /probe reaches the configured data sources and --probe.allowed-targets only")]
    NotAllowed,
    #[error("auth_module not found")]
    UnknownModule,
}

impl Refusal {
    /// The `reason` label of `pg_exporter_requests_refused_total`; None for plain bad requests.
    pub fn counted_as(&self) -> Option<&'static str> {
        match self {
            Refusal::NoTarget | Refusal::InvalidTarget(_) | Refusal::UnknownModule => None,
            Refusal::FileParameter(_) => Some("probe_file_parameter"),
            Refusal::TlsParameter => Some("probe_tls_parameter"),
            Refusal::Credentials => Some("probe_credentials"),
            Refusal::OtherParameter => Some("probe_parameter"),
            Refusal::NotAllowed => Some("probe_target_not_allowed"),
        }
    }
}

/// A `probe.allowed_targets` entry that cannot be read (its position in the list, 1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--probe.allowed-targets: entry {index}: {what}")]
pub struct AllowedTargetError {
    pub index: usize,
    pub what: &'static str,
}

/// One server, or every port of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: Option<u16>,
}

impl Endpoint {
    fn of(dsn: &Dsn) -> Self {
        let host = if dsn.host.is_empty() {
            "localhost".to_string()
        } else {
            dsn.host.to_ascii_lowercase()
        };
        Self {
            host,
            port: Some(dsn.port),
        }
    }

    /// `host:port`, `host`, `[v6]:port`, `[v6]`, a bare IPv6 address, `/socket/dir:port`.
    fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        let (host, port) = if let Some(v6) = text.strip_prefix('[') {
            let (host, tail) = v6.split_once(']').ok_or("unclosed [")?;
            match tail {
                "" => (host, None),
                tail => (host, Some(tail.strip_prefix(':').ok_or("expected :port")?)),
            }
        } else if text.matches(':').count() > 1 && !text.starts_with('/') {
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err("empty host");
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| "invalid port")?),
            None => None,
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn covers(&self, other: &Endpoint) -> bool {
        self.host == other.host && (self.port.is_none() || self.port == other.port)
    }
}

/// The rules for `/probe`, fixed at start.
pub struct ProbePolicy {
    configured: Vec<Dsn>,
    allowed: Vec<Endpoint>,
    auth_modules: BTreeMap<String, AuthModule>,
}

impl ProbePolicy {
    pub fn new(
        configured: &[Dsn],
        allowed_targets: &[String],
        auth_modules: BTreeMap<String, AuthModule>,
    ) -> Result<Self, AllowedTargetError> {
        let mut allowed: Vec<Endpoint> = configured.iter().map(Endpoint::of).collect();
        for (i, entry) in allowed_targets
            .iter()
            .filter(|e| !e.trim().is_empty())
            .enumerate()
        {
            let endpoint =
                Endpoint::parse(entry).map_err(|what| AllowedTargetError { index: i + 1, what })?;
            allowed.push(endpoint);
        }
        Ok(Self {
            configured: configured.to_vec(),
            allowed,
            auth_modules,
        })
    }

    /// The data source to probe for a request's `target` and `auth_module`.
    pub fn resolve(&self, target: Option<&str>, module: Option<&str>) -> Result<Dsn, Refusal> {
        let target = target
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::NoTarget)?;
        let requested = Dsn::parse(target).map_err(Refusal::InvalidTarget)?;
        check_request_params(&requested)?;
        let endpoint = Endpoint::of(&requested);
        if !self.allowed.iter().any(|a| a.covers(&endpoint)) {
            return Err(Refusal::NotAllowed);
        }
        let auth = match module.map(str::trim).filter(|m| !m.is_empty()) {
            Some(name) => Some(self.auth_modules.get(name).ok_or(Refusal::UnknownModule)?),
            None => None,
        };
        let configured = self.configured.iter().find(|c| Endpoint::of(c) == endpoint);
        let mut dsn = match configured {
            // The configured server: its credentials and TLS settings, the requested database.
            Some(c) => {
                let mut dsn = c.clone();
                if requested.dbname.is_some() {
                    dsn.dbname = requested.dbname.clone();
                }
                for (k, v) in &requested.params {
                    dsn.set_param(k, v);
                }
                dsn
            }
            None => requested,
        };
        if let Some(auth) = auth {
            // The module's credentials, never a mix with the data source's.
            dsn.user = None;
            dsn.password = None;
            auth.apply(&mut dsn);
        }
        Ok(dsn)
    }
}

fn check_request_params(dsn: &Dsn) -> Result<(), Refusal> {
    if dsn.user.is_some() || dsn.password.is_some() {
        return Err(Refusal::Credentials);
    }
    // Files first, whatever else the target carries, so that they are counted as such.
    for (key, _) in &dsn.params {
        if let Some(file) = FILE_PARAMS.iter().find(|f| **f == key) {
            return Err(Refusal::FileParameter(file));
        }
    }
    for (key, _) in &dsn.params {
        if key.starts_with("ssl") || key == "requiressl" || key == "gssencmode" {
            return Err(Refusal::TlsParameter);
        }
        if !REQUEST_PARAMS.contains(&key.as_str()) {
            return Err(Refusal::OtherParameter);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> ProbePolicy {
        let configured = vec![Dsn::parse(
            "postgresql://mon:pw@db:5432/postgres?sslmode=verify-ca&sslrootcert=/etc/ca.pem",
        )
        .unwrap()];
        let mut modules = BTreeMap::new();
        modules.insert(
            "m".to_string(),
            AuthModule {
                kind: "userpass".into(),
                userpass: crate::config::UserPass {
                    username: "probe".into(),
                    password: "modpw".into(),
                },
                options: BTreeMap::from([("sslmode".to_string(), "disable".to_string())]),
            },
        );
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        ProbePolicy::new(&configured, &allowed, modules).unwrap()
    }

    #[test]
    fn only_configured_servers_by_default() {
        let p = policy(&[]);
        assert_eq!(
            p.resolve(Some("other:5432"), None),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            p.resolve(Some("db:5433"), Some("m")),
            Err(Refusal::NotAllowed)
        );
        let d = p.resolve(Some("DB:5432/app"), None).unwrap();
        assert_eq!(d.password.as_deref(), Some("pw"));
        assert_eq!(d.dbname.as_deref(), Some("app"));
        assert_eq!(d.param("sslrootcert"), Some("/etc/ca.pem"));
    }

    #[test]
    fn allowed_entries_with_and_without_port() {
        let p = policy(&["other:6000", "anyport", "[::1]:5432", "fe80::1"]);
        assert!(p.resolve(Some("other:6000"), None).is_ok());
        assert_eq!(
            p.resolve(Some("other:6001"), None),
            Err(Refusal::NotAllowed)
        );
        assert!(p.resolve(Some("anyport:1"), None).is_ok());
        assert!(p.resolve(Some("postgres://[::1]:5432/x"), None).is_ok());
        assert!(p.resolve(Some("postgres://[fe80::1]:9/x"), None).is_ok());
        let d = p.resolve(Some("other:6000"), Some("m")).unwrap();
        assert_eq!(d.user.as_deref(), Some("probe"));
        assert_eq!(d.password.as_deref(), Some("modpw"));
        assert_eq!(d.param("sslmode"), Some("disable"));
        assert!(ProbePolicy::new(&[], &["h:x".into()], BTreeMap::new()).is_err());
        assert!(ProbePolicy::new(&[], &["[::1".into()], BTreeMap::new()).is_err());
    }

    #[test]
    fn files_tls_settings_and_credentials_are_refused() {
        let p = policy(&["x"]);
        for (target, refusal) in [
            (
                "x:1/db?sslrootcert=/dev/zero",
                Refusal::FileParameter("sslrootcert"),
            ),
            (
                "host=x sslkey=/etc/shadow",
                Refusal::FileParameter("sslkey"),
            ),
            (
                "host=x passfile=/dev/urandom",
                Refusal::FileParameter("passfile"),
            ),
            ("x:1/db?sslmode=disable", Refusal::TlsParameter),
            ("postgres://u:p@x/db", Refusal::Credentials),
            ("host=x user=postgres", Refusal::Credentials),
            ("x/db?options=-cwork_mem%3D1", Refusal::OtherParameter),
        ] {
            assert_eq!(p.resolve(Some(target), None), Err(refusal), "{target}");
        }
        // Checked before the allow-list: nothing about the file is looked at either way.
        assert_eq!(
            p.resolve(Some("elsewhere/db?sslrootcert=/dev/zero"), None),
            Err(Refusal::FileParameter("sslrootcert"))
        );
        assert!(p
            .resolve(Some("x/db?application_name=a&connect_timeout=2"), None)
            .is_ok());
        assert_eq!(
            p.resolve(Some("x"), Some("nope")),
            Err(Refusal::UnknownModule)
        );
        assert_eq!(p.resolve(Some(" "), None), Err(Refusal::NoTarget));
    }
}
