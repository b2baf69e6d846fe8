//! The HTTP server every exporter runs: `/metrics` (or its configured path, plus any extra
//! metric paths such as `/probe`), `/health`, `/` and the service's own routes; gzip when the
//! scraper accepts it; SIGTERM and SIGINT stop it gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::Compress;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};

use crate::process::ProcessMetrics;
use crate::scrape::{Encoded, SingleFlight};
use crate::{MetricSet, Scrape, ScrapeError, Service, WebConfig};

/// The Prometheus text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A service that turns a snapshot of its backend into metrics.
pub trait Exporter: Send + Sync + 'static {
    /// Builds every family for one scrape. A backend that is down is a normal result carrying
    /// `*_up 0`; an error is only for a request that cannot be answered at all.
    fn collect(
        &self,
        scrape: &Scrape,
    ) -> impl Future<Output = Result<MetricSet, ScrapeError>> + Send;

    /// The query parameters that change what a collection of `path` returns. Concurrent scrapes
    /// of one path with equal values of these share one collection; any other parameter is
    /// ignored for sharing, so a flood of distinct query strings cannot multiply collections.
    fn shared_params(&self, _path: &str) -> &'static [&'static str] {
        &[]
    }

    /// Whether the backend answers, for `/health`. Services without a backend keep the default.
    fn health(&self) -> impl Future<Output = BackendHealth> + Send {
        async { BackendHealth::no_backend() }
    }
}

/// The backend part of `/health`: `reachable` decides 200 or 503, `fields` are added to the JSON.
#[derive(Debug, Clone, Default)]
pub struct BackendHealth {
    pub reachable: bool,
    pub fields: Map<String, Value>,
}

impl BackendHealth {
    pub fn no_backend() -> Self {
        Self {
            reachable: true,
            fields: Map::new(),
        }
    }

    /// `{"backend": {"name": .., "reachable": .., "error": ..}}`.
    pub fn backend(name: &str, result: Result<(), String>) -> Self {
        let mut backend = Map::new();
        backend.insert("name".into(), name.into());
        backend.insert("reachable".into(), result.is_ok().into());
        if let Err(e) = &result {
            backend.insert("error".into(), e.clone().into());
        }
        let mut fields = Map::new();
        fields.insert("backend".into(), Value::Object(backend));
        Self {
            reachable: result.is_ok(),
            fields,
        }
    }
}

type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Builder for one service's HTTP server.
pub struct Server<E> {
    service: Service,
    web: WebConfig,
    exporter: Arc<E>,
    extra_metric_paths: Vec<String>,
    routes: Option<Routes>,
    landing: bool,
}

struct State<E> {
    service: Service,
    web: WebConfig,
    exporter: Arc<E>,
    flights: SingleFlight,
    /// Permits for requests on the metric paths (`web.max_requests`); `None` when unlimited.
    requests: Option<tokio::sync::Semaphore>,
    process: ProcessMetrics,
    started: Instant,
    metric_paths: Vec<String>,
}

impl<E: Exporter> Server<E> {
    pub fn new(service: Service, web: WebConfig, exporter: Arc<E>) -> Self {
        Self {
            service,
            web,
            exporter,
            extra_metric_paths: Vec::new(),
            routes: None,
            landing: true,
        }
    }

    /// Leaves `/` to the service's own routes (a service whose home page is its UI).
    pub fn without_landing(mut self) -> Self {
        self.landing = false;
        self
    }

    /// Another path answered by [`Exporter::collect`] (e.g. `/probe` for multi-target use); the
    /// exporter tells them apart by [`Scrape::path`]. No `process_*` metrics are added there.
    pub fn metrics_path(mut self, path: &str) -> Self {
        self.extra_metric_paths.push(path.to_string());
        self
    }

    /// The service's own routes (JSON APIs, pages).
    pub fn routes(mut self, f: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static) -> Self {
        self.routes = Some(Arc::new(f));
        self
    }

