//! HTTP and HTTPS GETs to the stack: HTTPS checked against the stack's private CA, basic auth
//! from the stack's password files. Blocking, HTTP/1.0 (the whole body until the server closes),
//! no compression: enough for checks and for `scripts/verify`.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use testkit::http::Response;

/// A user and password for basic auth.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.user)
    }
}

impl Credentials {
    /// `user` with the password read from `file` (surrounding whitespace dropped).
    pub fn from_file(user: &str, file: &Path) -> Result<Self, String> {
        let password = std::fs::read_to_string(file)
            .map_err(|e| format!("read the password of {user} from {}: {e}", file.display()))?;
        Ok(Self {
            user: user.to_string(),
            password: password.trim().to_string(),
        })
    }

    fn header(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        format!("Basic {token}")
    }
}

/// Sends GETs: `https://` URLs with TLS checked against the CA it was made with.
#[derive(Clone)]
pub struct Client {
    tls: Option<Arc<rustls::ClientConfig>>,
    auth: Option<Credentials>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth)
            .finish()
    }
}

impl Client {
    /// Plain HTTP only, no authentication (the `--insecure` stack).
    pub fn plain() -> Self {
        Self {
            tls: None,
            auth: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// HTTPS trusting the certificates in `ca_pem`, with `auth` on every request.
    pub fn new(ca_pem: &Path, auth: Option<Credentials>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca_pem)
            .map_err(|e| format!("read the CA {}: {e}", ca_pem.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("the CA {}: {e}", ca_pem.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("the CA {}: {e}", ca_pem.display()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: Some(Arc::new(config)),
            auth,
            timeout: Duration::from_secs(10),
        })
    }

    /// The same client with other credentials (or none).
    pub fn with_auth(&self, auth: Option<Credentials>) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    /// GETs `url` (http:// or https://) with this client's credentials.
    pub fn get(&self, url: &str) -> Result<Response, String> {
        let auth = self.auth.as_ref().map(Credentials::header);
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        if url.starts_with("http://") {
            return testkit::http::get_with(url, &headers, self.timeout);
        }
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url}: neither http:// nor https://"))?;
        let tls = self
            .tls
            .clone()
            .ok_or_else(|| format!("{url}: this client has no CA for https"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_string();
        let raw = self.exchange(tls, authority, host, path, &headers)?;
        parse_response(url, &raw)
    }

    fn exchange(
        &self,
        tls: Arc<rustls::ClientConfig>,
        authority: &str,
        host: String,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, String> {
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("resolve {authority}: no address"))?;
        let tcp = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| format!("connect {authority}: {e}"))?;
        tcp.set_read_timeout(Some(self.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.timeout)))
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(host).map_err(|e| format!("{authority}: {e}"))?;
        let conn = rustls::ClientConnection::new(tls, name)
            .map_err(|e| format!("TLS to {authority}: {e}"))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        let mut head = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .map_err(|e| format!("TLS to {authority}: {e}"))?;
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw) {
            Ok(_) => Ok(raw),
            // A server that closes without TLS close_notify after a complete HTTP/1.0 answer.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
            Err(e) => Err(format!("TLS to {authority}: {e}")),
        }
    }
}

fn parse_response(url: &str, raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in the answer from {url}"))?;
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
