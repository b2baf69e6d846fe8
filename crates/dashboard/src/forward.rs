//! `/api/*`: GET and HEAD forwarded to docker-api, so the page talks to one origin and needs no
//! CORS. Only `/api/` paths made of plain segments are forwarded (no `..`, no other host): this
//! is not an open proxy. The event stream is passed through chunk by chunk, never buffered.

use std::error::Error as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use tokio::time::Instant;

/// Longest query string forwarded; docker-api's own take a few dozen bytes.
const MAX_QUERY: usize = 1024;

/// Requests to one upstream by outcome, for `/metrics`.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// An HTTP answer came back, whatever its status.
    pub answered: AtomicU64,
    /// Connection refused, reset or otherwise failed.
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
}

/// docker-api, as the forwarder reaches it.
pub struct DockerApi {
    /// Base URL without a trailing slash.
    pub base: String,
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub outcomes: Outcomes,
    /// Event streams being forwarded now.
    pub streams: Arc<AtomicI64>,
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{0}")]
    BadPath(String),
    #[error("{upstream} at {url} is unreachable: {reason}")]
    Unreachable {
        upstream: &'static str,
        url: String,
        reason: String,
    },
    #[error("{upstream} at {url} did not answer within {timeout:?}")]
    Timeout {
        upstream: &'static str,
        url: String,
        timeout: Duration,
    },
}

impl ForwardError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadPath(_) => StatusCode::BAD_REQUEST,
            Self::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// `{error, status}` like docker-api's own errors, plus which upstream failed.
    pub fn response(&self) -> HttpResponse {
        let status = self.status();
        let mut body = json!({"error": self.to_string(), "status": status.as_u16()});
        if let (Self::Unreachable { upstream, .. } | Self::Timeout { upstream, .. }, Some(map)) =
            (self, body.as_object_mut())
        {
            map.insert("upstream".into(), (*upstream).into());
        }
        HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body)
    }
}

/// The path and query to request from docker-api, or why not. Segments may hold only the
/// characters of container ids and names (`[A-Za-z0-9_.-]`), and `.`/`..` are refused, so no
/// percent-encoding or dot-segment can lead anywhere but docker-api's `/api/`.
pub fn upstream_path(path: &str, query: &str) -> Result<String, ForwardError> {
    let bad = |why: &str| ForwardError::BadPath(format!("not forwarded: {why}"));
    let rest = path
        .strip_prefix("/api/")
        .ok_or_else(|| bad("only /api/ paths are forwarded"))?;
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(bad("empty, . or .. path segment"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(bad("path segments may hold only A-Z a-z 0-9 _ . -"));
        }
    }
    if query.len() > MAX_QUERY {
        return Err(bad("query string too long"));
    }
    if query
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
    {
        return Err(bad("invalid character in the query string"));
    }
    Ok(if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    })
}

/// The error and its causes on one line ("error sending request: ... : Connection refused").
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `GET|HEAD /api/{tail}`.
pub async fn forward(req: HttpRequest, docker_api: web::Data<DockerApi>) -> HttpResponse {
    match forward_request(&req, &docker_api).await {
        Ok(response) => response,
        Err(e) => {
            if !matches!(e, ForwardError::BadPath(_)) {
                tracing::warn!(path = req.path(), error = %e, "forwarding failed");
            }
            e.response()
        }
    }
}

