//! The HTTP API: read-only routes over what the sampler published, the request guard (methods,
//! bodies, CORS, concurrency, timeout, request metrics), the event stream and the OpenAPI
//! document. Nothing here talks to the daemon but the swarm listings (through `swarm`); in
//! cluster mode the container list and the aggregate also ask the peers (through `cluster`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tokio::sync::{broadcast, OwnedSemaphorePermit, Semaphore};
use utoipa::OpenApi;

use crate::cluster::Cluster;
use crate::history::Limits;
use crate::inventory::{self, Inventory};
use crate::merge::{self, NodeAnswer};
use crate::model::{self, ErrorBody};
use crate::sampler::{json_bytes, Published, Snapshot};
use crate::swarm::{self, SwarmError, SwarmReader};
use crate::validate::{self, Scope};

/// Everything the handlers share.
pub struct Api {
    pub inventory: Arc<Inventory>,
    pub published: Arc<Published>,
    pub limits: Limits,
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub requests: Arc<Semaphore>,
    pub stream_clients: Arc<Semaphore>,
    pub max_stream_clients: usize,
    pub heartbeat: Duration,
    pub http: HttpMetrics,
    pub openapi: Bytes,
    /// `node.name`; empty means the engine's name.
    pub configured_node: String,
    /// Cluster mode: the other nodes' docker-api.
    pub cluster: Option<Arc<Cluster>>,
    /// The daemon client, once connected (for the swarm endpoints).
    pub docker: Arc<OnceLock<bollard::Docker>>,
    pub swarm: SwarmReader,
}

impl Api {
    /// This node's name.
    pub fn node_name(&self) -> String {
        self.inventory.node_name(&self.configured_node)
    }

    pub fn stream_clients(&self) -> usize {
        self.max_stream_clients
            .saturating_sub(self.stream_clients.available_permits())
    }
}

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

/// Registers the API on the shared server.
pub fn configure(cfg: &mut web::ServiceConfig, api: web::Data<Api>) {
    let guard_state = api.clone();
    let get = || {
        web::route()
            .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
    };
    cfg.service(
        web::scope("")
            .app_data(api)
            .wrap(from_fn(move |req, next| {
                request_guard(guard_state.clone(), req, next)
            }))
            .service(web::resource("/openapi.json").route(get().to(openapi)))
            .service(web::resource("/api/containers").route(get().to(list_containers)))
            .service(web::resource("/api/containers/{id}/stats").route(get().to(container_stats)))
            .service(
                web::resource("/api/containers/{id}/history").route(get().to(container_history)),
            )
            .service(web::resource("/api/containers/{tail:.*}").route(get().to(bad_container_path)))
            .service(web::resource("/api/stats/aggregate").route(get().to(aggregate)))
            .service(web::resource("/api/stats/history").route(get().to(stats_history)))
            .service(web::resource("/api/stats/stream").route(get().to(stats_stream)))
            .service(web::resource("/api/system/info").route(get().to(system_info)))
            .service(web::resource("/api/system/version").route(get().to(system_version)))
            .service(web::resource("/api/nodes").route(get().to(swarm_nodes)))
            .service(web::resource("/api/services").route(get().to(swarm_services)))
            .default_service(web::to(not_found)),
    );
}

const ALLOWED: &str = "GET, HEAD, OPTIONS";

/// Refuses what the API never accepts, applies CORS, the concurrency cap and the timeout, and
/// counts every request.
async fn request_guard(
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

/// An error raised where only an `actix_web::Error` can be returned, answered as [`ErrorBody`].
#[derive(Debug)]
struct JsonError {
    status: StatusCode,
    message: String,
}

impl JsonError {
    fn new(status: StatusCode, message: String) -> Self {
        Self { status, message }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl actix_web::ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        error(self.status, self.message.clone())
    }
}

pub fn error(status: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: message,
        status: status.as_u16(),
    })
}

fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// Query parameters, decoded; a malformed string is a 400.
fn query(req: &HttpRequest) -> Result<Vec<(String, String)>, JsonError> {
    parse_query(req.query_string())
        .map_err(|e| JsonError::new(StatusCode::BAD_REQUEST, format!("bad query string: {e}")))
}

fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("bad percent-encoding")?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn window(api: &Api, q: &[(String, String)]) -> Result<Duration, JsonError> {
    match param(q, "window") {
        None => Ok(api.limits.window),
        Some(w) => validate::parse_window(w, validate::MIN_WINDOW, api.limits.long_window)
            .map_err(|e| JsonError::new(StatusCode::BAD_REQUEST, e)),
    }
}

/// The latest round, or the 503 to answer when the daemon is away or nothing was sampled yet.
fn live(api: &Api) -> Result<Arc<Snapshot>, JsonError> {
    if !api.inventory.reachable() {
        let why = api
            .inventory
            .engine()
            .error
            .unwrap_or_else(|| "not connected yet".into());
        return Err(JsonError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("docker daemon unreachable: {why}"),
        ));
    }
    api.published.snapshot().ok_or_else(|| {
        JsonError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no sample taken yet; try again in a moment".into(),
        )
    })
}

fn container_id(req: &HttpRequest) -> Result<String, JsonError> {
    let id = req.match_info().get("id").unwrap_or_default();
    if validate::is_valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(invalid_id())
    }
}

fn invalid_id() -> JsonError {
    JsonError::new(
        StatusCode::BAD_REQUEST,
        "invalid container id or name: it must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$".into(),
    )
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return actix_web::ResponseError::error_response(&e),
        }
    };
}

/// `scope` and `node`, validated.
fn reach(q: &[(String, String)]) -> Result<(Scope, Option<String>), JsonError> {
    let scope = match param(q, "scope") {
        None => Scope::Cluster,
        Some(v) => validate::parse_scope(v).ok_or_else(|| {
            JsonError::new(
                StatusCode::BAD_REQUEST,
                "scope must be local or cluster".into(),
            )
        })?,
    };
    let node = match param(q, "node") {
        None => None,
        Some(v) if validate::is_valid_node(v) => Some(v.to_string()),
        Some(_) => {
            return Err(JsonError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid node: it must match {}", validate::NODE_PATTERN),
            ))
        }
    };
    Ok((scope, node))
}

fn no_such_node(node: &str) -> JsonError {
    JsonError::new(StatusCode::NOT_FOUND, format!("no such node: {node}"))
}

/// Whether this request is answered with this node's view alone (no cluster mode, or
/// `scope=local`), after checking that a `node=` then names this node.
fn local_only(api: &Api, scope: Scope, node: Option<&str>) -> Result<bool, JsonError> {
    if api.cluster.is_some() && scope == Scope::Cluster {
        return Ok(false);
    }
    match node {
        Some(n) if n != api.node_name() => Err(no_such_node(n)),
        _ => Ok(true),
    }
}

/// What a node's answer says about it.
trait NodeBody: serde::de::DeserializeOwned {
    fn node(&self) -> &str;
}

impl NodeBody for model::ContainerList {
    fn node(&self) -> &str {
        &self.node
    }
}

impl NodeBody for model::Aggregate {
    fn node(&self) -> &str {
        &self.node
    }
}

