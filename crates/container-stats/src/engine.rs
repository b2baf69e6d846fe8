//! Reads from the Docker engine's API (discovery's list, inspects and event stream; docker-api's
//! list, info, version, swarm listings and stats streams), with every body bounded: an answer is
//! read chunk by chunk up to [`MAX_ANSWER_BYTES`] within the client's timeout, a stream is cut
//! into lines of at most [`MAX_LINE_BYTES`]. A daemon that answers without end, or with one
//! endless line, costs at most that much memory and ends in an error naming the path.
//! (bollard reads whole bodies and buffers a stream line without limit; only its models are
//! used.)

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use metrics_core::client::{self, ReadError};
use serde::de::DeserializeOwned;

/// The largest answer read (a list of ten thousand containers is about 20 MiB).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The longest line of a stream (a stats sample is a few KiB).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// How much of an error answer is read, and how much of its message is kept.
const MAX_ERROR_BYTES: usize = 64 * 1024;
const MAX_ERROR_CHARS: usize = 300;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "{0} is not a Docker endpoint (unix:///path, /path, tcp://host:port or http://host:port)"
    )]
    BadEndpoint(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot reach the docker daemon: {0}")]
    Unreachable(String),
    #[error("the docker daemon answered {path} with HTTP {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("the docker daemon's answer to {path} is larger than {max} bytes")]
    TooLarge { path: String, max: usize },
    #[error("a line of the docker daemon's {path} stream is longer than {max} bytes")]
    LineTooLong { path: String, max: usize },
    #[error("unexpected answer to {path}: {reason}")]
    Decode { path: String, reason: String },
}

impl EngineError {
    /// A body that could not be read, naming the path asked.
    fn reading(path: &str, e: ReadError) -> Self {
        match e {
            ReadError::TooLarge { max } => Self::TooLarge {
                path: path.to_string(),
                max,
            },
            ReadError::TimedOut => Self::Unreachable(format!("no whole answer to {path} in time")),
            ReadError::Transport(reason) => Self::Unreachable(reason),
        }
    }
}

/// The engine's API over its unix socket or TCP.
#[derive(Debug, Clone)]
pub struct EngineApi {
    client: reqwest::Client,
    /// `http://docker` for a socket (the host is not used), else `http://host:port`.
    base: String,
    /// Longest time one answer may take (streams excepted).
    timeout: Duration,
    /// Largest answer read.
    max_answer: usize,
}

