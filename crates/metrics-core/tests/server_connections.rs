//! The shared server's per-connection deadlines, over real sockets on loopback: a client that
//! stops reading loses its socket (`web.write_timeout`), and a client that sends its request
//! head too slowly is answered 408 and closed (`web.request_header_timeout`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use metrics_core::{Exporter, MetricSet, Scrape, ScrapeError, Server, Service, WebConfig};

const SERVICE: Service = Service {
    name: "test-exporter",
    about: "exercises the shared server's connection deadlines",
    version: "9.9.9",
    env_prefix: "TEST_EXPORTER",
};

struct Empty;

impl Exporter for Empty {
    async fn collect(&self, _scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        Ok(MetricSet::new())
    }
}

/// An endless response, as an event stream is: 16 KiB every 10 ms.
async fn endless() -> HttpResponse {
    let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
    let body = futures_util::stream::unfold(chunk, |chunk| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok::<_, actix_web::Error>(chunk.clone()), chunk))
    });
    HttpResponse::Ok().streaming(body)
}

fn start(write_timeout: Duration, request_header_timeout: Duration) -> metrics_core::RunningServer {
    start_with(WebConfig {
        write_timeout,
        request_header_timeout,
        ..WebConfig::default()
    })
}

/// A server with `web` on a free loopback port.
fn start_with(web: WebConfig) -> metrics_core::RunningServer {
    let web = WebConfig {
        listen_address: "127.0.0.1:0".into(),
        ..web
    };
    Server::new(SERVICE, web, std::sync::Arc::new(Empty))
        .routes(|cfg| {
            cfg.route("/endless", web::get().to(endless));
        })
        .start()
        .expect("start server")
}

/// The inode of the server's end of the connection from `client` to `server` (from
/// /proc/net/tcp: local address `server`, remote address `client`), once it is accepted.
fn server_side_inode(server: SocketAddr, client: SocketAddr) -> Option<u64> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("the test listens on 127.0.0.1"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| fields.get(9)?.parse().ok())
            .flatten()
            // A connection not accepted yet has no inode.
            .filter(|inode| *inode != 0)
    })
}

/// Whether this process (the server runs in it) still holds a descriptor for socket `inode`.
fn holds_socket(inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.to_string_lossy() == wanted)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_socket_after_the_write_timeout() {
    let server = start(Duration::from_secs(1), Duration::from_secs(5));
    let addr = server.addrs[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    let result = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(addr).unwrap();
        // A small receive buffer: the window closes after a few chunks.
        rustix::net::sockopt::set_socket_recv_buffer_size(&client, 4096).unwrap();
        client
            .write_all(b"GET /endless HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let local = client.local_addr().unwrap();
        let mut inode = None;
        wait_for(
            "the server accepts the connection",
            Duration::from_secs(10),
            || {
                inode = server_side_inode(addr, local);
                inode.is_some()
            },
        );
        let inode = inode.unwrap();
        // Established in the kernel before the server accepts it: wait for its descriptor.
        wait_for(
            "the server holds the accepted socket",
            Duration::from_secs(10),
            || holds_socket(inode),
        );
        // The client reads nothing. After the write timeout the server's socket is aborted and
        // its descriptor closed.
        wait_for(
            "the server closes the socket of a client that stopped reading",
            Duration::from_secs(30),
            || !holds_socket(inode),
        );
        // The client sees its connection end: what was buffered, then a reset or the end.
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match client.read(&mut buf) {
                Ok(0) => return "end of stream".to_string(),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return "reset".to_string()
                }
                Err(e) => panic!("the client's connection did not end: {e}"),
            }
        }
    })
    .await
    .unwrap();
    eprintln!("client saw: {result}");
    handle.stop(false).await;
}

#[tokio::test]
async fn a_reading_client_keeps_its_stream_past_the_write_timeout() {
    let server = start(Duration::from_secs(1), Duration::from_secs(5));
    let addr = server.addrs[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    let read = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .write_all(b"GET /endless HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        let t0 = Instant::now();
        // Three write timeouts of reading at the client's pace.
        while t0.elapsed() < Duration::from_secs(3) {
            total += client
                .read(&mut buf)
                .expect("a reading client keeps its stream");
        }
        total
    })
    .await
    .unwrap();
    assert!(read > 1024 * 1024, "only {read} bytes read");
    handle.stop(false).await;
}

/// Sends `head` one byte every 200 ms, then `a` for ever (a header value without end), until
/// the server answers and closes, and returns what it answered; `None` when the connection is
/// still open after 30 s.
fn send_slowly(client: &mut TcpStream, head: &[u8]) -> Option<String> {
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let t0 = Instant::now();
    for byte in head.iter().chain(std::iter::repeat(&b'a')) {
        if t0.elapsed() > Duration::from_secs(30) {
            return None;
        }
        if client.write_all(&[*byte]).is_err() {
            break;
        }
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_slowloris_client_gets_408_and_is_closed_after_the_header_timeout() {
    let server = start(Duration::from_secs(30), Duration::from_secs(1));
    let addr = server.addrs[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    let answer = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(addr).unwrap();
        // Headers that never end, a byte at a time.
        let t0 = Instant::now();
        let answer = send_slowly(&mut client, b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaa\r\n");
        (answer, t0.elapsed())
    })
    .await
    .unwrap();
    let (answer, took) = answer;
    let answer = answer.expect("the slow client's connection was still open after 30 s");
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "expected a 408 and the end of the connection, got {answer:?} after {took:?}"
    );
    handle.stop(false).await;
}

#[tokio::test]
async fn a_slowloris_request_on_a_kept_alive_connection_is_closed_too() {
    // The watcher cannot tell an idle connection from one in the middle of a head: it shuts
    // one down after the idle timeout plus the head deadline.
    let server = start_with(WebConfig {
        write_timeout: Duration::from_secs(30),
        request_header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
        ..WebConfig::default()
    });
    let addr = server.addrs[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    let answer = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = client.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        send_slowly(&mut client, b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaa\r\n")
    })
    .await
    .unwrap();
    let answer = answer.expect("the slow client's connection was still open after 30 s");
    // Either a 408 or a plain close: what matters is that the server ended the connection.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "unexpected answer {answer:?}"
    );
    handle.stop(false).await;
}

/// Prometheus keeps its connection to a target for the next scrape (15 s to 1 min later); the
/// default idle timeout keeps ours open that long, so a TLS target is not handshaken anew each
/// scrape. (It was 5 s: this connection was gone after 5 s.)
#[tokio::test]
async fn a_kept_alive_connection_outlives_a_scrape_interval() {
    let server = start(Duration::from_secs(30), Duration::from_secs(1));
    let addr = server.addrs[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    let answers = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut ask = || {
            client
                .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4096];
            let n = client.read(&mut buf).map_err(|e| e.to_string())?;
            Ok::<String, String>(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        let first = ask();
        std::thread::sleep(Duration::from_secs(20));
        (first, ask())
    })
    .await
    .unwrap();
    for answer in [answers.0, answers.1] {
        let answer = answer.expect("an answer on the same connection");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    handle.stop(false).await;
}
