//! Who gets in: the `Host` allow-list (against DNS rebinding), login sessions beside the web
//! configuration file's basic auth, and the read-only public mode. Registered with metrics-core's
//! request guard as its [`Gate`]; the login form itself is in `login.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpMessage, HttpResponse};
use clap::{Arg, ArgAction};
use metrics_core::auth::Gate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::session::{self, Sessions};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Lets anyone read the page and the container figures without logging in (labels are
    /// removed from what they get; alerts, history, events, system details and /metrics stay
    /// behind the login). Only with basic-auth users in the web configuration file.
    pub public: bool,
    /// `Host` names answered besides loopback names, IP addresses and the listen address' host;
    /// others get 421. A comma-separated string in the environment.
    #[serde(deserialize_with = "metrics_core::config::one_or_many")]
    pub allowed_hosts: Vec<String>,
    /// How long a login session lasts.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Sessions held at once; a new login beyond this ends the oldest.
    pub max_sessions: usize,
    /// Login attempts per minute from one address; more get 429.
    pub login_attempts_per_minute: u32,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            public: false,
            allowed_hosts: Vec::new(),
            session_lifetime: Duration::from_secs(8 * 3600),
            max_sessions: 1024,
            login_attempts_per_minute: 10,
        }
    }
}

impl AccessConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.session_lifetime < Duration::from_secs(60) {
            return Err("access.session_lifetime must be at least 1m".into());
        }
        if self.max_sessions == 0 || self.login_attempts_per_minute == 0 {
            return Err(
                "access.max_sessions and access.login_attempts_per_minute must be above 0".into(),
            );
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|h| !is_host_name(h)) {
            return Err(format!("access.allowed_hosts: {bad:?} is not a host name"));
        }
        Ok(())
    }
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// The access flags; each id is its config key.
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new("access.public")
            .long("dashboard.public")
            .action(ArgAction::SetTrue)
            .help("Read-only public mode: the page and container figures without a login (labels removed); alerts, history, events, system details and /metrics stay protected"),
        Arg::new("access.allowed_hosts")
            .long("web.allowed-hosts")
            .value_name("HOST")
            .action(ArgAction::Append)
            .help("A Host name answered besides loopback names, IP addresses and the listen address' host (repeatable); other Host headers get 421 (DNS rebinding)"),
        Arg::new("access.session_lifetime")
            .long("dashboard.session-lifetime")
            .value_name("DURATION")
            .help("How long a login session lasts"),
        Arg::new("access.max_sessions")
            .long("dashboard.max-sessions")
            .value_name("N")
            .help("Login sessions held at once; a new login beyond this ends the oldest"),
        Arg::new("access.login_attempts_per_minute")
            .long("dashboard.login-attempts-per-minute")
            .value_name("N")
            .help("Login attempts per minute from one address; more get 429"),
    ]
}

/// Marks a request let in by the public mode alone: what it gets has no labels.
#[derive(Debug, Clone, Copy)]
pub struct Anonymous;

/// The dashboard's [`Gate`].
pub struct Access {
    pub public: bool,
    /// Lower-case host names answered (IP addresses always are).
    pub hosts: Vec<String>,
    pub sessions: Arc<Sessions>,
}

impl Access {
    /// `configured` names plus the loopback names and the listen address' host.
    pub fn new(config: &AccessConfig, listen_address: &str, sessions: Arc<Sessions>) -> Self {
        let mut hosts: Vec<String> = ["localhost"].iter().map(|h| (*h).to_string()).collect();
        let listen_host = listen_address
            .rsplit_once(':')
            .map_or(listen_address, |(h, _)| h)
            .trim_matches(['[', ']']);
        if !listen_host.is_empty() {
            hosts.push(listen_host.to_ascii_lowercase());
        }
        hosts.extend(config.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()));
        Self {
            public: config.public,
            hosts,
            sessions,
        }
    }

    fn host_allowed(&self, req: &ServiceRequest) -> bool {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()));
        let Some(host) = host else {
            return false;
        };
        host_allowed(&self.hosts, &host)
    }

    /// A live session's user, from the request's cookie.
    pub fn session_user(&self, req: &ServiceRequest) -> Option<String> {
        let cookies = req
            .headers()
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok());
        session::from_cookies(cookies).and_then(|id| self.sessions.user(&id))
    }
}