    /// Binds and starts serving; the returned server runs until stopped or signalled.
    pub fn start(self) -> io::Result<RunningServer> {
        let addrs = self
            .web
            .bind_addrs()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut metric_paths = vec![self.web.telemetry_path.clone()];
        metric_paths.extend(self.extra_metric_paths);
        let state = web::Data::new(State {
            service: self.service,
            web: self.web.clone(),
            exporter: self.exporter,
            flights: SingleFlight::default(),
            requests: match self.web.max_requests {
                0 => None,
                n => Some(tokio::sync::Semaphore::new(n)),
            },
            process: ProcessMetrics::new(),
            started: Instant::now(),
            metric_paths: metric_paths.clone(),
        });
        let routes = self.routes;
        let with_landing = self.landing;
        let workers = self.web.workers.max(1);
        let protection = Protection::from_web(&self.web)?;
        let guard = protection.guard.clone();
        let request_header_timeout = self.web.request_header_timeout;
        let idle_timeout = self.web.idle_timeout;
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .wrap(Compress::default())
                .wrap(actix_web::middleware::from_fn(crate::auth::guard))
                .wrap_fn(answer_panics_with_500)
                .wrap(actix_web::middleware::from_fn(crate::server_conn::track))
                .app_data(state.clone())
                .service(read_only("/health", get_or_head().to(health::<E>)));
            if with_landing {
                app = app.service(read_only("/", get_or_head().to(landing::<E>)));
            }
            for path in &metric_paths {
                app = app.service(read_only(path, get_or_head().to(metrics::<E>)));
            }
            if let Some(routes) = &routes {
                let routes = routes.clone();
                app = app.configure(move |cfg| routes(cfg));
            }
            if let Some(guard) = &guard {
                app = app.app_data(guard.clone());
            }
            app
        })
        .workers(workers)
        // Responses are small and often gzip-streamed in chunks: without TCP_NODELAY, Nagle's
        // algorithm and delayed ACKs held keep-alive scrapes for tens of milliseconds.
        .on_connect(move |conn, data| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
            if !request_header_timeout.is_zero() {
                crate::server_conn::watch(conn, data, idle_timeout + request_header_timeout);
            }
        })
        .keep_alive(idle_timeout)
        .client_request_timeout(request_header_timeout)
        .disable_signals()
        .shutdown_timeout(10);
        let mut server = server;
        for addr in &addrs {
            let listener = listener(*addr, self.web.write_timeout)?;
            server = match &protection.tls {
                Some(tls) => server.listen_rustls_0_23(listener, tls.clone())?,
                None => server.listen(listener)?,
            };
        }
        let local = server.addrs();
        let server = server.run();
        tracing::info!(service = self.service.name, version = self.service.version, address = ?local, tls = protection.tls_enabled, basic_auth = protection.basic_auth, "listening");
        Ok(RunningServer {
            addrs: local,
            server,
        })
    }
}

/// A listening socket for `addr` whose connections carry the write deadline.
///
/// A client that stops reading fills its receive window; the server's writes then wait for
/// ever, and no handler can end them: actix polls a response body only while its write buffer
/// has room, so a body that gives up is never heard. The kernel can: with `TCP_USER_TIMEOUT`, a
/// connection whose sent data stays unacknowledged, or whose peer's window stays zero, for
/// `write_timeout` is aborted (Linux 5.11 and later count zero-window probes). The next write
/// fails, actix drops the connection and its file descriptor is closed. Accepted sockets
/// inherit the option from the listener, for plain and TLS connections alike.
fn listener(addr: SocketAddr, write_timeout: Duration) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    if !write_timeout.is_zero() {
        let millis = u32::try_from(write_timeout.as_millis()).unwrap_or(u32::MAX);
        rustix::net::sockopt::set_tcp_user_timeout(&listener, millis)
            .map_err(|e| io::Error::other(format!("setting web.write_timeout on {addr}: {e}")))?;
    }
    Ok(listener)
}

/// What the web configuration file (`--web.config.file`) asks of the server: the request guard
/// (authentication, headers, rate limit) and TLS. Read once at start-up, where an error stops
/// the service; the guard and the certificates follow later changes of the file.
struct Protection {
    guard: Option<web::Data<crate::auth::WebGuard>>,
    tls: Option<rustls::ServerConfig>,
    tls_enabled: bool,
    basic_auth: bool,
}

