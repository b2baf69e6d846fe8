//! `/api/*`: GET and HEAD forwarded to docker-api, so the page talks to one origin and needs no
//! CORS. Only `/api/` paths made of plain segments are forwarded (no `..`, no other host): this
//! is not an open proxy. Answers are read up to `max_body_bytes`. The event stream is passed
//! through chunk by chunk, never buffered beyond one chunk, under caps on relayed streams in
//! total and per browser address, and dropped when the browser stops taking it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use metrics_core::client::{self, ReadError};
use serde_json::json;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Longest query string forwarded; docker-api's own take a few dozen bytes.
const MAX_QUERY: usize = 1024;

/// docker-api's event stream, the one path relayed as a stream.
pub const STREAM_PATH: &str = "/api/stats/stream";

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
    /// `base` without any userinfo: what logs, error bodies and `/health` show.
    pub shown: String,
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub outcomes: Outcomes,
    /// Event streams being forwarded now.
    pub streams: Arc<AtomicI64>,
    pub limits: RelayLimits,
}

/// What one browser, and all of them, may hold of the forwarder.
pub struct RelayLimits {
    /// Relayed streams in total.
    pub streams: Arc<Semaphore>,
    /// Relayed streams per browser address.
    pub per_address: AddressSlots,
    /// How long a browser may leave a relayed chunk untaken.
    pub write_deadline: Duration,
    /// The largest answer forwarded.
    pub max_body_bytes: usize,
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
    #[error("{upstream} at {url} answered more than {max} bytes")]
    TooLarge {
        upstream: &'static str,
        url: String,
        max: usize,
    },
    #[error("too many event streams relayed at once; try again")]
    TooManyStreams,
    #[error("too many event streams relayed to this address at once")]
    TooManyStreamsFromAddress,
}

