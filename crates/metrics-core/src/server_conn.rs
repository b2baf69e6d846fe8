//! The request-head deadline on kept-alive connections.
//!
//! actix applies `client_request_timeout` to a connection's first request only: once a response
//! is sent and the next request's first byte arrives, its keep-alive timer is cleared and no
//! head timer is started, so a client that sends one quick request and then the next one a byte
//! at a time (slowloris) keeps its connection for hours. Go's `ReadHeaderTimeout`, which
//! node_exporter uses, starts again for every request.
//!
//! Here every connection gets a watcher. Requests in flight are counted per connection (a
//! response counts until its body is dropped, so a long event stream is in flight all along).
//! A connection with no request in flight is either idle, and actix closes it after its
//! keep-alive time, or in the middle of a request head: one still open with nothing in flight
//! for keep-alive plus the head deadline is the latter for too long, and the watcher shuts its
//! socket down (both ways), which ends actix's reads and writes and closes it.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

/// How often a watcher looks at its connection.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// What a connection's requests tell its watcher.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    fn finished(&self) {
        *self.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// How long the connection has had no request in flight; zero while one is.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.idle_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }
}

/// Kept in the connection's data: dropped with the connection, which ends its watcher at once
/// (the watcher holds a duplicate of the socket, which must not outlive actix's).
struct Watched {
    activity: Arc<Activity>,
    _gone: tokio::sync::oneshot::Sender<()>,
}

/// For `HttpServer::on_connect`: starts the watcher of a new plain or TLS connection.
pub(crate) fn watch(conn: &dyn std::any::Any, data: &mut Extensions, limit: Duration) {
    let Some(socket) = tcp_of(conn).and_then(|tcp| duplicate(tcp).ok()) else {
        return;
    };
    let activity = Arc::new(Activity::new());
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
    data.insert(Watched {
        activity: activity.clone(),
        _gone: gone_tx,
    });
    actix_web::rt::spawn(watcher(socket, activity, gone_rx, limit));
}

/// The TCP socket under a plain or rustls connection.
fn tcp_of(conn: &dyn std::any::Any) -> Option<&actix_web::rt::net::TcpStream> {
    use actix_tls::accept::rustls_0_23::TlsStream;
    conn.downcast_ref::<actix_web::rt::net::TcpStream>()
        .or_else(|| {
            conn.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>()
                .map(|tls| tls.get_ref().0)
        })
}

/// A second descriptor of the same socket, to shut it down from outside actix.
fn duplicate(tcp: &actix_web::rt::net::TcpStream) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::AsFd;
    Ok(std::net::TcpStream::from(tcp.as_fd().try_clone_to_owned()?))
}

async fn watcher(
    socket: std::net::TcpStream,
    activity: Arc<Activity>,
    mut gone: tokio::sync::oneshot::Receiver<()>,
    limit: Duration,
) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            _ = &mut gone => return,
            _ = tick.tick() => {}
        }
        if activity.idle_for() > limit {
            crate::refused::count("request_header_timeout");
            tracing::debug!(
                ?limit,
                "closed a kept-alive connection whose next request head did not arrive in time"
            );
            let _ = socket.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Middleware: counts the request in flight on its connection until its response body is
/// dropped (sent, or the connection gone).
pub(crate) async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let activity = req
        .request()
        .conn_data::<Watched>()
        .map(|w| w.activity.clone());
    let Some(activity) = activity else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    activity.started();
    let guard = InFlight(activity);
    let response = next.call(req).await?;
    Ok(response.map_body(|_, body| {
        BoxBody::new(Tracked {
            body: BoxBody::new(body),
            _guard: guard,
        })
    }))
}

/// One request in flight; finished when dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// A response body that keeps its request counted in flight while it lives.
struct Tracked {
    body: BoxBody,
    _guard: InFlight,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
