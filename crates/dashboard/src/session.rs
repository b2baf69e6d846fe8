//! Login sessions: a random 256-bit id in an HttpOnly, SameSite=Strict cookie, held in a table
//! of bounded size for a bounded time. The table keeps SHA-256 of each id, not the id itself,
//! so neither a memory dump nor a lookup's timing gives a usable cookie away.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "clustermon_session";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no random numbers from the operating system")]
    Random,
}

struct Session {
    user: String,
    created: Instant,
}

/// The sessions of one dashboard process.
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
    lifetime: Duration,
    max: usize,
}

impl Sessions {
    pub fn new(lifetime: Duration, max: usize) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            lifetime,
            max: max.max(1),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new session for `user`; its id, for the cookie. When the table is full, expired
    /// sessions go first, then the oldest.
    pub fn create(&self, user: &str) -> Result<String, SessionError> {
        let mut raw = [0u8; 32];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut raw)
            .map_err(|_| SessionError::Random)?;
        let id = hex(&raw);
        let mut table = self.lock();
        if table.len() >= self.max {
            let lifetime = self.lifetime;
            table.retain(|_, s| s.created.elapsed() < lifetime);
        }
        while table.len() >= self.max {
            let Some(oldest) = table.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) else {
                break;
            };
            table.remove(&oldest);
        }
        table.insert(
            key(&id),
            Session {
                user: user.to_string(),
                created: Instant::now(),
            },
        );
        Ok(id)
    }

    /// The user of a live session, or `None` (unknown or expired; an expired one is removed).
    pub fn user(&self, id: &str) -> Option<String> {
        let key = key(id);
        let mut table = self.lock();
        let session = table.get(&key)?;
        if session.created.elapsed() >= self.lifetime {
            table.remove(&key);
            return None;
        }
        Some(session.user.clone())
    }

    /// Ends a session (logout).
    pub fn end(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session id in a request's `Cookie` headers, if any.
pub fn from_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Option<String> {
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value for a new session (`Secure` when served over TLS).
pub fn set_cookie(id: &str, lifetime: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_256_bit_and_map_to_their_user() {
        let sessions = Sessions::new(Duration::from_secs(60), 10);
        let a = sessions.create("admin").unwrap();
        let b = sessions.create("admin").unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(sessions.user(&a).as_deref(), Some("admin"));
        sessions.end(&a);
        assert_eq!(sessions.user(&a), None);
        assert_eq!(sessions.user(&b).as_deref(), Some("admin"));
    }

    #[test]
    fn sessions_expire_and_the_table_stays_bounded() {
        let sessions = Sessions::new(Duration::from_millis(30), 3);
        let first = sessions.create("u").unwrap();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(sessions.user(&first), None);
        let ids: Vec<String> = (0..5).map(|_| sessions.create("u").unwrap()).collect();
        assert_eq!(sessions.len(), 3);
        // The oldest went first.
        assert_eq!(sessions.user(&ids[0]), None);
        assert!(sessions.user(&ids[4]).is_some());
    }

    #[test]
    fn the_cookie_is_found_among_others_and_checked() {
        let id = "ab".repeat(32);
        let header = format!("theme=dark; {COOKIE}={id}; x=1");
        assert_eq!(from_cookies([header.as_str()].into_iter()), Some(id));
        assert_eq!(
            from_cookies([format!("{COOKIE}=short").as_str()].into_iter()),
            None
        );
        let cookie = set_cookie("x", Duration::from_secs(3600), true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=3600",
            "Secure",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!set_cookie("x", Duration::from_secs(1), false).contains("Secure"));
    }
}