/// This node's answer and every peer's to `path` (which asks for `scope=local`), narrowed to
/// `wanted` when given. Answers within the peer timeout whatever the peers do.
async fn gather<T: NodeBody>(
    api: &Api,
    local: Result<T, String>,
    path: &str,
    wanted: Option<&str>,
) -> Vec<NodeAnswer<T>> {
    let own = api.node_name();
    let mut answers = vec![NodeAnswer {
        node: own.clone(),
        address: "local".into(),
        body: local,
    }];
    let Some(cluster) = api.cluster.as_ref() else {
        return answers;
    };
    if wanted != Some(own.as_str()) {
        let peers = cluster.peers().await;
        // A node that answered before is asked alone; otherwise every peer is.
        let known = wanted
            .and_then(|w| cluster.address_of(w))
            .and_then(|a| peers.iter().find(|p| p.address == a).cloned());
        let asked = match known {
            Some(p) => vec![p],
            None => peers.to_vec(),
        };
        for (peer, body) in cluster.ask::<T>(&asked, path).await {
            let node = match &body {
                Ok(b) => {
                    cluster.remember(&peer.address, b.node());
                    b.node().to_string()
                }
                Err(_) => cluster
                    .known_name(&peer.address)
                    .unwrap_or_else(|| peer.address.clone()),
            };
            answers.push(NodeAnswer {
                node,
                address: peer.address,
                body,
            });
        }
    }
    if let Some(w) = wanted {
        answers.retain(|a| a.node == w || a.address == w);
    }
    answers
}

/// The latest round's body as a typed value, or why there is none.
fn local_body<T: serde::de::DeserializeOwned>(
    api: &Api,
    pick: impl Fn(&Snapshot) -> Bytes,
) -> Result<T, String> {
    let snapshot = live(api).map_err(|e| e.message)?;
    serde_json::from_slice(&pick(&snapshot)).map_err(|e| format!("cannot read own answer: {e}"))
}