/// Whether a `Host` header value (`name[:port]`) is allowed: an IP address (a rebinding page
/// never has one as its origin), `*.localhost`, or one of `hosts`.
pub fn host_allowed(hosts: &[String], value: &str) -> bool {
    let name = if let Some(rest) = value.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        value.rsplit_once(':').map_or(value, |(h, _)| h)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || hosts.contains(&name)
}

/// Paths of the login form, open to everyone.
fn is_login_path(path: &str) -> bool {
    matches!(path, "/login" | "/login.css" | "/logout")
}

/// Pages a browser navigates to: an unauthenticated request is sent to the login form.
fn is_page(path: &str) -> bool {
    path == "/" || path == "/index.html" || path.starts_with("/assets/")
}

/// What the public mode shows without a login: the page and docker-api's container figures
/// (read only). Not alerts, history, events, system details, /metrics or /health.
pub fn is_public(path: &str) -> bool {
    if is_page(path) || path == "/page-config" {
        return true;
    }
    let Some(api) = path.strip_prefix("/api/") else {
        return false;
    };
    let segments: Vec<&str> = api.split('/').collect();
    matches!(
        segments.as_slice(),
        ["containers"]
            | ["containers", _, "stats" | "history"]
            | ["stats", "aggregate" | "history" | "stream"]
            | ["nodes"]
            | ["services"]
    )
}

impl Gate for Access {
    fn screen(&self, req: &ServiceRequest) -> Option<HttpResponse> {
        if self.host_allowed(req) {
            return None;
        }
        metrics_core::refused::count("host_not_allowed");
        Some(
            HttpResponse::build(StatusCode::MISDIRECTED_REQUEST)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({
                    "error": "this Host is not served here (see --web.allowed-hosts)",
                    "status": 421
                })),
        )
    }

    fn admits(&self, req: &ServiceRequest) -> bool {
        if is_login_path(req.path()) || self.session_user(req).is_some() {
            return true;
        }
        let read = matches!(*req.method(), Method::GET | Method::HEAD);
        // Basic credentials are checked as such (a wrong password is a 401, not anonymous).
        let sends_credentials = req.headers().contains_key(header::AUTHORIZATION);
        if self.public && read && !sends_credentials && is_public(req.path()) {
            req.extensions_mut().insert(Anonymous);
            return true;
        }
        false
    }

    fn unauthorized(&self, req: &ServiceRequest) -> HttpResponse {
        if is_page(req.path()) && matches!(*req.method(), Method::GET | Method::HEAD) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let mut answer = HttpResponse::Unauthorized();
        answer.insert_header((header::CACHE_CONTROL, "no-store"));
        // The page's own requests (a browser says Sec-Fetch-Site) must not pop up the bare
        // basic-auth prompt when a session ends; other clients are told to send credentials.
        if !req.headers().contains_key("sec-fetch-site") {
            answer.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"clustermon\""));
        }
        answer.json(json!({
            "error": "authentication required: log in at /login or send basic credentials",
            "status": 401
        }))
    }
}

/// Removes every `labels` member from a JSON answer (for [`Anonymous`] requests).
pub fn strip_labels(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("labels");
            map.values_mut().for_each(strip_labels);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_labels),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_loopback_ips_and_configured_names_only() {
        let hosts = vec!["dashboard".to_string()];
        for ok in [
            "localhost:3000",
            "LOCALHOST",
            "app.localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "10.0.0.5",
            "dashboard:3000",
            "dashboard.",
        ] {
            assert!(host_allowed(&hosts, ok), "{ok}");
        }
        for bad in [
            "evil.example:3000",
            "dashboard.evil.example",
            "localhost.evil",
            "",
        ] {
            assert!(!host_allowed(&hosts, bad), "{bad}");
        }
    }

    #[test]
    fn public_paths_are_the_page_and_container_figures() {
        for p in [
            "/",
            "/assets/app.js",
            "/api/containers",
            "/api/containers/abc/stats",
            "/api/containers/abc/history",
            "/api/stats/stream",
            "/api/nodes",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in [
            "/metrics",
            "/health",
            "/alerts",
            "/api/system/info",
            "/api/containers/abc",
            "/history/cluster",
            "/events/containers/x",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }

    #[test]
    fn labels_are_stripped_at_any_depth() {
        let mut v = json!({"containers": [{"name": "a", "labels": {"k": "secret"}}], "labels": 1});
        strip_labels(&mut v);
        assert!(!v.to_string().contains("secret"));
        assert_eq!(v["containers"][0]["name"], "a");
    }
}