impl ForwardError {
    /// An answer from `upstream` that could not be read whole ([`ReadError::TimedOut`] is
    /// left to the caller, which knows its timeout).
    fn reading(e: ReadError, upstream: &'static str, shown: &str) -> Self {
        match e {
            ReadError::TooLarge { max } => {
                metrics_core::refused::count("upstream_body_too_large");
                Self::TooLarge {
                    upstream,
                    url: shown.to_string(),
                    max,
                }
            }
            ReadError::TimedOut | ReadError::Transport(_) => Self::Unreachable {
                upstream,
                url: shown.to_string(),
                reason: e.to_string(),
            },
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadPath(_) => StatusCode::BAD_REQUEST,
            Self::Unreachable { .. } | Self::TooLarge { .. } => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::TooManyStreams => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyStreamsFromAddress => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// `{error, status}` like docker-api's own errors, plus which upstream failed.
    pub fn response(&self) -> HttpResponse {
        let status = self.status();
        let mut body = json!({"error": self.to_string(), "status": status.as_u16()});
        if let (
            Self::Unreachable { upstream, .. }
            | Self::Timeout { upstream, .. }
            | Self::TooLarge { upstream, .. },
            Some(map),
        ) = (self, body.as_object_mut())
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

/// The body of `response`, read chunk by chunk and given up as soon as it passes `max` bytes
/// (the caller bounds the time).
pub async fn read_capped(
    response: reqwest::Response,
    max: usize,
    upstream: &'static str,
    shown: &str,
) -> Result<Bytes, ForwardError> {
    client::read_capped(response, max)
        .await
        .map_err(|e| ForwardError::reading(e, upstream, shown))
}

/// `GET|HEAD /api/{tail}`.
pub async fn forward(req: HttpRequest, docker_api: web::Data<DockerApi>) -> HttpResponse {
    match forward_request(&req, &docker_api).await {
        Ok(response) => response,
        Err(e) => {
            if !matches!(
                e,
                ForwardError::BadPath(_)
                    | ForwardError::TooManyStreams
                    | ForwardError::TooManyStreamsFromAddress
            ) {
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
    // Taken before docker-api is asked, so that a refused browser costs it nothing.
    let relay = if req.uri().path() == STREAM_PATH {
        Some(
            docker_api
                .limits
                .relay_slot(req.peer_addr().map(|a| a.ip()))?,
        )
    } else {
        None
    };
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
        url: docker_api.shown.clone(),
        reason: error_chain(e),
    };
    let timed_out = || ForwardError::Timeout {
        upstream: "docker-api",
        url: docker_api.shown.clone(),
        timeout: docker_api.timeout,
    };
    let outcome = tokio::time::timeout_at(deadline, request.send()).await;
    let response = count(&docker_api.outcomes, outcome)
        .map_err(|_| timed_out())?
        .map_err(unreachable)?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    // docker-api refusing this service is a configuration fault here, not the browser's: a 401
    // passed on would read as "your session ended" to the page.
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Err(ForwardError::Unreachable {
            upstream: "docker-api",
            url: docker_api.shown.clone(),
            reason: format!(
                "it refused the dashboard's credentials (HTTP {}); see docker_api.username and docker_api.password_file",
                status.as_u16()
            ),
        });
    }
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
    if let (true, Some(relay)) = (content_type.starts_with(b"text/event-stream"), relay) {
        return Ok(stream_through(builder, response, docker_api, relay));
    }
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    let max = docker_api.limits.max_body_bytes;
    let body = client::read_capped_until(response, max, deadline)
        .await
        .map_err(|e| match e {
            ReadError::TimedOut => timed_out(),
            e => ForwardError::reading(e, "docker-api", &docker_api.shown),
        })?;
    if req.extensions().contains::<crate::access::Anonymous>() {
        return Ok(builder.body(without_labels(&body, docker_api)?));
    }
    Ok(builder.body(body))
}

/// A JSON answer without any `labels` (for the public mode's anonymous requests); an answer
/// that is not JSON is not passed on to them.
fn without_labels(body: &Bytes, docker_api: &DockerApi) -> Result<Bytes, ForwardError> {
    if body.is_empty() {
        return Ok(body.clone());
    }
    let unreadable = |e: serde_json::Error| ForwardError::Unreachable {
        upstream: "docker-api",
        url: docker_api.shown.clone(),
        reason: format!("answered something other than JSON: {e}"),
    };
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(unreadable)?;
    crate::access::strip_labels(&mut value);
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(unreadable)
}

/// Counts the outcome of a request to an upstream.
pub fn count<T, E>(
    outcomes: &Outcomes,
    outcome: Result<Result<T, E>, tokio::time::error::Elapsed>,
) -> Result<Result<T, E>, tokio::time::error::Elapsed> {
    let counter = match &outcome {
        Ok(Ok(_)) => &outcomes.answered,
        Ok(Err(_)) => &outcomes.failed,
        Err(_) => &outcomes.timed_out,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    outcome
}

impl RelayLimits {
    /// A place for one more relayed stream from `address`, or the refusal to answer.
    fn relay_slot(&self, address: Option<IpAddr>) -> Result<RelaySlot, ForwardError> {
        let Some(address) = self.per_address.try_acquire(address) else {
            metrics_core::refused::count("relay_streams_per_address");
            return Err(ForwardError::TooManyStreamsFromAddress);
        };
        let Ok(permit) = self.streams.clone().try_acquire_owned() else {
            metrics_core::refused::count("relay_streams");
            return Err(ForwardError::TooManyStreams);
        };
        Ok(RelaySlot { permit, address })
    }
}

/// One relayed stream's places: in the total (given back when the relay ends) and in its
/// browser address' count (given back when the browser's connection goes).
struct RelaySlot {
    permit: OwnedSemaphorePermit,
    address: AddressSlot,
}

/// Decrements the stream count when the relay ends.
struct StreamGauge(Arc<AtomicI64>);

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Passes each chunk on as it arrives: the body is never collected, gzip is off (compressing
/// would hold small frames back). A relay task reads docker-api's stream one chunk at a time
/// into a channel of one chunk that the browser's response drains; so at most a chunk waits
/// here per browser. The relay ends, closing docker-api's stream (so the browser's EventSource
/// reconnects), when docker-api closes it, fails or sends nothing for `stream_idle_timeout`,
/// when the browser goes, or when the browser has not taken a chunk for the write deadline.
fn stream_through(
    mut builder: actix_web::HttpResponseBuilder,
    response: reqwest::Response,
    docker_api: &DockerApi,
    slot: RelaySlot,
) -> HttpResponse {
    docker_api.streams.fetch_add(1, Ordering::Relaxed);
    let gauge = StreamGauge(docker_api.streams.clone());
    let (tx, browser) = mpsc::channel(1);
    let pacing = (
        docker_api.stream_idle_timeout,
        docker_api.limits.write_deadline,
    );
    tokio::spawn(async move {
        relay(response, tx, pacing).await;
        drop((slot.permit, gauge));
    });
    let chunks = futures_util::stream::unfold(
        (browser, slot.address),
        |(mut browser, address)| async move {
            let chunk = browser.recv().await?;
            Some((Ok::<_, std::io::Error>(chunk), (browser, address)))
        },
    );
    builder
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(chunks)
}

/// Moves docker-api's chunks to the browser until one side ends (see [`stream_through`]).
async fn relay(
    mut response: reqwest::Response,
    tx: mpsc::Sender<Bytes>,
    (idle, write_deadline): (Duration, Duration),
) {
    loop {
        let next = tokio::select! {
            _ = tx.closed() => return,
            next = tokio::time::timeout(idle, response.chunk()) => next,
        };
        let chunk = match next {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::info!(error = %error_chain(e), "docker-api's event stream broke");
                return;
            }
            Err(_) => {
                tracing::warn!(idle = ?idle, "docker-api's event stream went silent; closing it");
                return;
            }
        };
        match tokio::time::timeout(write_deadline, tx.send(chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                metrics_core::refused::count("relay_write_deadline");
                tracing::info!(deadline = ?write_deadline, "dropped a relayed event stream whose browser stopped reading");
                return;
            }
        }
    }
}

pub use metrics_core::client::error_chain;
pub use metrics_core::slots::{AddressSlot, AddressSlots};

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

    #[test]
    fn address_slots_are_capped_per_address_and_given_back() {
        let slots = AddressSlots::new(1);
        let a: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        let first = slots.try_acquire(a).unwrap();
        assert!(slots.try_acquire(a).is_none());
        assert!(slots
            .try_acquire(Some("127.0.0.2".parse().unwrap()))
            .is_some());
        drop(first);
        assert!(slots.try_acquire(a).is_some());
    }

    #[test]
    fn errors_name_the_upstream_without_its_password() {
        let e = ForwardError::Unreachable {
            upstream: "docker-api",
            url: metrics_core::secret::redact_url("http://user:s3cret@docker-api:3001"),
            reason: "refused".into(),
        };
        assert!(!e.to_string().contains("s3cret"));
        assert!(e.to_string().contains("docker-api:3001"));
    }
}