/// The containers: running ones, or every one with `all=true`; in cluster mode every node's.
#[utoipa::path(get, path = "/api/containers", tag = "containers",
    params(
        ("all" = Option<bool>, Query, description = "Include stopped containers"),
        ("scope" = Option<String>, Query, description = "`local`: this node only (what peers ask each other for); `cluster` (default): every node in cluster mode", pattern = r"^(local|cluster)$"),
        ("node" = Option<String>, Query, description = "Only this node (its host name)", pattern = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$", max_length = 253),
    ),
    responses(
        (status = 200, description = "The containers, sorted by name (by node and name in cluster mode)", body = model::ContainerList),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No such node", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn list_containers(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let q = tri!(query(&req));
    let all = match param(&q, "all") {
        None => false,
        Some(v) => tri!(validate::parse_bool(v).ok_or_else(|| JsonError::new(
            StatusCode::BAD_REQUEST,
            "all must be true or false".into()
        ))),
    };
    let (scope, node) = tri!(reach(&q));
    let pick = |s: &Snapshot| -> Bytes {
        if all {
            s.all_json.clone()
        } else {
            s.running_json.clone()
        }
    };
    if tri!(local_only(&api, scope, node.as_deref())) {
        let snapshot = tri!(live(&api));
        return json(pick(&snapshot));
    }
    let local = local_body(&api, pick);
    let path = format!("/api/containers?scope=local&all={all}");
    let answers = gather(&api, local, &path, node.as_deref()).await;
    if let (true, Some(n)) = (answers.is_empty(), node.as_deref()) {
        return actix_web::ResponseError::error_response(&no_such_node(n));
    }
    json(json_bytes(&merge::containers(&api.node_name(), answers)))
}

/// One running container's latest figures, as `docker stats` computes them.
#[utoipa::path(get, path = "/api/containers/{id}/stats", tag = "containers",
    params(("id" = String, Path, description = "Container id, unique id prefix or name",
            pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", max_length = 128)),
    responses(
        (status = 200, description = "The latest sample", body = model::ContainerStats),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 404, description = "No such running container", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn container_stats(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let id = tri!(container_id(&req));
    tri!(query(&req));
    let snapshot = tri!(live(&api));
    let Some(entry) = inventory::find(&snapshot.containers, &id) else {
        return error(StatusCode::NOT_FOUND, format!("no such container: {id}"));
    };
    match snapshot.stats.get(&entry.id) {
        Some(stats) => json(json_bytes(stats)),
        None => error(
            StatusCode::NOT_FOUND,
            format!("container {} is not running", entry.name),
        ),
    }
}

/// One container's history: at the sample interval up to the short window, one point a minute
/// beyond it.
#[utoipa::path(get, path = "/api/containers/{id}/history", tag = "history",
    params(("id" = String, Path, description = "Container id, unique id prefix or name",
            pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", max_length = 128),
           ("window" = Option<String>, Query, description = "How far back, e.g. 15m or 24h (10s to the long window; default 15m)",
            pattern = r"^[0-9]{1,7}[smh]$")),
    responses(
        (status = 200, description = "The series", body = model::History),
        (status = 400, description = "Invalid id or window", body = ErrorBody),
        (status = 404, description = "No history for this container", body = ErrorBody),
    ))]
async fn container_history(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let id = tri!(container_id(&req));
    let q = tri!(query(&req));
    let window = tri!(window(&api, &q));
    let known = api
        .published
        .snapshot()
        .and_then(|s| inventory::find(&s.containers, &id).map(|e| e.id.clone()));
    let history = api
        .published
        .history
        .read()
        .unwrap_or_else(|p| p.into_inner());
    // A removed container keeps its history for a while: find it by id there too.
    let full_id = known.filter(|k| history.has(k)).or_else(|| {
        let mut matches = history.ids().filter(|h| h.starts_with(id.as_str()));
        match (matches.next(), matches.next()) {
            (Some(h), None) => Some(h.to_string()),
            _ => None,
        }
    });
    let now = now_u32();
    match full_id.and_then(|fid| history.container(&fid, now, window).map(|w| (fid, w))) {
        Some((fid, w)) => json(json_bytes(&model::History { id: fid, window: w })),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no history for container {id}"),
        ),
    }
}

async fn bad_container_path(req: HttpRequest) -> HttpResponse {
    let tail = req.match_info().get("tail").unwrap_or_default();
    // `/api/containers/a/b/stats`: an id with a slash in it. Anything else is no endpoint.
    match tail
        .strip_suffix("/stats")
        .or_else(|| tail.strip_suffix("/history"))
    {
        Some(id) if !validate::is_valid_id(id) => {
            actix_web::ResponseError::error_response(&invalid_id())
        }
        _ => not_found(req).await,
    }
}

/// Totals over every running container, and each one's figures; in cluster mode over every
/// reachable node, with each node's totals.
#[utoipa::path(get, path = "/api/stats/aggregate", tag = "stats",
    params(
        ("scope" = Option<String>, Query, description = "`local`: this node only; `cluster` (default): every node in cluster mode", pattern = r"^(local|cluster)$"),
        ("node" = Option<String>, Query, description = "Only this node (its host name)", pattern = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$", max_length = 253),
    ),
    responses(
        (status = 200, description = "The latest round", body = model::Aggregate),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No such node", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn aggregate(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let q = tri!(query(&req));
    let (scope, node) = tri!(reach(&q));
    if tri!(local_only(&api, scope, node.as_deref())) {
        let snapshot = tri!(live(&api));
        return json(snapshot.aggregate_json.clone());
    }
    let local = local_body(&api, |s| s.aggregate_json.clone());
    let answers = gather(
        &api,
        local,
        "/api/stats/aggregate?scope=local",
        node.as_deref(),
    )
    .await;
    if let (true, Some(n)) = (answers.is_empty(), node.as_deref()) {
        return actix_web::ResponseError::error_response(&no_such_node(n));
    }
    let now = inventory::rfc3339(crate::sampler::now_seconds());
    json(json_bytes(&merge::aggregate(
        &api.node_name(),
        answers,
        now,
    )))
}

/// The swarm's nodes, from a manager's view; with this node's docker-api peers' container
/// counts in cluster mode.
#[utoipa::path(get, path = "/api/nodes", tag = "swarm",
    responses(
        (status = 200, description = "The swarm's nodes, sorted by host name", body = model::SwarmNodeList),
        (status = 409, description = "This engine is not a swarm manager (a worker, or outside any swarm)", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn swarm_nodes(api: web::Data<Api>) -> HttpResponse {
    let state = tri!(swarm_state(&api).await);
    let counts = running_per_node(&api).await;
    let nodes = swarm::nodes(&state, &counts);
    json(json_bytes(&model::SwarmNodeList {
        count: nodes.len(),
        nodes,
    }))
}

/// The swarm's services with their desired and running tasks, as `docker service ls`.
#[utoipa::path(get, path = "/api/services", tag = "swarm",
    responses(
        (status = 200, description = "The swarm's services, sorted by name", body = model::SwarmServiceList),
        (status = 409, description = "This engine is not a swarm manager (a worker, or outside any swarm)", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn swarm_services(api: web::Data<Api>) -> HttpResponse {
    let state = tri!(swarm_state(&api).await);
    let services = swarm::services(&state);
    json(json_bytes(&model::SwarmServiceList {
        count: services.len(),
        services,
    }))
}

async fn swarm_state(api: &Api) -> Result<Arc<swarm::SwarmState>, JsonError> {
    let docker = api.docker.get().ok_or_else(|| {
        JsonError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "docker daemon unreachable: not connected yet".into(),
        )
    })?;
    api.swarm.read(docker).await.map_err(|e| {
        let status = match e {
            // Not transient and not the service's fault: the engine's role forbids the call.
            SwarmError::NotManager => StatusCode::CONFLICT,
            SwarmError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        JsonError::new(status, e.to_string())
    })
}

/// Running containers per node name, from every reachable node's docker-api (cluster mode) or
/// this node's alone.
async fn running_per_node(api: &Api) -> HashMap<String, u64> {
    let local = local_body::<model::Aggregate>(api, |s| s.aggregate_json.clone());
    let answers = gather(api, local, "/api/stats/aggregate?scope=local", None).await;
    answers
        .into_iter()
        .filter_map(|a| a.body.ok().map(|b| (a.node, b.running as u64)))
        .collect()
}

/// The aggregate's history.
#[utoipa::path(get, path = "/api/stats/history", tag = "history",
    params(("window" = Option<String>, Query, description = "How far back, e.g. 15m or 24h (10s to the long window; default 15m)",
            pattern = r"^[0-9]{1,7}[smh]$")),
    responses(
        (status = 200, description = "The series", body = model::History),
        (status = 400, description = "Invalid window", body = ErrorBody),
    ))]
async fn stats_history(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let q = tri!(query(&req));
    let window = tri!(window(&api, &q));
    let w = api
        .published
        .history
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .aggregate(now_u32(), window);
    json(json_bytes(&model::History {
        id: "aggregate".into(),
        window: w,
    }))
}

/// Server-Sent Events: `event: stats` once per interval with the aggregate (the same body as
/// `/api/stats/aggregate`), `event: container` when a container starts, stops or changes health,
/// and a comment line as heartbeat. A slow client skips samples.
#[utoipa::path(get, path = "/api/stats/stream", tag = "stats",
    responses(
        (status = 200, description = "An endless text/event-stream", content_type = "text/event-stream", body = String),
        (status = 503, description = "Too many stream clients", body = ErrorBody),
    ))]
async fn stats_stream(api: web::Data<Api>) -> HttpResponse {
    let Ok(permit) = api.stream_clients.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event-stream clients".into(),
        );
    };
    let rx = api.published.stream.subscribe();
    let first = api
        .published
        .snapshot()
        .map(|s| crate::sampler::sse_frame("stats", &s.aggregate_json));
    let first = first.unwrap_or_else(|| Bytes::from_static(b": waiting for the first sample\n\n"));
    let body = event_stream(rx, api.heartbeat, first, Some(permit));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression would hold events back until a buffer fills.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

struct StreamState {
    rx: broadcast::Receiver<Bytes>,
    heartbeat: tokio::time::Interval,
    first: Option<Bytes>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// One client's stream: `first`, then every frame published, with a heartbeat comment whenever
/// `heartbeat` passes. The channel holds a few frames: a client that reads slower than they are
/// published loses the oldest ones (skips samples); nothing grows per client. The permit (the
/// cap on stream clients) is released when the client goes.
fn event_stream(
    rx: broadcast::Receiver<Bytes>,
    heartbeat: Duration,
    first: Bytes,
    permit: Option<OwnedSemaphorePermit>,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.reset();
    let state = StreamState {
        rx,
        heartbeat: ticker,
        first: Some(first),
        _permit: permit,
    };
    stream::unfold(state, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok::<_, actix_web::Error>(first), st));
        }
        loop {
            tokio::select! {
                msg = st.rx.recv() => match msg {
                    Ok(frame) => return Some((Ok(frame), st)),
                    // Fell behind: the oldest frames are gone; go on with what is left.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = st.heartbeat.tick() => {
                    return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), st))
                }
            }
        }
    })
}

