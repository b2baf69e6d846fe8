//! Connections to Redis. Every reply, over plain TCP, a Unix socket or `rediss://`, is read
//! through a per-scrape byte budget, since redis-rs buffers a reply of any announced size: a
//! server that streams a 2 GB bulk string costs at most [`MAX_REPLY_BYTES`] of reading, then the
//! connection fails and the scrape reports `redis_up 0`. For `rediss://` the budget sits under
//! the TLS layer (it counts the encrypted bytes read from the socket), so the handshake is done
//! here with tokio-rustls rather than by redis-rs' own connector.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use metrics_core::tls::AcceptAnyServerCert;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

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
                let stream = budgeted(tcp(host, *port).await?, budget);
                multiplexed(info, stream, config).await
            }
            ConnectionAddr::Unix(path) => {
                let stream = budgeted(tokio::net::UnixStream::connect(path).await?, budget);
                multiplexed(info, stream, config).await
            }
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => {
                let client = tls_client_config(tls, *insecure)?;
                let name = ServerName::try_from(host.as_str())
                    .map_err(|e| TlsSetupError(format!("server name {host:?}: {e}")))?
                    .to_owned();
                let stream = budgeted(tcp(host, *port).await?, budget);
                let stream = TlsConnector::from(Arc::new(client))
                    .connect(name, stream)
                    .await?;
                multiplexed(info, stream, config).await
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

/// A TCP connection to `host:port`.
async fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    // Requests are small and answered at once: do not let Nagle hold them back.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `stream` read through `budget`, refilled for the scrape that connects.
fn budgeted<S>(stream: S, budget: &ReplyBudget) -> Budgeted<S> {
    budget.refill();
    Budgeted {
        inner: stream,
        budget: budget.clone(),
    }
}

/// A redis-rs connection (authenticated, database selected) over `stream`.
async fn multiplexed<S>(
    info: &ConnectionInfo,
    stream: S,
    config: AsyncConnectionConfig,
) -> Result<MultiplexedConnection, RedisError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (connection, driver) =
        MultiplexedConnection::new_with_config(&info.redis, stream, config).await?;
    // The driver ends when the connection (every clone of it) is dropped.
    tokio::spawn(driver);
    Ok(connection)
}

/// A CA or client certificate that cannot be used, or no system CA to fall back on.
#[derive(Debug, thiserror::Error)]
#[error("rediss:// TLS setup: {0}")]
struct TlsSetupError(String);

impl From<TlsSetupError> for RedisError {
    fn from(e: TlsSetupError) -> Self {
        io::Error::other(e).into()
    }
}

/// The rustls client side of `rediss://`: the server verified against the CA file, or the
/// system's CAs without one (as redis-rs' connector did), or not at all when `insecure`
/// (`--skip-tls-verification`, `rediss://...#insecure`); a client certificate when configured.
fn tls_client_config(
    tls: Option<&TlsFiles>,
    insecure: bool,
) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(e.to_string()))?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert::new(provider)))
    } else {
        builder.with_root_certificates(roots(tls.and_then(|f| f.ca_cert.as_deref()))?)
    };
    let mut config = match tls.and_then(|f| f.client.as_ref()) {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsSetupError(format!("client certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| TlsSetupError(format!("client key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsSetupError(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    // An unverified server gets no name either, as before.
    config.enable_sni = !insecure;
    Ok(config)
}

/// The CA file's certificates, or the system's when there is none.
fn roots(ca_pem: Option<&[u8]>) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| TlsSetupError(format!("CA certificate: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| TlsSetupError(format!("CA certificate: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if let Some(e) = found.errors.first() {
                return Err(TlsSetupError(format!("system CA certificates: {e}")));
            }
            // Unparsable system certificates are skipped, as rustls' own helper does.
            store.add_parsable_certificates(found.certs);
        }
    }
    if store.is_empty() {
        return Err(TlsSetupError(
            "no CA certificate to verify the server with".into(),
        ));
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn a_ca_file_without_certificates_is_an_error_not_an_empty_trust_store() {
        let files = TlsFiles {
            ca_cert: Some(b"not a certificate".to_vec()),
            client: None,
        };
        let error = tls_client_config(Some(&files), false).unwrap_err();
        assert!(error.to_string().contains("no CA certificate"), "{error}");
        // Unverified, the CA file is not needed.
        assert!(tls_client_config(Some(&files), true).is_ok());
    }

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
