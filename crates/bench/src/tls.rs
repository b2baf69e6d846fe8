//! What the bench scrapes through: an HTTP/1.1 client that reuses one connection (as Prometheus
//! does) or opens a new one per scrape, over plain TCP or TLS; and, for `--web-config tls-auth`,
//! the one exporter-toolkit web configuration file both contenders are started with (testkit's
//! test CA and server certificate, one bcrypt user) with the Authorization header to send.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use testkit::tls::ProtectedService;

const USER: &str = "prometheus";
const PASSWORD: &str = "bench scrape password";
/// testkit's test CA names the files after this (see `testkit::postgres::certificates`).
const CERT_NAME: &str = "bench";
/// Per-request limit on connecting, reading and writing.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How the contenders are reached.
pub enum WebConfig {
    /// No web configuration file: plain HTTP, no authentication.
    Plain,
    /// HTTPS and basic auth from one shared web configuration file.
    TlsAuth(TlsAuth),
}

pub struct TlsAuth {
    /// The CA, server certificate and key; removed when dropped.
    files: ProtectedService,
    web_config: PathBuf,
    client: Arc<rustls::ClientConfig>,
    authorization: String,
    bcrypt_cost: u32,
}

impl WebConfig {
    /// `none` or `tls-auth`; `bcrypt_cost` is the cost of the user's hash in the file.
    pub fn new(name: &str, bcrypt_cost: u32) -> Result<Self> {
        match name {
            "none" => Ok(Self::Plain),
            "tls-auth" => TlsAuth::new(bcrypt_cost).map(Self::TlsAuth),
            other => bail!("--web-config {other:?}: none or tls-auth"),
        }
    }

    /// The flag both contenders take (exporter-toolkit's), if any.
    pub fn flag(&self) -> Option<String> {
        match self {
            Self::Plain => None,
            Self::TlsAuth(t) => Some(format!("--web.config.file={}", t.web_config.display())),
        }
    }

    pub fn url(&self, port: u16, path: &str) -> String {
        let scheme = match self {
            Self::Plain => "http",
            Self::TlsAuth(_) => "https",
        };
        format!("{scheme}://127.0.0.1:{port}{path}")
    }

    /// Headers every request carries (the Authorization header), for wrk's `-H`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Plain => Vec::new(),
            Self::TlsAuth(t) => vec![("Authorization", t.authorization.clone())],
        }
    }

    /// A client for one contender's `path` on `port`.
    pub fn scraper(&self, label: &str, port: u16, path: &str) -> Scraper {
        Scraper {
            label: label.to_string(),
            port,
            path: path.to_string(),
            tls: match self {
                Self::Plain => None,
                Self::TlsAuth(t) => Some(t.client.clone()),
            },
            headers: self.headers(),
            open: None,
            connections_opened: 0,
            negotiated: None,
        }
    }

    /// One line for the report: what was on the wire.
    pub fn is_protected(&self) -> bool {
        matches!(self, Self::TlsAuth(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Plain => "plain HTTP, no authentication".into(),
            Self::TlsAuth(t) => format!(
                "HTTPS and basic auth from one web configuration file given to both ({}): \
                 server certificate with an RSA 2048 key from testkit's test CA, one user whose \
                 bcrypt hash has cost {}; the client offers no ALPN (HTTP/1.1, as Prometheus \
                 scrapes) and no session resumption (a new connection is a full handshake)",
                t.files.dir.path().display(),
                t.bcrypt_cost
            ),
        }
    }
}

impl TlsAuth {
    fn new(bcrypt_cost: u32) -> Result<Self> {
        let files = ProtectedService::new(CERT_NAME, USER, PASSWORD);
        // testkit's own web.yml hashes at cost 4 (the lowest); a benchmark wants the cost a real
        // deployment uses, so this file is written beside it with the same certificate and key.
        let cert = existing(files.dir.path(), &format!("{CERT_NAME}-server.crt"))?;
        let key = existing(files.dir.path(), &format!("{CERT_NAME}-server.key"))?;
        let hash = bcrypt::hash(PASSWORD, bcrypt_cost)
            .with_context(|| format!("bcrypt hash at cost {bcrypt_cost}"))?;
        let web_config = files.dir.path().join("bench-web.yml");
        std::fs::write(
            &web_config,
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {USER}: '{hash}'\n",
                cert.display(),
                key.display()
            ),
        )
        .with_context(|| format!("write {}", web_config.display()))?;
        let client = Arc::new(client_config(&files.ca)?);
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        Ok(Self {
            files,
            web_config,
            client,
            authorization: format!("Basic {token}"),
            bcrypt_cost,
        })
    }
}

fn existing(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} missing: testkit's test CA names its files otherwise now",
            path.display()
        );
    }
    Ok(path)
}

