//! Asking another service over HTTP (feature `client`, for the services that use reqwest): the
//! client defaults every clustermon client starts from, trust in a CA file's certificates alone,
//! a password read from a file, answers read up to a cap in bytes and in time, and reqwest's
//! errors on one line without the URL (which may carry a password).
//! Kept behind a feature so that the exporters that ask no HTTP service do not build reqwest.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::RootCertStore;

/// The name a server's certificate is checked against ([`trust_only_as`]).
pub use rustls::pki_types::ServerName;

use bytes::Bytes;
use tokio::time::Instant;

/// How long an idle connection to an upstream is kept for the next request.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an answer's body could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The answer declared, or sent, more than `max` bytes; reading stopped there.
    #[error("answer larger than {max} bytes")]
    TooLarge { max: usize },
    /// The deadline, or the client's own timeout, passed before the answer ended.
    #[error("the answer did not end in time")]
    TimedOut,
    /// The connection failed or broke (the error chain, without the URL).
    #[error("{0}")]
    Transport(String),
}

/// The builder every client starts from: no proxy from the environment (upstreams are on the
/// stack's own network), no redirect followed (an upstream answers itself or not at all; a
/// redirect could point the service, and its credentials, at any address), connecting within
/// `connect_timeout`.
pub fn builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
}

/// Why a CA file or a password file cannot be used. The caller names its setting before this
/// ("cluster.peer_ca_file: …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Not a regular file of at most [`crate::web_config::MAX_FILE_BYTES`], or not readable.
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// A CA file without a certificate reqwest accepts.
    #[error("{} holds no usable certificate: {reason}", path.display())]
    NoCertificate { path: PathBuf, reason: String },
}

/// `builder` trusting the certificates in the PEM file `ca_file` and nothing else (no built-in
/// or system roots): an upstream is checked against the operator's own CA only.
pub fn trust_only(
    builder: reqwest::ClientBuilder,
    ca_file: &Path,
) -> Result<reqwest::ClientBuilder, FileError> {
    let pem = read_file(ca_file)?;
    let bad = |reason: String| FileError::NoCertificate {
        path: ca_file.to_path_buf(),
        reason,
    };
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    Ok(certificates.into_iter().fold(
        builder.tls_built_in_root_certs(false),
        reqwest::ClientBuilder::add_root_certificate,
    ))
}

/// [`trust_only`], but every upstream's certificate is checked against `server_name` instead of
/// the host in the URL: for upstreams reached by address (a Swarm task's, a fleet host's IP)
/// whose certificates name the service they belong to, as Prometheus' `tls_config.server_name`.
/// The chain must still lead to the CA in `ca_file`, and the name must be in the certificate.
pub fn trust_only_as(
    builder: reqwest::ClientBuilder,
    ca_file: &Path,
    server_name: ServerName<'static>,
) -> Result<reqwest::ClientBuilder, FileError> {
    let pem = read_file(ca_file)?;
    let bad = |reason: String| FileError::NoCertificate {
        path: ca_file.to_path_buf(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|e| bad(e.to_string()))?;
        roots.add(certificate).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AsServerName {
            chain,
            name: server_name,
        }))
        .with_no_client_auth();
    Ok(builder.use_preconfigured_tls(config))
}

/// Checks a server's certificate as if it had been reached under `name`.
#[derive(Debug)]
struct AsServerName {
    chain: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for AsServerName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _reached_as: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.chain
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    crate::signatures_checked_by_inner!(chain);
}

/// The password in `file` without its trailing line ends (as `echo` or an editor leaves them).
pub fn read_password(file: &Path) -> Result<String, FileError> {
    let raw = read_file(file)?;
    Ok(String::from_utf8_lossy(&raw)
        .trim_end_matches(['\r', '\n'])
        .to_string())
}

/// The bytes of `path`, a regular file of bounded size ([`crate::web_config::read_capped`]).
fn read_file(path: &Path) -> Result<Vec<u8>, FileError> {
    crate::web_config::read_capped(path).map_err(|reason| FileError::Unreadable {
        path: path.to_path_buf(),
        reason,
    })
}

