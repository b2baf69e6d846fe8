//! Raw HTTP/1.0 requests over TCP: bytes no HTTP client library would send (NUL in the path,
//! invalid percent-encoding, 10,000 headers), and what came back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What the server did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It answered with this status; `body` is the start of the body.
    Answered { status: u16, body: String },
    /// It closed the connection without an answer (what servers do with unparseable requests).
    Closed,
}

impl Outcome {
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Answered { status, .. } => Some(*status),
            Outcome::Closed => None,
        }
    }
}

/// `GET target` with `headers`, as raw bytes (the target is not encoded or checked).
pub fn get_request(target: &[u8], headers: &[(String, String)]) -> Vec<u8> {
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        req.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

/// Sends `request` to `127.0.0.1:port` and reads the answer until the server closes, for at most
/// `timeout` per read. A server that stops reading or resets the connection while the request
/// is still being sent has refused it: that is [`Outcome::Closed`] unless an answer arrived.
pub fn send(port: u16, request: &[u8], timeout: Duration) -> Result<Outcome, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    // A server may answer (431, 414, 400) and close before it has read all of a huge request.
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no complete answer within {timeout:?} (got {} bytes)",
                    raw.len()
                ))
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(parse(&raw))
}

fn parse(raw: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    match status {
        Some(status) => Outcome::Answered {
            status,
            body: text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.chars().take(300).collect())
                .unwrap_or_default(),
        },
        None => Outcome::Closed,
    }
}
