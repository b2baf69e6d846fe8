//! Which Redis servers `/scrape?target=` may reach, and so receive the configured credentials:
//! the configured `redis.addr`, the addresses of the password file and `scrape.allowed_targets`.
//! Anything else is refused before a connection is made.

use std::collections::HashSet;
use std::path::PathBuf;

use redis::{ConnectionAddr, ConnectionInfo};

use crate::target::{self, Credentials, Target, TargetError};

/// Where a connection goes, without scheme, user, password or database: what the allow-list
/// compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Host as written (lower case, without a trailing dot; no DNS lookup) and port.
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
}

impl Endpoint {
    pub fn of(info: &ConnectionInfo) -> Self {
        match &info.addr {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                Self::Tcp {
                    host: host.trim_end_matches('.').to_ascii_lowercase(),
                    port: *port,
                }
            }
            ConnectionAddr::Unix(path) => Self::Unix(path.clone()),
        }
    }
}

/// The endpoints `/scrape` may reach.
#[derive(Debug, Clone, Default)]
pub struct AllowedTargets {
    endpoints: HashSet<Endpoint>,
}

/// An entry of the allow-list that is not an address; `position` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scrape.allowed_targets (--scrape.allowed-targets) entry {position}: {reason}")]
pub struct AllowedTargetError {
    pub position: usize,
    pub reason: TargetError,
}

impl AllowedTargets {
    /// The configured target, the password file's addresses (an entry that is not an address
    /// allows nothing) and `extra`, each written as `/scrape?target=` takes it.
    pub fn new(
        configured: &Target,
        credentials: &Credentials,
        extra: &[String],
    ) -> Result<Self, AllowedTargetError> {
        let mut endpoints = HashSet::new();
        endpoints.insert(Endpoint::of(&configured.connection));
        let bare = Credentials::default();
        for address in credentials.by_address.keys() {
            match target::parse(address, &bare, false) {
                Ok(t) => {
                    endpoints.insert(Endpoint::of(&t.connection));
                }
                Err(e) => tracing::warn!(error = %e, "a password file address allows no target"),
            }
        }
        for (i, address) in extra.iter().enumerate() {
            let t = target::parse(address, &bare, false).map_err(|reason| AllowedTargetError {
                position: i.saturating_add(1),
                reason,
            })?;
            endpoints.insert(Endpoint::of(&t.connection));
        }
        Ok(Self { endpoints })
    }

    pub fn allows(&self, target: &Target) -> bool {
        self.endpoints.contains(&Endpoint::of(&target.connection))
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(address: &str) -> Target {
        target::parse(address, &Credentials::default(), false).unwrap()
    }

    #[test]
    fn only_the_configured_target_by_default() {
        let allowed =
            AllowedTargets::new(&target("redis://Redis:6379"), &Credentials::default(), &[])
                .unwrap();
        assert!(allowed.allows(&target("redis:6379")));
        assert!(allowed.allows(&target("rediss://user@REDIS.:6379/3")));
        assert!(!allowed.allows(&target("redis:6380")));
        assert!(!allowed.allows(&target("10.0.0.1:6379")));
        assert!(!allowed.allows(&target("unix:///tmp/redis.sock")));
    }

    #[test]
    fn listed_and_password_file_addresses_are_allowed() {
        let mut credentials = Credentials::default();
        credentials
            .by_address
            .insert("redis://cache:7000".into(), "pw".into());
        credentials
            .by_address
            .insert("not an address".into(), "pw".into());
        let allowed = AllowedTargets::new(
            &target("localhost:6379"),
            &credentials,
            &["10.0.0.5:6380".into(), "unix:///run/redis.sock".into()],
        )
        .unwrap();
        assert!(allowed.allows(&target("redis://cache:7000")));
        assert!(allowed.allows(&target("redis://10.0.0.5:6380/1")));
        assert!(allowed.allows(&target("unix:///run/redis.sock?db=2")));
        assert!(!allowed.allows(&target("10.0.0.5:6379")));
        assert_eq!(allowed.len(), 4);
    }

    #[test]
    fn a_bad_entry_is_named_by_position_not_value() {
        let err = AllowedTargets::new(
            &target("localhost:6379"),
            &Credentials::default(),
            &["h:1".into(), "redis://:hunter/2@h:x".into()],
        )
        .unwrap_err();
        assert_eq!(err.position, 2);
        assert!(!err.to_string().contains("hunter"), "{err}");
    }
}
