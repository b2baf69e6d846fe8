//! A tiny blocking HTTP/1.0 client for loopback tests (no gzip; HTTPS and basic auth through
//! [`crate::client::Client`]), and the percent-encoding its callers need for query strings and
//! forms.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GETs `http://host:port/path`, with extra request headers; errors are strings for tests.
pub fn get_with(
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, String> {
    request("GET", url, headers, &[], timeout)
}

/// Sends `method url` with extra headers and a body (a `Content-Length` is added when the body
/// is not empty) over HTTP/1.0, and reads the whole response.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = split_authority(rest);
    let mut stream = connect(authority, timeout)?;
    let raw = exchange(&mut stream, url, (method, authority, path), headers, body)?;
    parse_response(url, &raw)
}

/// GETs a URL with a 30 s timeout, panicking on transport errors.
pub fn get(url: &str) -> Response {
    get_with(url, &[], Duration::from_secs(30)).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Opens a long-lived GET of `path` on `127.0.0.1:port` from the address `source` (another
/// address on 127/8 counts as another client for per-address caps), with `headers`; returns the
/// status once the response head arrived, and the connection, left unread. Status 0: the
/// connection closed before a whole head came.
pub fn open_stream(
    port: u16,
    source: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, TcpStream) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        let from = format!("{source}:0").parse().expect("a source address");
        socket
            .bind(from)
            .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        socket
            .connect(target)
            .await
            .and_then(|s| s.into_std())
            .unwrap_or_else(|e| panic!("connect {target} from {source}: {e}"))
    });
    stream.set_nonblocking(false).expect("blocking socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut s = stream;
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("send GET {path}: {e}"));
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => answer.push(byte[0]),
            _ => break,
        }
    }
    let status = String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, s)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for a query parameter or a
/// form field).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `k1=v1&k2=v2`, each side percent-encoded: a query string or an
/// `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `host:port` and `/path?query` of what follows the scheme.
pub(crate) fn split_authority(rest: &str) -> (&str, &str) {
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

/// A TCP connection to `authority` with `timeout` on connecting, reading and writing.
pub(crate) fn connect(authority: &str, timeout: Duration) -> Result<TcpStream, String> {
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {authority}: no address"))?;
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect {authority}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("{authority}: {e}"))?;
    Ok(stream)
}

/// Writes one HTTP/1.0 request on `stream` and reads the raw answer until the server closes.
pub(crate) fn exchange(
    stream: &mut impl ReadWrite,
    url: &str,
    (method, authority, path): (&str, &str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("send to {url}: {e}"))?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // A TLS server that closes without close_notify after a complete HTTP/1.0 answer.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(format!("read {url}: {e}")),
    }
}

/// A byte stream both ways: a TCP connection, or TLS over one.
pub(crate) trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

pub(crate) fn parse_response(url: &str, raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in response from {url}"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = String::from_utf8_lossy(&raw[split + 4..]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line from {url}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_escapes_promql_and_keeps_unreserved() {
        assert_eq!(
            percent_encode(r#"up{job="a b"}[5m] * 100"#),
            "up%7Bjob%3D%22a%20b%22%7D%5B5m%5D%20%2A%20100"
        );
        assert_eq!(percent_encode("a-z_0.9~"), "a-z_0.9~");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn form_joins_encoded_pairs() {
        assert_eq!(
            form(&[("query", "a=b"), ("x y", "&")]),
            "query=a%3Db&x%20y=%26"
        );
    }
}
