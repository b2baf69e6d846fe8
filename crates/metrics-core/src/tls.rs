//! TLS for the shared server from a web configuration file's `tls_server_config`, with rustls:
//! certificates re-read on the next handshake after they (or the file) change, client
//! certificates by upstream's `client_auth_type` policies, `client_allowed_sans`, versions,
//! TLS 1.2 cipher suites and curves by their Go names.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, ServerConfig, SupportedCipherSuite};

use crate::web_config::{
    read_capped, relative_to, ClientAuth, TlsServerConfig, TlsVersion, WatchedWebConfig,
};

pub use crate::go_tls_names::{cipher_suite, curve};

/// The rustls server configuration for `tls`; certificates come from `watched` on each handshake.
pub fn server_config(
    tls: &TlsServerConfig,
    watched: Arc<WatchedWebConfig>,
) -> Result<ServerConfig, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let wanted: Vec<SupportedCipherSuite> = tls
            .cipher_suites
            .iter()
            .filter_map(|n| cipher_suite(n))
            .collect();
        // Go's list governs TLS 1.2 only; TLS 1.3 suites stay as they are.
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13);
        provider.cipher_suites.extend(wanted);
    }
    if !tls.curve_preferences.is_empty() {
        provider.kx_groups = tls
            .curve_preferences
            .iter()
            .filter_map(|n| curve(n))
            .collect();
    }
    let provider = Arc::new(provider);
    let min = tls.min_version.unwrap_or(TlsVersion::TLS12);
    let max = tls.max_version.unwrap_or(TlsVersion::TLS13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= TlsVersion::TLS12 && max >= TlsVersion::TLS12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::TLS13 {
        versions.push(&rustls::version::TLS13);
    }
    let verifier = client_verifier(tls, watched.path(), provider.clone())?;
    let resolver = Arc::new(ReloadingCert::new(watched, provider.clone())?);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    Ok(config)
}

fn client_verifier(
    tls: &TlsServerConfig,
    config_path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let roots = || -> Result<rustls::RootCertStore, String> {
        let pem = match (&tls.client_ca, &tls.client_ca_file) {
            (Some(inline), _) => inline.clone().into_bytes(),
            (None, Some(file)) => {
                let path = relative_to(config_path, file);
                read_capped(&path).map_err(|e| format!("client_ca_file {}: {e}", path.display()))?
            }
            (None, None) => {
                return Err("client_ca_file is needed to verify client certificates".into())
            }
        };
        let mut store = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("client CA: {e}"))?;
            store.add(cert).map_err(|e| format!("client CA: {e}"))?;
        }
        if store.is_empty() {
            return Err("client CA: no certificate found".into());
        }
        Ok(store)
    };
    let sans = tls.client_allowed_sans.clone();
    let verified = |mandatory: bool| -> Result<Arc<dyn ClientCertVerifier>, String> {
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots()?), provider.clone());
        let builder = if mandatory {
            builder
        } else {
            builder.allow_unauthenticated()
        };
        let inner = builder.build().map_err(|e| format!("client CA: {e}"))?;
        Ok(Arc::new(AllowedSans {
            inner,
            sans: sans.clone(),
        }))
    };
    match tls.client_auth_type {
        ClientAuth::NoClientCert => Ok(WebPkiClientVerifier::no_client_auth()),
        ClientAuth::RequestClientCert => Ok(Arc::new(AnyClientCert {
            provider,
            mandatory: false,
        })),
        ClientAuth::RequireAnyClientCert => Ok(Arc::new(AnyClientCert {
            provider,
            mandatory: true,
        })),
        ClientAuth::VerifyClientCertIfGiven => verified(false),
        ClientAuth::RequireAndVerifyClientCert => verified(true),
    }
}

