//! The HTTP clients for docker-api and Alertmanager: each its own, so that one upstream's
//! credentials are never sent to another. `https://` URLs are checked against a configured CA
//! file; basic-auth credentials come from a user name and a password file (never from the
//! environment or the URL), sent as a sensitive default header.

use std::path::Path;
use std::time::Duration;

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
    /// The CA file or the password file (`key`: `ca_file`, `password_file`).
    #[error("{section}.{key}: {error}")]
    File {
        section: &'static str,
        key: &'static str,
        error: metrics_core::client::FileError,
    },
    #[error("{section}: username and password_file go together")]
    HalfCredentials { section: &'static str },
    #[error("{section}: cannot build the HTTP client: {reason}")]
    Client {
        section: &'static str,
        reason: String,
    },
}

/// A client for one upstream, with the shared settings of `base`.
pub fn client(
    base: reqwest::ClientBuilder,
    access: &UpstreamAccess<'_>,
) -> Result<reqwest::Client, UpstreamError> {
    let section = access.section;
    let mut builder = base;
    if let Some(ca) = access.ca_file {
        builder = metrics_core::client::trust_only(builder, ca)
            .map_err(file_error(section, "ca_file"))?;
    }
    match (access.username.is_empty(), access.password_file) {
        (true, None) => {}
        (false, Some(file)) => {
            let password = metrics_core::client::read_password(file)
                .map_err(file_error(section, "password_file"))?;
            let mut value = basic_header(access.username, &password)
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

/// `section.key`'s error for a file that cannot be used.
fn file_error(
    section: &'static str,
    key: &'static str,
) -> impl Fn(metrics_core::client::FileError) -> UpstreamError {
    move |error| UpstreamError::File {
        section,
        key,
        error,
    }
}

fn basic_header(user: &str, password: &str) -> Result<reqwest::header::HeaderValue, String> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    reqwest::header::HeaderValue::try_from(format!("Basic {encoded}")).map_err(|e| e.to_string())
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
    fn an_unusable_ca_file_is_named_by_its_section() {
        // What makes a CA file unusable is metrics_core::client's (tested there).
        let access = UpstreamAccess {
            section: "docker_api",
            ca_file: Some(Path::new("/nonexistent/ca.pem")),
            ..Default::default()
        };
        let e = client(base_builder(Duration::from_secs(1)), &access).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("docker_api.ca_file: cannot read /nonexistent/ca.pem: "),
            "{e}"
        );
    }
}