/// The error and its causes on one line ("error sending request: client error (Connect): tcp
/// connect error: Connection refused (os error 111)"), without the URL and so without any
/// `user:password@` it holds. A cause already contained in the text so far is not repeated.
pub fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The body of `response`, read chunk by chunk and given up as soon as it passes `max` bytes; a
/// declared length over `max` is refused before any of it is read. The caller bounds the time
/// (or use [`read_capped_until`]).
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Bytes, ReadError> {
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > max))
    {
        return Err(ReadError::TooLarge { max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_or_timeout)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(ReadError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A reqwest error while reading: the client's own timeout (`ClientBuilder::timeout`) passing is
/// [`ReadError::TimedOut`], anything else [`ReadError::Transport`].
fn transport_or_timeout(e: reqwest::Error) -> ReadError {
    if e.is_timeout() {
        ReadError::TimedOut
    } else {
        ReadError::Transport(error_chain(e))
    }
}

/// [`read_capped`], given up with [`ReadError::TimedOut`] when `deadline` passes first (an
/// upstream sending a byte now and then cannot hold the reader longer).
pub async fn read_capped_until(
    response: reqwest::Response,
    max: usize,
    deadline: Instant,
) -> Result<Bytes, ReadError> {
    tokio::time::timeout_at(deadline, read_capped(response, max))
        .await
        .map_err(|_| ReadError::TimedOut)?
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    /// Far enough that only a reader that never stops reaches it.
    const SAFETY: Duration = Duration::from_secs(30);

    /// What the test server does after reading a request's head.
    #[derive(Clone, Copy)]
    enum Answer {
        /// `Content-Length: len` and that many bytes.
        Sized(usize),
        /// `Content-Length: len` and nothing more, the connection held open.
        DeclaredOnly(u64),
        /// Chunked, exactly `len` bytes in 1000-byte chunks.
        Chunked(usize),
        /// Chunked, 64 KiB chunks until the client goes away.
        Endless,
        /// `Content-Length: 1000`, then one byte every 50 ms.
        Trickle,
        /// `Content-Length: 1000`, 10 bytes, then the connection closed.
        Cut,
        /// A redirect to another path.
        Redirect,
    }

    /// A server on a free loopback port answering every request with `answer`.
    async fn serve(answer: Answer) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    // Errors end the connection: the client went away, which some tests want.
                    let _ = answer_one(stream, answer).await;
                });
            }
        });
        format!("http://{address}")
    }

    async fn answer_one(mut stream: TcpStream, answer: Answer) -> std::io::Result<()> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            if stream.read(&mut byte).await? == 0 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        match answer {
            Answer::Sized(len) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&vec![b'x'; len]).await?;
            }
            Answer::DeclaredOnly(len) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                stream.write_all(head.as_bytes()).await?;
                tokio::time::sleep(SAFETY * 2).await;
            }
            Answer::Chunked(len) => {
                stream.write_all(chunked.as_bytes()).await?;
                let mut left = len;
                while left > 0 {
                    let n = left.min(1000);
                    write_chunk(&mut stream, n).await?;
                    left -= n;
                }
                stream.write_all(b"0\r\n\r\n").await?;
            }
            Answer::Endless => {
                stream.write_all(chunked.as_bytes()).await?;
                loop {
                    write_chunk(&mut stream, 64 * 1024).await?;
                }
            }
            Answer::Trickle => {
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
                stream.write_all(head.as_bytes()).await?;
                for _ in 0..1000 {
                    stream.write_all(b"x").await?;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Answer::Cut => {
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&[b'x'; 10]).await?;
            }
            Answer::Redirect => {
                let head =
                    "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n";
                stream.write_all(head.as_bytes()).await?;
            }
        }
        stream.shutdown().await
    }

    async fn write_chunk(stream: &mut TcpStream, len: usize) -> std::io::Result<()> {
        stream.write_all(format!("{len:x}\r\n").as_bytes()).await?;
        stream.write_all(&vec![b'x'; len]).await?;
        stream.write_all(b"\r\n").await
    }

    /// The body of a GET answered with `answer`, read up to `max` bytes by `deadline`.
    async fn read(answer: Answer, max: usize, deadline: Instant) -> Result<Bytes, ReadError> {
        let url = serve(answer).await;
        let client = builder(Duration::from_secs(5)).build().unwrap();
        let response = client.get(url).send().await.unwrap();
        read_capped_until(response, max, deadline).await
    }

    fn far() -> Instant {
        Instant::now() + SAFETY
    }

    const MIB: usize = 1 << 20;

    #[tokio::test]
    async fn answers_up_to_the_cap_are_read_whole() {
        let sized = read(Answer::Sized(5000), 5000, far()).await;
        assert_eq!(sized.unwrap().len(), 5000);
        let chunked = read(Answer::Chunked(5000), 5000, far()).await;
        assert_eq!(chunked.unwrap().len(), 5000);
    }

    #[tokio::test]
    async fn a_chunked_answer_one_byte_over_the_cap_is_too_large() {
        let over = read(Answer::Chunked(5001), 5000, far()).await;
        assert_eq!(over, Err(ReadError::TooLarge { max: 5000 }));
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        // The server never sends the body: only the declared length can end this read.
        let declared = read(Answer::DeclaredOnly(1 << 40), MIB, far()).await;
        assert_eq!(declared, Err(ReadError::TooLarge { max: MIB }));
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_cap() {
        let endless = read(Answer::Endless, MIB, far()).await;
        assert_eq!(endless, Err(ReadError::TooLarge { max: MIB }));
    }

    #[tokio::test]
    async fn a_trickling_answer_ends_at_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(300);
        let trickle = read(Answer::Trickle, MIB, deadline).await;
        assert_eq!(trickle, Err(ReadError::TimedOut));
    }

    #[tokio::test]
    async fn the_clients_own_timeout_while_reading_is_timed_out() {
        let url = serve(Answer::Trickle).await;
        let client = builder(Duration::from_secs(5))
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(read_capped(response, MIB).await, Err(ReadError::TimedOut));
    }

    #[tokio::test]
    async fn a_cut_connection_is_a_transport_error() {
        match read(Answer::Cut, MIB, far()).await {
            Err(ReadError::Transport(text)) => assert!(!text.is_empty()),
            other => panic!("expected a transport error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let url = serve(Answer::Redirect).await;
        let client = builder(Duration::from_secs(5)).build().unwrap();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
    }

    #[test]
    fn a_password_file_loses_only_its_trailing_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, " s3cret \r\n\n").unwrap();
        assert_eq!(read_password(&file).unwrap(), " s3cret ");
        let missing = dir.path().join("missing");
        let e = read_password(&missing).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let e = trust_only(builder(Duration::from_secs(1)), &ca).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{} holds no usable certificate: no PEM certificate found",
                ca.display()
            )
        );
    }

    #[tokio::test]
    async fn error_chains_name_the_cause_without_the_url() {
        // A port that was free a moment ago: nothing listens there now.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client = builder(Duration::from_secs(5)).build().unwrap();
        let e = client
            .get(format!(
                "http://dashboard:s3cret@{address}/api/x?token=t0ken"
            ))
            .send()
            .await
            .unwrap_err();
        let text = error_chain(e);
        for secret in ["s3cret", "t0ken", "/api/x"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("refused"), "{text}");
    }
}