impl EngineApi {
    /// For `docker.host`: `unix:///path`, a socket path, `tcp://host:port` or `http://host:port`.
    pub fn new(host: &str, timeout: Duration) -> Result<Self, EngineError> {
        let builder = client::builder(timeout);
        // Only the scheme is shown: the rest may carry userinfo.
        let shown = match host.split_once("://") {
            Some((scheme, _)) => format!("an endpoint with scheme {scheme:?}"),
            None => "an endpoint without a scheme or leading /".to_string(),
        };
        let (builder, base) = if let Some(path) = host.strip_prefix("unix://") {
            (builder.unix_socket(path), "http://docker".to_string())
        } else if host.starts_with('/') {
            (builder.unix_socket(host), "http://docker".to_string())
        } else if let Some(rest) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains(['/', '?', '#']) {
                return Err(EngineError::BadEndpoint(shown));
            }
            (builder, format!("http://{authority}"))
        } else {
            return Err(EngineError::BadEndpoint(shown));
        };
        let client = builder
            .build()
            .map_err(|e| EngineError::Client(client::error_chain(e)))?;
        Ok(Self {
            client,
            base,
            timeout,
            max_answer: MAX_ANSWER_BYTES,
        })
    }

    /// The same client reading answers of at most `max` bytes (instead of
    /// [`MAX_ANSWER_BYTES`]).
    pub fn with_max_answer(mut self, max: usize) -> Self {
        self.max_answer = max;
        self
    }

    /// `GET path` (with its query) decoded as `T`, read up to [`MAX_ANSWER_BYTES`] (or what
    /// [`EngineApi::with_max_answer`] set).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, EngineError> {
        let read = async {
            let response = self.send(path).await?;
            client::read_capped(response, self.max_answer)
                .await
                .map_err(|e| EngineError::reading(path, e))
        };
        let body = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| {
                EngineError::Unreachable(format!(
                    "no answer to {path} within {}",
                    humantime::format_duration(self.timeout)
                ))
            })??;
        serde_json::from_slice(&body).map_err(|e| EngineError::Decode {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    /// `GET path` as a stream of lines (without their `\n`), each at most [`MAX_LINE_BYTES`];
    /// the stream ends with the answer, or with an error.
    pub async fn lines(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, EngineError>>, EngineError> {
        let response = tokio::time::timeout(self.timeout, self.send(path))
            .await
            .map_err(|_| EngineError::Unreachable(format!("no answer to {path}")))??;
        let state = (
            response,
            LineBuffer::new(MAX_LINE_BYTES),
            std::collections::VecDeque::new(),
            path.to_string(),
            false,
        );
        Ok(futures_util::stream::unfold(
            state,
            |(mut response, mut buffer, mut ready, path, failed)| async move {
                if failed {
                    return None;
                }
                loop {
                    if let Some(line) = ready.pop_front() {
                        return Some((Ok(line), (response, buffer, ready, path, false)));
                    }
                    match response.chunk().await {
                        Ok(Some(chunk)) => match buffer.push(&chunk) {
                            Ok(lines) => ready.extend(lines),
                            Err(LineTooLong) => {
                                let e = EngineError::LineTooLong {
                                    path: path.clone(),
                                    max: MAX_LINE_BYTES,
                                };
                                return Some((Err(e), (response, buffer, ready, path, true)));
                            }
                        },
                        Ok(None) => return None,
                        Err(e) => {
                            let e = EngineError::Unreachable(client::error_chain(e));
                            return Some((Err(e), (response, buffer, ready, path, true)));
                        }
                    }
                }
            },
        ))
    }

    async fn send(&self, path: &str) -> Result<reqwest::Response, EngineError> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| EngineError::Unreachable(client::error_chain(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = client::read_capped(response, MAX_ERROR_BYTES)
            .await
            .unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct DaemonError {
            message: String,
        }
        let message = serde_json::from_slice::<DaemonError>(&body)
            .map(|e| e.message.chars().take(MAX_ERROR_CHARS).collect())
            .unwrap_or_default();
        Err(EngineError::Status {
            path: path.to_string(),
            status: status.as_u16(),
            message,
        })
    }
}

/// A line longer than the buffer's cap arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

/// Cuts a byte stream into `\n`-terminated lines, holding at most `max` bytes of the line in
/// progress.
#[derive(Debug)]
pub struct LineBuffer {
    partial: Vec<u8>,
    max: usize,
}

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        Self {
            partial: Vec::new(),
            max,
        }
    }

    /// The lines `chunk` completes (empty ones skipped), or [`LineTooLong`] as soon as the
    /// line in progress passes `max` bytes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, LineTooLong> {
        let mut lines = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = rest.split_at(end);
            if self.partial.len().saturating_add(head.len()) > self.max {
                return Err(LineTooLong);
            }
            self.partial.extend_from_slice(head);
            let line = std::mem::take(&mut self.partial);
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(Bytes::from(line));
            }
            rest = tail.get(1..).unwrap_or_default();
        }
        if self.partial.len().saturating_add(rest.len()) > self.max {
            return Err(LineTooLong);
        }
        self.partial.extend_from_slice(rest);
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_across_chunks_and_bounded() {
        let mut b = LineBuffer::new(8);
        assert_eq!(b.push(b"ab").unwrap(), Vec::<Bytes>::new());
        assert_eq!(b.push(b"c\nde\n\nf").unwrap(), ["abc", "de"]);
        assert_eq!(b.push(b"g\n").unwrap(), ["fg"]);
        assert_eq!(b.push(b"12345678").unwrap(), Vec::<Bytes>::new());
        assert_eq!(b.push(b"9"), Err(LineTooLong));
        let mut b = LineBuffer::new(8);
        assert_eq!(b.push(b"123456789\n"), Err(LineTooLong));
        let mut b = LineBuffer::new(8);
        for _ in 0..100 {
            assert_eq!(b.push(b"1234567\n").unwrap(), ["1234567"]);
        }
    }

    #[test]
    fn endpoints_are_sockets_or_host_port() {
        let t = Duration::from_secs(1);
        assert_eq!(
            EngineApi::new("unix:///var/run/docker.sock", t)
                .unwrap()
                .base,
            "http://docker"
        );
        assert_eq!(
            EngineApi::new("tcp://10.0.0.1:2375", t).unwrap().base,
            "http://10.0.0.1:2375"
        );
        for bad in [
            "ftp://x",
            "tcp://",
            "tcp://h:1/x",
            "npipe:////./pipe/docker",
        ] {
            assert!(EngineApi::new(bad, t).is_err(), "{bad}");
        }
        let e = EngineApi::new("ssh://user:pw@host", t).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}
