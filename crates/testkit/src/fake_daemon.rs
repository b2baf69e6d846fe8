//! A stand-in for a daemon a service reads over HTTP (the Docker engine on a unix socket,
//! docker-api on TCP) that answers each request path as the test says: a small JSON answer, or
//! something hostile (a body announced at 1 TiB, a body or an event line without end, a stream
//! opened and left silent, no answer at all). It counts the most bytes it pushed into one
//! endless answer, so a test can check that the client stopped reading near its cap.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a silent answer holds its connection open: longer than any test waits.
const HOLD: Duration = Duration::from_secs(600);

/// What an endless answer writes at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// A `Content-Length` no client should believe: 1 TiB.
const HUGE_LENGTH: u64 = 1 << 40;

/// How the stand-in answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `200` with this JSON body and its length; the connection stays open for the next one.
    Json(&'static str),
    /// `200` with this plain-text body and its length (`/_ping`'s `OK`).
    Text(&'static str),
    /// `200` announcing a `Content-Length` of 1 TiB, then spaces for as long as they are taken.
    HugeBody,
    /// `200` without a length (`Connection: close`): `first`, then spaces for as long as they
    /// are taken.
    EndlessBody { first: &'static str },
    /// `200`, chunked: `first` as one chunk (none when empty), then chunks of spaces without end
    /// (with `first` an unfinished JSON object: an event line without end).
    EndlessChunks { first: &'static str },
    /// `200`, chunked, then nothing: an event stream with nothing happening.
    QuietStream,
    /// No answer at all; the request is read and the connection held open.
    Silent,
    /// `404` with an empty JSON object.
    NotFound,
}

/// Which answer a request gets, from its path and query (an API version prefix such as
/// `/v1.47` taken off: bollard puts one first, other clients do not).
pub type Route = dyn Fn(&str) -> Answer + Send + Sync;

/// The running stand-in; its listener lives as long as the test process (its threads are
/// detached), its socket file as long as this value.
pub struct FakeDaemon {
    url: String,
    most_sent: Arc<AtomicUsize>,
    _dir: Option<tempfile::TempDir>,
}

impl FakeDaemon {
    /// A stand-in on a unix socket in a fresh temporary directory; [`Self::url`] is
    /// `unix:///…/docker.sock`.
    pub fn unix(route: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the socket");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket)
            .unwrap_or_else(|e| panic!("bind {}: {e}", socket.display()));
        let most_sent = spawn_server(move || listener.accept().map(|(c, _)| c), route);
        Self {
            url: format!("unix://{}", socket.display()),
            most_sent,
            _dir: Some(dir),
        }
    }

    /// A stand-in on a free loopback TCP port; [`Self::url`] is `http://127.0.0.1:PORT`.
    pub fn tcp(route: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("the bound address");
        let most_sent = spawn_server(move || listener.accept().map(|(c, _)| c), route);
        Self {
            url: format!("http://{address}"),
            most_sent,
            _dir: None,
        }
    }

    /// Where a client reaches it: `unix:///path/docker.sock` or `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The most bytes written into one endless answer (its head not counted).
    pub fn most_sent(&self) -> usize {
        self.most_sent.load(Ordering::SeqCst)
    }
}

/// Accepts connections on a thread of its own, each served on a thread of its own; returns the
/// counter of the most bytes sent in one endless answer.
fn spawn_server<C: Read + Write + Send + 'static>(
    mut accept: impl FnMut() -> io::Result<C> + Send + 'static,
    route: impl Fn(&str) -> Answer + Send + Sync + 'static,
) -> Arc<AtomicUsize> {
    let most_sent = Arc::new(AtomicUsize::new(0));
    let (route, counter): (Arc<Route>, _) = (Arc::new(route), most_sent.clone());
    std::thread::spawn(move || loop {
        let Ok(connection) = accept() else { continue };
        let (route, counter) = (route.clone(), counter.clone());
        std::thread::spawn(move || serve(connection, &*route, &counter));
    });
    most_sent
}

/// Serves one connection: requests one after another (keep-alive), until the client goes or an
/// answer ends it.
fn serve(mut connection: impl Read + Write, route: &Route, counter: &AtomicUsize) {
    let mut pending = Vec::new();
    while let Some(target) = next_request(&mut connection, &mut pending) {
        if !answer(
            &mut connection,
            route(&without_api_version(&target)),
            counter,
        ) {
            return;
        }
    }
}

/// The next request's target once its head has arrived (`pending` keeps what came after it);
/// `None` when the client closed first.
fn next_request(connection: &mut impl Read, pending: &mut Vec<u8>) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            return Some(head.split_whitespace().nth(1).unwrap_or("/").to_string());
        }
        match connection.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// `/v1.47/containers/json` → `/containers/json`; other targets as they are.
fn without_api_version(target: &str) -> String {
    match target.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
        None => target.to_string(),
    }
}