/// A TLS client trusting the test CA alone, without session resumption: Prometheus' Go client
/// keeps no session cache, so each new connection it opens is a full handshake.
fn client_config(ca: &Path) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("read the CA {}", ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("the CA {}", ca.display()))?)
            .with_context(|| format!("the CA {}", ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Whether a scrape reuses the open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Keep the connection open between scrapes (Prometheus' way).
    Kept,
    /// A new connection (and TLS handshake) for this scrape, closed after it.
    New,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// An HTTP/1.1 client for one contender's metrics path.
pub struct Scraper {
    label: String,
    port: u16,
    path: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    headers: Vec<(&'static str, String)>,
    open: Option<BufReader<Box<dyn Stream>>>,
    /// Connections opened so far (a kept connection the server closed is opened again).
    pub connections_opened: u64,
    /// The TLS version and cipher suite of the last handshake.
    pub negotiated: Option<String>,
}

impl Scraper {
    /// GETs the metrics path with `headers` besides the Authorization header; returns the body
    /// (still gzipped when asked so) of a 200 answer.
    pub fn get(&mut self, headers: &[(&str, &str)], reuse: Reuse) -> Result<Vec<u8>> {
        if reuse == Reuse::New {
            self.open = None;
        }
        let reused = self.open.is_some();
        let answer = match self.exchange(headers, reuse) {
            // The server may close a kept connection between scrapes (an idle timeout): try
            // once more on a new one, as an HTTP client does.
            Err(_) if reused => {
                self.open = None;
                self.exchange(headers, reuse)
            }
            other => other,
        };
        let (status, body, keep) = answer.inspect_err(|_| self.open = None)?;
        if !keep || reuse == Reuse::New {
            self.open = None;
        }
        if status != 200 {
            bail!(
                "{} answered {status}: {}",
                self.label,
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    /// The status of a request without the Authorization header, on a new connection: 401
    /// when the contender really checks basic auth.
    pub fn status_without_credentials(&mut self) -> Result<u16> {
        let headers = std::mem::take(&mut self.headers);
        self.open = None;
        let answer = self.exchange(&[], Reuse::New);
        self.headers = headers;
        self.open = None;
        Ok(answer?.0)
    }

    fn exchange(&mut self, headers: &[(&str, &str)], reuse: Reuse) -> Result<(u16, Vec<u8>, bool)> {
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: clustermon-bench\r\n",
            self.path, self.port
        );
        for (k, v) in self
            .headers
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(headers.iter().copied())
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if reuse == Reuse::New {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let label = self.label.clone();
        let stream = match self.open.take() {
            Some(s) => s,
            None => self.connect()?,
        };
        let stream = self.open.insert(stream);
        stream
            .get_mut()
            .write_all(head.as_bytes())
            .and_then(|()| stream.get_mut().flush())
            .with_context(|| format!("send to {label}"))?;
        read_response(stream).with_context(|| format!("read {label}'s answer"))
    }

    fn connect(&mut self) -> Result<BufReader<Box<dyn Stream>>> {
        let tcp = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), TIMEOUT)
            .with_context(|| format!("connect to {} on port {}", self.label, self.port))?;
        tcp.set_read_timeout(Some(TIMEOUT))
            .and_then(|()| tcp.set_write_timeout(Some(TIMEOUT)))
            // Go's client sets TCP_NODELAY too; without it a request may wait on Nagle.
            .and_then(|()| tcp.set_nodelay(true))
            .context("socket options")?;
        self.connections_opened += 1;
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = ServerName::try_from("127.0.0.1").context("server name")?;
                let mut conn =
                    rustls::ClientConnection::new(config.clone(), name).context("TLS client")?;
                let mut tcp = tcp;
                while conn.is_handshaking() {
                    conn.complete_io(&mut tcp)
                        .with_context(|| format!("TLS handshake with {}", self.label))?;
                }
                self.negotiated = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
                    (Some(version), Some(suite)) => {
                        Some(format!("{version:?} {:?}", suite.suite()))
                    }
                    _ => None,
                };
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        Ok(BufReader::new(stream))
    }
}

/// Reads one answer: status, body (chunked or Content-Length), and whether the connection
/// stays usable.
fn read_response(r: &mut impl BufRead) -> Result<(u16, Vec<u8>, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("the connection closed before an answer");
    }
    let mut words = line.split_whitespace();
    let version = words.next().unwrap_or_default().to_string();
    let status: u16 = words
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {line:?}"))?;
    let (mut length, mut chunked, mut keep) = (None, false, version == "HTTP/1.1");
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("the connection closed inside the answer's head");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(value.parse::<usize>().context("Content-Length")?);
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = line.trim_end().split(';').next().unwrap_or_default();
            let size =
                usize::from_str_radix(size, 16).with_context(|| format!("chunk size {line:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        keep = false;
        match r.read_to_end(&mut body) {
            Ok(_) => {}
            // A TLS server that closes without close_notify after a whole answer.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((status, body, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_are_joined_and_leave_the_connection_usable() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno";
        let mut r = BufReader::new(&raw[..]);
        assert_eq!(
            read_response(&mut r).unwrap(),
            (200, b"abcde".to_vec(), true)
        );
        assert_eq!(read_response(&mut r).unwrap(), (401, b"no".to_vec(), true));
    }

    #[test]
    fn an_answer_without_length_is_read_to_the_end_and_closes() {
        // HTTP/1.1 without Content-Length or chunks: the server's close ends the body.
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it";
        let mut r = BufReader::new(&raw[..]);
        assert_eq!(
            read_response(&mut r).unwrap(),
            (200, b"all of it".to_vec(), false)
        );
    }
}