impl Protection {
    fn from_web(web: &WebConfig) -> io::Result<Self> {
        let Some(path) = &web.config_file else {
            return Ok(Self {
                guard: None,
                tls: None,
                tls_enabled: false,
                basic_auth: false,
            });
        };
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let watched = Arc::new(
            crate::web_config::WatchedWebConfig::open(path).map_err(|e| invalid(e.to_string()))?,
        );
        let file = watched.current();
        let tls = match &file.tls_server_config {
            Some(tls) => Some(
                crate::tls::server_config(tls, watched.clone())
                    .map_err(|e| invalid(format!("web config file {}: {e}", path.display())))?,
            ),
            None => None,
        };
        Ok(Self {
            tls_enabled: tls.is_some(),
            basic_auth: !file.basic_auth_users.is_empty(),
            guard: Some(web::Data::new(crate::auth::WebGuard::new(watched))),
            tls,
        })
    }
}

/// A route answering GET and HEAD.
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// A resource answering GET and HEAD; any other method gets a JSON 405 naming the allowed ones
/// (actix's own default is an empty body, which JSON clients cannot read).
pub fn read_only(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD"))
        .json(json!({
            "error": format!("method {} not allowed on {}", req.method(), req.path()),
            "status": 405,
        }))
}

/// A started server.
pub struct RunningServer {
    pub addrs: Vec<SocketAddr>,
    server: actix_web::dev::Server,
}

impl RunningServer {
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish and
    /// returns.
    pub async fn run_until_signal(self) -> io::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            let signal = shutdown_signal().await;
            tracing::info!(signal, "shutting down gracefully");
            handle.stop(true).await;
        });
        self.server.await
    }

    /// Serves until stopped through [`RunningServer::handle`].
    pub async fn run(self) -> io::Result<()> {
        self.server.await
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            tracing::error!("cannot install signal handlers; only SIGKILL will stop this process");
            std::future::pending().await
        }
    }
}

/// The scrape timeout: ours, lowered to Prometheus' own minus a margin when it sends one.
fn scrape_timeout(req: &HttpRequest, configured: Duration) -> Duration {
    let header = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok());
    scrape_timeout_from_header(header, configured)
}

/// The scrape timeout for a value of `X-Prometheus-Scrape-Timeout-Seconds`: the configured one,
/// lowered to the scraper's minus a margin (0.5 s, or a tenth of timeouts up to 1 s). A value
/// that is not a positive finite number, or too large for a `Duration`, leaves the configured
/// timeout as it is.
pub fn scrape_timeout_from_header(header: Option<&str>, configured: Duration) -> Duration {
    let secs = header
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0);
    let Some(secs) = secs else {
        return configured;
    };
    let margin = if secs > 1.0 { 0.5 } else { secs * 0.1 };
    match Duration::try_from_secs_f64(secs - margin) {
        Ok(theirs) => configured.min(theirs),
        Err(_) => configured,
    }
}

/// The key under which concurrent scrapes share one collection: the path and the values of the
/// parameters that change the result, in the order the exporter names them.
fn flight_key(scrape: &Scrape, shared_params: &[&str]) -> String {
    let mut key = scrape.path.clone();
    for name in shared_params {
        for value in scrape.params(name) {
            key.push('\0');
            key.push_str(name);
            key.push('=');
            key.push_str(value);
        }
    }
    key
}

/// Catches a panicking handler (or middleware under this one) and answers 500, so one request
/// that reaches a bug costs that request, not the process. Release builds unwind for this.
fn answer_panics_with_500<S, B>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>>
where
    S: actix_web::dev::Service<
        actix_web::dev::ServiceRequest,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    use futures_util::FutureExt as _;
    use std::panic::AssertUnwindSafe;
    // The router needs the request to itself, so only its path is kept for the log line.
    let path = req.path().to_string();
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| srv.call(req)));
    async move {
        let outcome = match call {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        outcome.unwrap_or_else(|_| {
            crate::refused::count("handler_panic");
            tracing::error!(path, "request handler panicked; answered 500");
            let response = HttpResponse::InternalServerError().json(json!({
                "error": "internal error while answering this request",
                "status": 500,
            }));
            Err(actix_web::error::InternalError::from_response("handler panicked", response).into())
        })
    }
}

