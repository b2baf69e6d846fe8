//! The login form: `GET /login` shows it, `POST /login` checks the user against the web
//! configuration file's bcrypt users (metrics-core's own check, cache and bcrypt queue) and
//! starts a session, `/logout` ends it. Attempts are rate limited per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use metrics_core::auth::WebGuard;
use serde::Deserialize;

use crate::session::{self, Sessions};

const PAGE: &str = include_str!("../assets/login.html");
const STYLE: &[u8] = include_bytes!("../assets/login.css");
/// Addresses whose attempts are remembered at once.
const MAX_ADDRESSES: usize = 4096;
const CSP: &str = "default-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// Login attempts per address: a bucket of `per_minute` that refills over a minute.
pub struct LoginLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `address` may try once more now. When the table is full, addresses whose bucket
    /// has refilled are forgotten; if none has, new addresses wait.
    pub fn allow(&self, address: IpAddr) -> bool {
        let burst = f64::from(self.per_minute);
        let refill = |tokens: f64, since: Instant| {
            (tokens + since.elapsed().as_secs_f64() * burst / 60.0).min(burst)
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(&address) && buckets.len() >= MAX_ADDRESSES {
            buckets.retain(|_, (tokens, since)| refill(*tokens, *since) < burst);
            if buckets.len() >= MAX_ADDRESSES {
                return false;
            }
        }
        let (tokens, since) = buckets.entry(address).or_insert((burst, Instant::now()));
        let now = refill(*tokens, *since);
        *since = Instant::now();
        if now >= 1.0 {
            *tokens = now - 1.0;
            true
        } else {
            *tokens = now;
            false
        }
    }
}

/// What `POST /login` needs besides the request.
pub struct Login {
    pub sessions: Arc<Sessions>,
    pub limiter: LoginLimiter,
}

#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(form))
            .route(web::head().to(form))
            .route(web::post().to(submit)),
    )
    .service(
        web::resource("/login.css")
            .route(web::get().to(style))
            .route(web::head().to(style)),
    )
    .service(
        web::resource("/logout")
            .route(web::get().to(logout))
            .route(web::post().to(logout)),
    );
}

fn guard(req: &HttpRequest) -> Option<web::Data<WebGuard>> {
    req.app_data::<web::Data<WebGuard>>()
        .cloned()
        .filter(|g| g.requires_login())
}

fn page(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    let body = PAGE.replace("<!--message-->", message);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

fn redirect(to: &str) -> actix_web::HttpResponseBuilder {
    let mut answer = HttpResponse::SeeOther();
    answer
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    answer
}

/// `GET /login`: the form (or the page, when no login is configured).
async fn form(req: HttpRequest) -> HttpResponse {
    if guard(&req).is_none() {
        return redirect("/").finish();
    }
    page(actix_web::http::StatusCode::OK, "")
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(STYLE)
}

/// Whether a form post comes from this site: no `Origin`, or one naming the `Host` asked.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// `POST /login`.
async fn submit(
    req: HttpRequest,
    login: web::Data<Login>,
    fields: web::Form<LoginForm>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(guard) = guard(&req) else {
        return redirect("/").finish();
    };
    if !same_origin(&req) {
        metrics_core::refused::count("login_cross_origin");
        return page(
            StatusCode::FORBIDDEN,
            "This form can only be sent from its own page.",
        );
    }
    let address = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    if !login.limiter.allow(address) {
        metrics_core::refused::count("login_rate_limit");
        let mut answer = page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts from this address; wait a minute.",
        );
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        return answer;
    }
    if !guard.verify(&fields.user, &fields.password).await {
        metrics_core::refused::count("login_failed");
        tracing::info!(%address, "login refused");
        return page(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
    }
    match login.sessions.create(&fields.user) {
        Ok(id) => {
            tracing::info!(user = %fields.user, %address, "logged in");
            redirect("/")
                .insert_header((
                    header::SET_COOKIE,
                    session::set_cookie(&id, login.sessions.lifetime(), guard.serves_tls()),
                ))
                .finish()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start a session");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot start a session now.",
            )
        }
    }
}

/// `GET|POST /logout`: ends the session and forgets the cookie. (GET is safe to offer as a
/// link: the cookie is SameSite=Strict, so no other site can log a user out.)
async fn logout(req: HttpRequest, login: web::Data<Login>) -> HttpResponse {
    let cookies = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok());
    if let Some(id) = session::from_cookies(cookies) {
        login.sessions.end(&id);
    }
    let secure = guard(&req).is_some_and(|g| g.serves_tls());
    redirect("/login")
        .insert_header((header::SET_COOKIE, session::clear_cookie(secure)))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_limited_per_address() {
        let limiter = LoginLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(a)));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
    }
}
