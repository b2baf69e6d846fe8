//! The `healthcheck` subcommand: a tiny HTTP/1.0 GET of our own `/health`, so images need no curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::WebConfig;

/// Calls `/health` on the configured listen address; exit code 0 when it answers 200.
pub fn run(web: &WebConfig) -> ExitCode {
    let tls = match &web.config_file {
        Some(path) => match crate::web_config::WebConfigFile::load(path) {
            Ok(file) => file.tls_server_config.is_some(),
            Err(e) => {
                eprintln!("unhealthy: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => false,
    };
    let result = web
        .local_url("/health")
        .map_err(|e| e.to_string())
        .and_then(|url| {
            let timeout = Duration::from_secs(3);
            let outcome = if tls {
                check_tls(&url, timeout)
            } else {
                check(&url, timeout)
            };
            outcome.map_err(|e| format!("{url}: {e}"))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// GETs `url` (plain `http://host:port/path`) and succeeds on status 200.
pub fn check(url: &str, timeout: Duration) -> Result<(), String> {
    let (stream, authority, path) = connect(url, timeout)?;
    exchange(stream, &authority, &path)
}

/// The same over TLS, for a server whose web config file turns TLS on. The server is this
/// process' own twin on a local address, so its certificate is not checked (the healthcheck has
/// no CA to check it with); a server that requires client certificates cannot be checked so.
fn check_tls(url: &str, timeout: Duration) -> Result<(), String> {
    let (stream, authority, path) = connect(url, timeout)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(crate::tls::AcceptAnyServerCert::new(provider)))
        .with_no_client_auth();
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string();
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
    let connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    exchange(
        rustls::StreamOwned::new(connection, stream),
        &authority,
        &path,
    )
}

/// A TCP connection to `url`'s authority with read and write timeouts, its authority and path.
fn connect(url: &str, timeout: Duration) -> Result<(TcpStream, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are supported".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    Ok((stream, authority.to_string(), path.to_string()))
}

/// Sends the GET and reads the status line: 200 is healthy.
fn exchange(mut stream: impl Read + Write, authority: &str, path: &str) -> Result<(), String> {
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: clustermon-healthcheck\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| format!("read: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!("HTTP status {status:?}"))
    }
}
