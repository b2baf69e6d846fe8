//! The request guard every API route passes: methods, bodies, CORS, the concurrency cap, the
//! timeout, and the request metrics.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::errors::{error, JsonError};
use super::Api;

/// Requests by route, method and status, and their latency.
pub struct HttpMetrics {
    pub registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by route, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request (to the first byte for the event stream), by route and method.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
        })
    }

    fn observe(&self, route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            // Other methods are all refused alike; one label keeps the set small.
            _ => "other",
        };
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }
}

const ALLOWED: &str = "GET, HEAD, OPTIONS";

/// Refuses what the API never accepts, applies CORS, the concurrency cap and the timeout, and
/// counts every request.
pub(super) async fn request_guard(
    api: web::Data<Api>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let allowed_origin = origin
        .as_deref()
        .and_then(|o| allow_origin(&api.cors_origins, o));
    let early = if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        Some(
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed: this API is read-only"),
            )
            .map_into_boxed_body(),
        )
    } else if has_body(&req) {
        Some(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted".into(),
        ))
    } else if method == Method::OPTIONS {
        Some(preflight(allowed_origin.is_some()))
    } else {
        None
    };
    let mut response = match early {
        Some(response) => req.into_response(response),
        None => match api.requests.clone().try_acquire_owned() {
            Err(_) => req.into_response(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests at once; try again".into(),
            )),
            Ok(permit) => {
                // The request moves into the call (routing needs it unshared), so a timeout is
                // answered through the error path.
                let response = tokio::time::timeout(api.request_timeout, next.call(req)).await;
                drop(permit);
                match response {
                    Ok(r) => r?.map_into_boxed_body(),
                    Err(_) => {
                        let status = StatusCode::SERVICE_UNAVAILABLE;
                        api.http
                            .observe("timeout", &method, status, started.elapsed());
                        return Err(JsonError {
                            status,
                            message: "request timed out".into(),
                        }
                        .into());
                    }
                }
            }
        },
    };
    let headers = response.headers_mut();
    if let Some(origin) = allowed_origin {
        if let Ok(v) = HeaderValue::from_str(&origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
    }
    if !api.cors_origins.iter().any(|o| o == "*") {
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(ALLOWED));
    }
    // The route's pattern, never the path itself, keeps the label set small; requests refused
    // before routing and unknown paths share one value.
    let route = response
        .request()
        .match_pattern()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "unmatched".into());
    api.http
        .observe(&route, &method, response.status(), started.elapsed());
    Ok(response)
}

/// The `Access-Control-Allow-Origin` value for `origin`, when it is allowed.
pub fn allow_origin(configured: &[String], origin: &str) -> Option<String> {
    if configured.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    configured
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim() != "0")
        .unwrap_or(false);
    length || headers.contains_key(header::TRANSFER_ENCODING)
}

fn preflight(allowed: bool) -> HttpResponse {
    let mut r = HttpResponse::NoContent();
    r.insert_header((header::ALLOW, ALLOWED));
    if allowed {
        r.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Accept, Cache-Control, Last-Event-ID",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_allows_configured_origins_only() {
        let configured = vec!["http://localhost:3000".to_string()];
        assert_eq!(
            allow_origin(&configured, "http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(allow_origin(&configured, "http://evil.example"), None);
        assert_eq!(
            allow_origin(&["*".to_string()], "http://any").as_deref(),
            Some("*")
        );
    }
}