/// The engine, its host and its containers.
#[utoipa::path(get, path = "/api/system/info", tag = "system",
    responses(
        (status = 200, description = "Engine and host", body = model::SystemInfo),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn system_info(api: web::Data<Api>) -> HttpResponse {
    let snapshot = tri!(live(&api));
    let engine = api.inventory.engine();
    let info = engine.info.unwrap_or_default();
    let count = |f: &dyn Fn(&str) -> bool| {
        snapshot.containers.iter().filter(|e| f(&e.state)).count() as u64
    };
    let body = model::SystemInfo {
        name: info.name.unwrap_or_default(),
        engine_version: info.server_version.unwrap_or_default(),
        api_version: engine.api_version.unwrap_or_default(),
        operating_system: info.operating_system.unwrap_or_default(),
        os_type: info.os_type.unwrap_or_default(),
        architecture: info.architecture.unwrap_or_default(),
        kernel_version: info.kernel_version.unwrap_or_default(),
        cpus: info.ncpu.map_or(0, |n| n.max(0) as u64),
        memory_bytes: info.mem_total.map_or(0, |n| n.max(0) as u64),
        storage_driver: info.driver.unwrap_or_default(),
        cgroup_driver: info
            .cgroup_driver
            .map(|d| d.to_string())
            .unwrap_or_default(),
        cgroup_version: info
            .cgroup_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
        containers: model::ContainerCounts {
            total: snapshot.containers.len() as u64,
            running: count(&|s| s == "running"),
            paused: count(&|s| s == "paused"),
            stopped: count(&|s| !matches!(s, "running" | "paused")),
        },
        images: info.images.map_or(0, |n| n.max(0) as u64),
        stats_source: api.published.source.to_string(),
    };
    json(json_bytes(&body))
}

/// The engine's version.
#[utoipa::path(get, path = "/api/system/version", tag = "system",
    responses(
        (status = 200, description = "Engine version", body = model::SystemVersion),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
async fn system_version(api: web::Data<Api>) -> HttpResponse {
    tri!(live(&api));
    let v = api.inventory.engine().version.unwrap_or_default();
    json(json_bytes(&model::SystemVersion {
        version: v.version.unwrap_or_default(),
        api_version: v.api_version.unwrap_or_default(),
        min_api_version: v.min_api_version.unwrap_or_default(),
        git_commit: v.git_commit.unwrap_or_default(),
        go_version: v.go_version.unwrap_or_default(),
        os: v.os.unwrap_or_default(),
        arch: v.arch.unwrap_or_default(),
        kernel_version: v.kernel_version.unwrap_or_default(),
        build_time: v.build_time.unwrap_or_default(),
    }))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
async fn openapi(api: web::Data<Api>) -> HttpResponse {
    json(api.openapi.clone())
}

/// The service's health; 503 with the same shape when the daemon does not answer.
#[utoipa::path(get, path = "/health", tag = "service",
    responses(
        (status = 200, description = "Healthy", body = model::Health),
        (status = 503, description = "The daemon does not answer", body = model::Health),
    ))]
#[allow(dead_code)]
fn health_doc() {}

/// Prometheus metrics: `docker_up`, per-container state, health, restarts and start time, and
/// this service's HTTP request metrics.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
#[allow(dead_code)]
fn metrics_doc() {}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", req.path()),
    )
}

