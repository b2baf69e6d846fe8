//! The HTTP clients for docker-api and Alertmanager: each its own, so that one upstream's
//! credentials are never sent to another. `https://` URLs are checked against a configured CA
//! file; basic-auth credentials come from a user name and a password file (never from the
//! environment or the URL), sent as a sensitive default header.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// How the dashboard authenticates to one upstream and checks its certificate.
#[derive(Debug, Clone, Default)]
pub struct UpstreamAccess<'a> {
    /// The config section, for messages (`docker_api`, `alertmanager`).
    pub section: &'static str,
    pub ca_file: Option<&'a Path>,
    pub username: &'a str,
    pub password_file: Option<&'a Path>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{section}.{key}: cannot read {path}: {reason}")]
    File {
        section: &'static str,
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{section}.ca_file: {path} holds no usable certificate: {reason}")]
    Ca {
        section: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{section}: username and password_file go together")]
    HalfCredentials { section: &'static str },
    #[error("{section}: cannot build the HTTP client: {reason}")]
    Client {
        section: &'static str,
        reason: String,
    },
}

/// The file's bytes (a regular file of at most [`metrics_core::web_config::MAX_FILE_BYTES`]),
/// or why not as `section.key`'s error.
fn read_file(
    section: &'static str,
    key: &'static str,
    path: &Path,
) -> Result<Vec<u8>, UpstreamError> {
    metrics_core::web_config::read_capped(path).map_err(|reason| UpstreamError::File {
        section,
        key,
        path: path.to_path_buf(),
        reason,
    })
}

/// A client for one upstream, with the shared settings of `base`.
pub fn client(
    base: reqwest::ClientBuilder,
    access: &UpstreamAccess<'_>,
) -> Result<reqwest::Client, UpstreamError> {
    let section = access.section;
    let mut builder = base;
    if let Some(ca) = access.ca_file {
        builder = builder.use_preconfigured_tls(tls_config(section, ca)?);
    }
    match (access.username.is_empty(), access.password_file) {
        (true, None) => {}
        (false, Some(file)) => {
            let raw = read_file(section, "password_file", file)?;
            let password = String::from_utf8_lossy(&raw);
            let password = password.trim_end_matches(['\r', '\n']);
            let mut value = basic_header(access.username, password)
                .map_err(|reason| UpstreamError::Client { section, reason })?;
            value.set_sensitive(true);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        _ => return Err(UpstreamError::HalfCredentials { section }),
    }
    builder.build().map_err(|e| UpstreamError::Client {
        section,
        reason: e.to_string(),
    })
}

fn basic_header(user: &str, password: &str) -> Result<reqwest::header::HeaderValue, String> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    reqwest::header::HeaderValue::try_from(format!("Basic {encoded}")).map_err(|e| e.to_string())
}

/// rustls' client configuration trusting only the certificates in `ca`.
fn tls_config(section: &'static str, ca: &Path) -> Result<rustls::ClientConfig, UpstreamError> {
    let bad = |reason: String| UpstreamError::Ca {
        section,
        path: ca.to_path_buf(),
        reason,
    };
    let pem = read_file(section, "ca_file", ca)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The builder every upstream client starts from.
pub fn base_builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    // No proxy from the environment (upstreams are on the stack's network) and no redirect
    // followed (one could take this upstream's credentials elsewhere).
    metrics_core::client::builder(connect_timeout)
        .user_agent(concat!("clustermon-dashboard/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_need_both_parts_and_a_readable_file() {
        let half = UpstreamAccess {
            section: "docker_api",
            username: "dashboard",
            ..Default::default()
        };
        let e = client(base_builder(Duration::from_secs(1)), &half).unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
        let missing = UpstreamAccess {
            section: "alertmanager",
            username: "dashboard",
            password_file: Some(Path::new("/nonexistent/pw")),
            ..Default::default()
        };
        let e = client(base_builder(Duration::from_secs(1)), &missing).unwrap_err();
        assert!(
            e.to_string().starts_with("alertmanager.password_file"),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let access = UpstreamAccess {
            section: "docker_api",
            ca_file: Some(&ca),
            ..Default::default()
        };
        let e = client(base_builder(Duration::from_secs(1)), &access).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