/// Writes `answer`; whether the connection can take another request.
fn answer(connection: &mut impl Write, answer: Answer, counter: &AtomicUsize) -> bool {
    let ok = |extra: &str| format!("HTTP/1.1 200 OK\r\n{extra}\r\n");
    let sized = |kind: &str, body: &str| {
        format!(
            "{}{body}",
            ok(&format!(
                "Content-Type: {kind}\r\nContent-Length: {}\r\n",
                body.len()
            ))
        )
    };
    let json = "Content-Type: application/json\r\n";
    let chunked = format!("{json}Transfer-Encoding: chunked\r\n");
    let spaces = [b' '; CHUNK_BYTES];
    let written = match answer {
        Answer::Json(body) => connection.write_all(sized("application/json", body).as_bytes()),
        Answer::Text(body) => connection.write_all(sized("text/plain", body).as_bytes()),
        Answer::NotFound => {
            connection.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
        }
        Answer::HugeBody => {
            let head = ok(&format!("{json}Content-Length: {HUGE_LENGTH}\r\n"));
            let _ = connection.write_all(head.as_bytes());
            flood(connection, &spaces, counter);
            return false;
        }
        Answer::EndlessBody { first } => {
            let head = ok(&format!("{json}Connection: close\r\n"));
            let _ = connection.write_all(format!("{head}{first}").as_bytes());
            flood(connection, &spaces, counter);
            return false;
        }
        Answer::EndlessChunks { first } => {
            let _ = connection.write_all(ok(&chunked).as_bytes());
            if !first.is_empty() {
                let _ =
                    connection.write_all(format!("{:x}\r\n{first}\r\n", first.len()).as_bytes());
            }
            flood(connection, &chunk(&spaces), counter);
            return false;
        }
        Answer::QuietStream => {
            let _ = connection.write_all(ok(&chunked).as_bytes());
            std::thread::sleep(HOLD);
            return false;
        }
        Answer::Silent => {
            std::thread::sleep(HOLD);
            return false;
        }
    };
    written.is_ok()
}

/// `data` framed as one HTTP/1.1 chunk.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// Writes `piece` until the client stops taking it, keeping the most sent in one answer.
fn flood(connection: &mut impl Write, piece: &[u8], counter: &AtomicUsize) {
    let mut sent = 0usize;
    while connection.write_all(piece).is_ok() {
        sent = sent.saturating_add(piece.len());
        counter.fetch_max(sent, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_prefix_is_taken_off() {
        assert_eq!(
            without_api_version("/v1.47/containers/json?all=1"),
            "/containers/json?all=1"
        );
        assert_eq!(without_api_version("/events"), "/events");
        assert_eq!(without_api_version("/v1.47"), "/");
    }

    #[test]
    fn keep_alive_requests_are_answered_in_turn() {
        let daemon = FakeDaemon::tcp(|path| match path {
            "/version" => Answer::Json(r#"{"ApiVersion":"1.52"}"#),
            _ => Answer::NotFound,
        });
        let address = daemon.url().trim_start_matches("http://").to_string();
        let mut s = std::net::TcpStream::connect(address).unwrap();
        s.write_all(b"GET /v1.52/version HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\n")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n")
                && answer.contains(r#"{"ApiVersion":"1.52"}HTTP/1.1 404"#),
            "{answer}"
        );
    }
}
