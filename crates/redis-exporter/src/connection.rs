//! Connections to Redis. Plain TCP and Unix sockets are read through a per-scrape byte budget,
//! since redis-rs buffers a reply of any announced size: a server that streams a 2 GB bulk string
//! costs at most [`MAX_REPLY_BYTES`] of reading, then the connection fails and the scrape reports
//! `redis_up 0`. `rediss://` goes through redis-rs' own TLS connector, without that budget.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::target::Target;

/// Most bytes read from one Redis during one scrape. `INFO ALL` is tens of KiB; key checks are
/// bounded by their own limits far below this.
pub const MAX_REPLY_BYTES: u64 = 32 << 20;

/// PEM contents of the TLS files, read at start-up.
#[derive(Clone)]
pub struct TlsFiles {
    pub ca_cert: Option<Vec<u8>>,
    /// Certificate and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca_cert", &self.ca_cert.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

/// What is left to read during the current scrape; shared by a target's connection and its
/// scrapes, refilled at the start of each.
#[derive(Debug, Clone, Default)]
pub struct ReplyBudget(Arc<AtomicU64>);

impl ReplyBudget {
    pub fn refill(&self) {
        self.0.store(MAX_REPLY_BYTES, Ordering::Relaxed);
    }

    fn spend(&self, n: u64) {
        // A racing refill only gives the scrape a fresh budget, which is what it is for.
        let left = self.0.load(Ordering::Relaxed);
        self.0.store(left.saturating_sub(n), Ordering::Relaxed);
    }

    fn is_spent(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

/// A stream whose reads stop with an error once the budget is spent.
struct Budgeted<S> {
    inner: S,
    budget: ReplyBudget,
}

impl<S: AsyncRead + Unpin> AsyncRead for Budgeted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.budget.is_spent() {
            return Poll::Ready(Err(io::Error::other(format!(
                "Redis sent more than {} MiB during one scrape",
                MAX_REPLY_BYTES >> 20
            ))));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let read = buf.filled().len().saturating_sub(before);
            self.budget.spend(read as u64);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Budgeted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connects (and authenticates, selects the database) within `timeout`; replies wait at most
/// `response_timeout`.
pub async fn connect(
    target: &Target,
    tls: Option<&TlsFiles>,
    budget: &ReplyBudget,
    timeout: Duration,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(response_timeout);
    let info = &target.connection;
    let connecting = async {
        match &info.addr {
            ConnectionAddr::Tcp(host, port) => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                // Requests are small and answered at once: do not let Nagle hold them back.
                stream.set_nodelay(true)?;
                budgeted(info, stream, budget, config).await
            }
            ConnectionAddr::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await?;
                budgeted(info, stream, budget, config).await
            }
            ConnectionAddr::TcpTls { .. } => {
                tls_client(info, tls)?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            }
        }
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(connected) => connected,
        Err(_) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "timed out connecting to Redis").into())
        }
    }
}

async fn budgeted<S>(
    info: &ConnectionInfo,
    stream: S,
    budget: &ReplyBudget,
    config: AsyncConnectionConfig,
) -> Result<MultiplexedConnection, RedisError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    budget.refill();
    let stream = Budgeted {
        inner: stream,
        budget: budget.clone(),
    };
    let (connection, driver) =
        MultiplexedConnection::new_with_config(&info.redis, stream, config).await?;
    // The driver ends when the connection (every clone of it) is dropped.
    tokio::spawn(driver);
    Ok(connection)
}

fn tls_client(info: &ConnectionInfo, tls: Option<&TlsFiles>) -> Result<redis::Client, RedisError> {
    match tls {
        Some(files) => redis::Client::build_with_tls(
            info.clone(),
            redis::TlsCertificates {
                client_tls: files.client.clone().map(|(client_cert, client_key)| {
                    redis::ClientTlsConfig {
                        client_cert,
                        client_key,
                    }
                }),
                root_cert: files.ca_cert.clone(),
            },
        ),
        None => redis::Client::open(info.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_stop_once_the_budget_is_spent_and_resume_after_a_refill() {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        let budget = ReplyBudget::default();
        budget.refill();
        let mut reader = Budgeted {
            inner: client,
            budget: budget.clone(),
        };
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0u64;
            while sent <= MAX_REPLY_BYTES + (1 << 20) {
                if server.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
            server
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0u64;
        let error = loop {
            match reader.read(&mut buf).await {
                Ok(n) => read += n as u64,
                Err(e) => break e,
            }
        };
        assert!(
            (MAX_REPLY_BYTES..MAX_REPLY_BYTES + (64 << 10)).contains(&read),
            "{read}"
        );
        assert!(error.to_string().contains("MiB"), "{error}");
        budget.refill();
        assert!(reader.read(&mut buf).await.is_ok());
        drop(reader);
        let _ = writer.await;
    }
}