async fn metrics<E: Exporter>(req: HttpRequest, state: web::Data<State<E>>) -> HttpResponse {
    let query: Vec<(String, String)> = match serde_urlencoded::from_str(req.query_string()) {
        Ok(q) => q,
        Err(e) => return HttpResponse::BadRequest().body(format!("bad query string: {e}\n")),
    };
    let _permit = match &state.requests {
        Some(permits) => match permits.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                crate::refused::count("max_requests");
                return HttpResponse::ServiceUnavailable().body(format!(
                    "limit of {} concurrent requests reached (--web.max-requests)\n",
                    state.web.max_requests
                ));
            }
        },
        None => None,
    };
    let timeout = scrape_timeout(&req, state.web.scrape_timeout);
    let scrape = Scrape::new(req.path(), query, timeout);
    let key = flight_key(&scrape, state.exporter.shared_params(&scrape.path));
    let with_process = req.path() == state.web.telemetry_path;
    let collect = || collect_encoded(&state, &scrape, with_process);
    let result = match tokio::time::timeout(timeout, state.flights.run(&key, collect)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(path = req.path(), timeout = ?timeout, "scrape timed out");
            Err(ScrapeError::Unavailable(format!(
                "scrape timed out after {:.1}s",
                timeout.as_secs_f64()
            )))
        }
    };
    match result {
        Ok(body) if accepts_gzip(&req) => match gzip(&body) {
            Ok(zipped) => HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, TEXT_FORMAT))
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .insert_header((header::VARY, "Accept-Encoding"))
                .body(zipped),
            Err(e) => {
                tracing::warn!(error = %e, "cannot gzip metrics; sending them uncompressed");
                HttpResponse::Ok()
                    .insert_header((header::CONTENT_TYPE, TEXT_FORMAT))
                    .body(body)
            }
        },
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, TEXT_FORMAT))
            .insert_header((header::VARY, "Accept-Encoding"))
            .body(body),
        Err(ScrapeError::BadRequest(msg)) => HttpResponse::BadRequest().body(format!("{msg}\n")),
        Err(ScrapeError::Forbidden(msg)) => HttpResponse::Forbidden().body(format!("{msg}\n")),
        Err(ScrapeError::Unavailable(msg)) => {
            HttpResponse::ServiceUnavailable().body(format!("{msg}\n"))
        }
    }
}

/// Whether the client takes gzip (`Accept-Encoding: gzip`, `gzip;q=0.5`, `*`; not `gzip;q=0`).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Compresses a scrape on the worker that serves it, at the fastest level (what Prometheus'
/// client libraries do). actix's Compress middleware would hand bodies this size to tokio's
/// blocking pool: extra threads, each with its own allocator arena, for a job of well under a
/// millisecond. Responses that carry Content-Encoding are left alone by that middleware.
fn gzip(body: &[u8]) -> io::Result<Bytes> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish().map(Bytes::from)
}

async fn collect_encoded<E: Exporter>(
    state: &State<E>,
    scrape: &Scrape,
    with_process: bool,
) -> Encoded {
    let mut set = state.exporter.collect(scrape).await?;
    if with_process {
        state.process.collect_into(&mut set);
        crate::refused::collect_into(&mut set, &crate::refused::metric_prefix(state.service.name));
    }
    let mut buf = Vec::with_capacity(64 * 1024);
    set.encode_text(&mut buf).map_err(|e| {
        tracing::error!(error = %e, "cannot encode metrics");
        ScrapeError::Unavailable(format!("cannot encode metrics: {e}"))
    })?;
    Ok(Bytes::from(buf))
}

async fn health<E: Exporter>(state: web::Data<State<E>>) -> HttpResponse {
    let backend = match tokio::time::timeout(Duration::from_secs(5), state.exporter.health()).await
    {
        Ok(b) => b,
        Err(_) => BackendHealth {
            reachable: false,
            fields: Map::from_iter([("error".to_string(), Value::from("health check timed out"))]),
        },
    };
    let mut body = json!({
        "status": if backend.reachable { "ok" } else { "unavailable" },
        "service": state.service.name,
        "version": state.service.version,
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
    });
    if let Value::Object(map) = &mut body {
        map.extend(backend.fields);
    }
    let mut response = if backend.reachable {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.json(body)
}

async fn landing<E: Exporter>(state: web::Data<State<E>>) -> HttpResponse {
    let links: String = state
        .metric_paths
        .iter()
        .chain(std::iter::once(&"/health".to_string()))
        .map(|p| format!("<li><a href=\"{p}\">{p}</a></li>"))
        .collect();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}</title></head>\
         <body><h1>{name}</h1><p>{about}</p><p>Version {version}</p><ul>{links}</ul></body></html>\n",
        name = state.service.name,
        about = state.service.about,
        version = state.service.version,
    );
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(page)
}