async fn forward_request(
    req: &HttpRequest,
    docker_api: &DockerApi,
) -> Result<HttpResponse, ForwardError> {
    let path = upstream_path(req.uri().path(), req.query_string())?;
    let url = format!("{}{path}", docker_api.base);
    let method = if req.method() == Method::HEAD {
        reqwest::Method::HEAD
    } else {
        reqwest::Method::GET
    };
    let mut request = docker_api.client.request(method, &url);
    if let Some(accept) = req.headers().get(header::ACCEPT) {
        request = request.header(reqwest::header::ACCEPT, accept.as_bytes());
    }
    let deadline = Instant::now() + docker_api.timeout;
    let unreachable = |e: reqwest::Error| ForwardError::Unreachable {
        upstream: "docker-api",
        url: docker_api.base.clone(),
        reason: error_chain(&e),
    };
    let timed_out = || ForwardError::Timeout {
        upstream: "docker-api",
        url: docker_api.base.clone(),
        timeout: docker_api.timeout,
    };
    let outcome = tokio::time::timeout_at(deadline, request.send()).await;
    let response = count(&docker_api.outcomes, outcome)
        .map_err(|_| timed_out())?
        .map_err(unreachable)?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_else(|| b"application/json".to_vec());
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CONTENT_TYPE, content_type.clone()));
    if let Some(allow) = response.headers().get(reqwest::header::ALLOW) {
        builder.insert_header((header::ALLOW, allow.as_bytes().to_vec()));
    }
    if content_type.starts_with(b"text/event-stream") {
        return Ok(stream_through(builder, response, docker_api));
    }
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    let body = tokio::time::timeout_at(deadline, response.bytes())
        .await
        .map_err(|_| timed_out())?
        .map_err(unreachable)?;
    Ok(builder.body(body))
}

/// Counts the outcome of a request to an upstream.
pub fn count<T>(
    outcomes: &Outcomes,
    outcome: Result<Result<T, reqwest::Error>, tokio::time::error::Elapsed>,
) -> Result<Result<T, reqwest::Error>, tokio::time::error::Elapsed> {
    let counter = match &outcome {
        Ok(Ok(_)) => &outcomes.answered,
        Ok(Err(_)) => &outcomes.failed,
        Err(_) => &outcomes.timed_out,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    outcome
}

/// Decrements the stream count when the browser or docker-api ends the stream.
struct StreamSlot(Arc<AtomicI64>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Passes each chunk on as it arrives: the body is never collected, gzip is off (compressing
/// would hold small frames back), and the stream ends (so the browser's EventSource reconnects)
/// when docker-api closes it, fails, or sends nothing for `stream_idle_timeout`.
fn stream_through(
    mut builder: actix_web::HttpResponseBuilder,
    response: reqwest::Response,
    docker_api: &DockerApi,
) -> HttpResponse {
    docker_api.streams.fetch_add(1, Ordering::Relaxed);
    let slot = StreamSlot(docker_api.streams.clone());
    let idle = docker_api.stream_idle_timeout;
    let chunks = futures_util::stream::unfold(
        (response, slot),
        move |(mut response, slot)| async move {
            match tokio::time::timeout(idle, response.chunk()).await {
                Ok(Ok(Some(bytes))) => Some((Ok::<_, std::io::Error>(bytes), (response, slot))),
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    tracing::info!(error = %error_chain(&e), "docker-api's event stream broke");
                    None
                }
                Err(_) => {
                    tracing::warn!(idle = ?idle, "docker-api's event stream went silent; closing it");
                    None
                }
            }
        },
    );
    builder
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_plain_api_paths_with_their_query() {
        assert_eq!(
            upstream_path("/api/containers", "all=true").unwrap(),
            "/api/containers?all=true"
        );
        assert_eq!(
            upstream_path("/api/containers/cm-test_1.web/history", "").unwrap(),
            "/api/containers/cm-test_1.web/history"
        );
    }

    #[test]
    fn refuses_paths_outside_api() {
        for path in [
            "/health",
            "/metrics",
            "/openapi.json",
            "/api",
            "/api/",
            "/api/../health",
            "/api/./containers",
            "/api/containers/%2e%2e/x",
            "/api/containers//x",
            "/api/containers/a%2Fb",
            "/apix/containers",
        ] {
            let e = upstream_path(path, "").unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{path}");
        }
    }

    #[test]
    fn refuses_odd_query_strings() {
        assert!(upstream_path("/api/containers", "a=b c").is_err());
        assert!(upstream_path("/api/containers", &"x".repeat(2000)).is_err());
    }
}