fn now_u32() -> u32 {
    crate::sampler::now_seconds() as u32
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clustermon docker-api",
        description = "A read-only view of the Docker engine for the dashboard: containers, live stats computed as `docker stats` does, history and a live event stream. Only GET, HEAD and OPTIONS exist; nothing is passed through to the Docker API."
    ),
    paths(
        list_containers,
        container_stats,
        container_history,
        aggregate,
        stats_history,
        stats_stream,
        system_info,
        system_version,
        swarm_nodes,
        swarm_services,
        openapi,
        health_doc,
        metrics_doc
    ),
    components(schemas(model::ContainerEventBody))
)]
pub struct ApiDoc;

/// The OpenAPI document, serialised once, with the `window` bounds of this configuration.
pub fn openapi_json(limits: &Limits) -> Bytes {
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            return Bytes::from_static(b"{}");
        }
    };
    let pattern = validate::window_pattern(validate::MIN_WINDOW, limits.long_window);
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for op in paths.values_mut().filter_map(|p| p.get_mut("get")) {
            for param in op
                .get_mut("parameters")
                .and_then(|p| p.as_array_mut())
                .into_iter()
                .flatten()
            {
                if param["name"] == "window" {
                    param["schema"]["pattern"] = pattern.clone().into();
                }
            }
        }
    }
    json_bytes(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_stream_client_skips_frames_instead_of_buffering() {
        use futures_util::StreamExt;
        let (tx, rx) = broadcast::channel(4);
        let mut stream = Box::pin(event_stream(
            rx,
            Duration::from_secs(3600),
            Bytes::from_static(b"first"),
            None,
        ));
        // The client reads nothing while 20 frames are published.
        for i in 0..20 {
            tx.send(Bytes::from(format!("f{i}"))).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(stream.next().await.unwrap().unwrap());
        }
        assert_eq!(got, ["first", "f16", "f17", "f18", "f19"]);
        drop(tx);
        assert!(
            stream.next().await.is_none(),
            "the stream ends with the sampler"
        );
    }

    #[tokio::test]
    async fn an_idle_stream_sends_heartbeats() {
        use futures_util::StreamExt;
        let (_tx, rx) = broadcast::channel::<Bytes>(4);
        let mut stream = Box::pin(event_stream(
            rx,
            Duration::from_millis(50),
            Bytes::from_static(b"first"),
            None,
        ));
        assert_eq!(stream.next().await.unwrap().unwrap(), "first");
        assert_eq!(stream.next().await.unwrap().unwrap(), ": heartbeat\n\n");
    }

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

    #[test]
    fn query_strings_are_decoded_strictly() {
        assert_eq!(
            parse_query("window=15m&all=true").unwrap(),
            vec![
                ("window".into(), "15m".into()),
                ("all".into(), "true".into())
            ]
        );
        assert_eq!(parse_query("a=%41+b").unwrap()[0].1, "A b");
        assert!(parse_query("a=%zz").is_err());
        assert!(parse_query("a=%ff").is_err());
        assert!(parse_query("a=%4").is_err());
    }

    #[test]
    fn openapi_document_is_3_1_and_lists_every_route() {
        let doc: serde_json::Value =
            serde_json::from_slice(&openapi_json(&Limits::default())).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/api/containers",
            "/api/containers/{id}/stats",
            "/api/containers/{id}/history",
            "/api/stats/aggregate",
            "/api/stats/history",
            "/api/stats/stream",
            "/api/system/info",
            "/api/system/version",
            "/api/nodes",
            "/api/services",
            "/health",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        assert!(
            doc["components"]["schemas"]["Aggregate"]["properties"]["total_cpu_percent"]
                .is_object()
        );
    }
}
