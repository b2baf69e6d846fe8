//! An HTTP(S) client for the secured stacks: `https://` checked against a private CA, basic auth
//! on every request, plain `http://` as well. Blocking HTTP/1.0 over [`crate::http`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::http::{self, Response};

/// A user and password for basic auth (the password never shows in `Debug`).
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

/// Sends requests: `https://` URLs with TLS checked against the CA it was made with, and its
/// credentials (if any) on every request.
#[derive(Clone)]
pub struct Client {
    tls: Option<Arc<rustls::ClientConfig>>,
    auth: Option<Credentials>,
    timeout: Duration,
    /// The name the server's certificate is checked against (and sent as SNI) instead of the
    /// URL's host: a service reached by an address its certificate does not name.
    server_name: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth)
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::plain()
    }
}

impl Client {
    /// Plain HTTP only, no authentication.
    pub fn plain() -> Self {
        Self {
            tls: None,
            auth: None,
            timeout: Duration::from_secs(10),
            server_name: None,
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
            server_name: None,
        })
    }

    /// The same client with other credentials (or none).
    pub fn with_auth(&self, auth: Option<Credentials>) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    /// The same client with another per-request timeout (connect, and each read and write).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The same client checking `https://` certificates against `name` instead of the URL's
    /// host (as Prometheus' `tls_config.server_name`).
    pub fn with_server_name(&self, name: &str) -> Self {
        Self {
            server_name: Some(name.to_string()),
            ..self.clone()
        }
    }

    /// GETs `url` (http:// or https://).
    pub fn get(&self, url: &str) -> Result<Response, String> {
        self.request("GET", url, &[], &[])
    }

    /// Sends `method url` with extra headers and a body, and reads the whole answer.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let auth = self.auth.as_ref().map(Credentials::header);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(auth) = auth.as_deref() {
            all.push(("Authorization", auth));
        }
        if url.starts_with("http://") {
            return http::request(method, url, &all, body, self.timeout);
        }
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url}: neither http:// nor https://"))?;
        let tls = self
            .tls
            .clone()
            .ok_or_else(|| format!("{url}: this client has no CA for https"))?;
        let (authority, path) = http::split_authority(rest);
        let host = match &self.server_name {
            Some(name) => name.clone(),
            None => authority
                .rsplit_once(':')
                .map_or(authority, |(h, _)| h)
                .to_string(),
        };
        let tcp = http::connect(authority, self.timeout)?;
        let name = ServerName::try_from(host).map_err(|e| format!("{authority}: {e}"))?;
        let conn = rustls::ClientConnection::new(tls, name)
            .map_err(|e| format!("TLS to {authority}: {e}"))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        let raw = http::exchange(&mut stream, url, (method, authority, path), &all, body)?;
        http::parse_response(url, &raw)
    }
}
