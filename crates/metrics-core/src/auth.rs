//! What a web configuration file asks of every request: basic authentication against its bcrypt
//! users, its response headers and its rate limit, checked before any route runs.
//!
//! As upstream: a user that does not exist is checked against a fixed hash (no timing oracle for
//! user names), results are cached by user, hash and password, and one bcrypt runs at a time (it
//! costs tens of milliseconds by design) — here on the blocking pool, off the HTTP workers.
//! Ours besides: `GET /health` from loopback needs no password, so the `healthcheck`
//! subcommand (which has no password, only the hashes) works inside a container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

use crate::web_config::{RateLimit, WatchedWebConfig, WebConfigFile};

/// bcrypt of "fakepassword", cost 10: what a request naming an unknown user is checked against.
const UNKNOWN_USER_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Cached outcomes kept before the cache is emptied (each costs 33 bytes; a flood of wrong
/// passwords must not grow it without bound).
const MAX_CACHED: usize = 4096;

/// A service's own say in who gets in, beside the web configuration file's basic auth: the
/// dashboard's login sessions, public pages and Host allow-list. Registered as
/// `web::Data<dyn Gate>` app data.
pub trait Gate: Send + Sync + 'static {
    /// Checked first for every request, with or without a web configuration file: an answer
    /// refuses the request with it.
    fn screen(&self, req: &ServiceRequest) -> Option<HttpResponse>;
    /// Whether the request may pass without basic credentials (a valid session, a public page).
    fn admits(&self, req: &ServiceRequest) -> bool;
    /// The answer to a request that is not authenticated (instead of the bare 401).
    fn unauthorized(&self, req: &ServiceRequest) -> HttpResponse;
}

/// The request guard of one server, shared by its workers.
pub struct WebGuard {
    config: Arc<WatchedWebConfig>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    bcrypt: tokio::sync::Semaphore,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl WebGuard {
    pub fn new(config: Arc<WatchedWebConfig>) -> Self {
        Self {
            config,
            cache: Mutex::new(HashMap::new()),
            bcrypt: tokio::sync::Semaphore::new(1),
            bucket: Mutex::new(Bucket {
                tokens: f64::MAX,
                last: Instant::now(),
            }),
        }
    }

    /// Whether the rate limit lets one more request through now.
    fn allow(&self, limit: &Option<RateLimit>) -> bool {
        let Some(limit) = limit.as_ref().filter(|l| !l.interval.is_zero()) else {
            return true;
        };
        let mut bucket = match self.bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let burst = f64::from(limit.burst);
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() / limit.interval.as_secs_f64();
        bucket.tokens = (bucket.tokens.min(burst) + refill).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether `user:password` is one of the current file's users (the same checks, cache and
    /// bcrypt queue as basic auth), for a service's own login form.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let file = self.config.current();
        self.authenticated(&file, user, password).await
    }

    /// Whether the current file asks for basic authentication.
    pub fn requires_login(&self) -> bool {
        !self.config.current().basic_auth_users.is_empty()
    }

    /// Whether the current file serves TLS.
    pub fn serves_tls(&self) -> bool {
        self.config.current().tls_server_config.is_some()
    }

    /// Whether `user:password` is one of the file's users.
    async fn authenticated(&self, file: &WebConfigFile, user: &str, password: &str) -> bool {
        let known = file.basic_auth_users.get(user);
        let hash = known.map_or(UNKNOWN_USER_HASH, String::as_str);
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Some(ok) = self.cached(&key) {
            return ok && known.is_some();
        }
        let Ok(_permit) = self.bcrypt.acquire().await else {
            return false;
        };
        let (hash, password) = (hash.to_string(), password.to_string());
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .map(|r| r.unwrap_or(false))
            .unwrap_or(false);
        let ok = matches && known.is_some();
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        let cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.get(key).copied()
    }
}

/// `user` and `password` from an `Authorization: Basic ...` header.
fn basic_credentials(req: &ServiceRequest) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn is_loopback_health(req: &ServiceRequest) -> bool {
    req.path() == "/health" && req.peer_addr().is_some_and(|a| a.ip().is_loopback())
}

/// The middleware: rate limit, authentication, then the configured headers on every answer.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let gate = req.app_data::<web::Data<dyn Gate>>().cloned();
    if let Some(answer) = gate.as_ref().and_then(|g| g.screen(&req)) {
        return Ok(req.into_response(answer));
    }
    let Some(guard) = req.app_data::<web::Data<WebGuard>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let file = guard.config.current();
    let refusal = if !guard.allow(&file.rate_limit) {
        crate::refused::count("rate_limit");
        Some(HttpResponse::TooManyRequests().body("Too Many Requests\n"))
    } else if file.basic_auth_users.is_empty()
        || is_loopback_health(&req)
        || gate.as_ref().is_some_and(|g| g.admits(&req))
    {
        None
    } else {
        let ok = match basic_credentials(&req) {
            Some((user, password)) => guard.authenticated(&file, &user, &password).await,
            None => false,
        };
        (!ok).then(|| {
            crate::refused::count("unauthorized");
            match &gate {
                Some(gate) => gate.unauthorized(&req),
                None => HttpResponse::Unauthorized()
                    .insert_header(("WWW-Authenticate", "Basic"))
                    .body("Unauthorized\n"),
            }
        })
    };
    let mut response = match refusal {
        Some(answer) => req.into_response(answer),
        None => next.call(req).await?.map_into_boxed_body(),
    };
    for (name, value) in &file.http_server_config.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