/// The handshake-signature half of a rustls certificate verifier (client or server side), done
/// with the algorithms of the crypto provider in field `$provider` (`Arc<CryptoProvider>`). Every
/// verifier that decides on certificates itself but lets rustls' own code check signatures uses
/// it, here and in pg-exporter.
#[macro_export]
macro_rules! signatures_checked_by_provider {
    ($provider:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            ::rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            ::rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<::rustls::SignatureScheme> {
            self.$provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// The handshake-signature half of a rustls certificate verifier that wraps another one (field
/// `$inner`) to decide differently on certificates only: signatures are the inner one's.
#[macro_export]
macro_rules! signatures_checked_by_inner {
    ($inner:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            self.$inner.verify_tls12_signature(message, cert, dss)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            self.$inner.verify_tls13_signature(message, cert, dss)
        }
        fn supported_verify_schemes(&self) -> Vec<::rustls::SignatureScheme> {
            self.$inner.supported_verify_schemes()
        }
    };
}

/// A client's verifier that accepts any server certificate: the connection is encrypted and the
/// handshake signatures are checked, but not who the server is. For our own healthcheck (its
/// own listener, whatever certificate it serves) and libpq's `sslmode=require`.
#[derive(Debug)]
pub struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl AcceptAnyServerCert {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self(provider)
    }
}

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    crate::signatures_checked_by_provider!(0);
}

/// Upstream's `client_allowed_sans`: a verified client certificate must also be valid for one of
/// these names (DNS names and IP addresses).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    sans: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.sans.is_empty() {
            return Ok(verified);
        }
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| rustls::Error::General(format!("client certificate: {e}")))?;
        let allowed = self.sans.iter().any(|san| {
            ServerName::try_from(san.as_str())
                .map(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
                .unwrap_or(false)
        });
        if allowed {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "could not find allowed SANs in client cert".into(),
            ))
        }
    }
    crate::signatures_checked_by_inner!(inner);
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked for (or required)
/// but not verified against a CA; the handshake signature still proves its key is held.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    crate::signatures_checked_by_provider!(provider);
}

/// Where the certificate and key come from, with the files' modification times.
#[derive(Debug, Clone, PartialEq)]
struct CertSource {
    cert: Source,
    key: Source,
}

#[derive(Debug, Clone, PartialEq)]
enum Source {
    Inline(String),
    File(PathBuf, Option<SystemTime>),
}

impl Source {
    fn of(inline: &Option<String>, file: &Option<PathBuf>, config: &Path) -> Option<Self> {
        match (inline, file) {
            (Some(text), _) => Some(Source::Inline(text.clone())),
            (None, Some(path)) => {
                let path = relative_to(config, path);
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                Some(Source::File(path, modified))
            }
            (None, None) => None,
        }
    }

    fn bytes(&self, what: &str) -> Result<Vec<u8>, String> {
        match self {
            Source::Inline(text) => Ok(text.clone().into_bytes()),
            Source::File(path, _) => {
                read_capped(path).map_err(|e| format!("{what} {}: {e}", path.display()))
            }
        }
    }
}

/// The server certificate, re-read on a handshake after the web config file or the certificate
/// files changed; a broken new certificate keeps the last good one in use (and is logged).
#[derive(Debug)]
struct ReloadingCert {
    watched: Arc<WatchedWebConfig>,
    provider: Arc<CryptoProvider>,
    current: Mutex<(CertSource, Arc<CertifiedKey>)>,
}

impl std::fmt::Debug for WatchedWebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedWebConfig")
            .field("path", &self.path())
            .finish()
    }
}

impl ReloadingCert {
    fn new(watched: Arc<WatchedWebConfig>, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let source = Self::source(&watched).ok_or("tls_server_config is missing")?;
        let key = load(&source, &provider)?;
        Ok(Self {
            watched,
            provider,
            current: Mutex::new((source, key)),
        })
    }

    fn source(watched: &WatchedWebConfig) -> Option<CertSource> {
        let file = watched.current();
        let tls = file.tls_server_config.as_ref()?;
        Some(CertSource {
            cert: Source::of(&tls.cert, &tls.cert_file, watched.path())?,
            key: Source::of(&tls.key, &tls.key_file, watched.path())?,
        })
    }
}

fn load(source: &CertSource, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = source.cert.bytes("cert_file")?;
    let key_pem = source.key.bytes("key_file")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if chain.is_empty() {
        return Err("certificate: no certificate found".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("key: {e}"))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(certified))
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = match self.current.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(source) = Self::source(&self.watched) {
            if source != current.0 {
                match load(&source, &self.provider) {
                    Ok(key) => {
                        tracing::info!("TLS certificate changed; reloaded");
                        *current = (source, key);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate changed but cannot be loaded; keeping the last good one");
                        current.0 = source;
                    }
                }
            }
        }
        Some(current.1.clone())
    }
}
