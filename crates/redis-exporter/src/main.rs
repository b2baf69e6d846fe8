use std::process::ExitCode;
use std::sync::Arc;

use metrics_core::{Failure, Launch, Server};
use redis_exporter::allowed_targets::AllowedTargets;
use redis_exporter::connection::TlsFiles;
use redis_exporter::exporter::RequestKeyChecks;
use redis_exporter::snapshot::Naming;
use redis_exporter::target::{self, Credentials, PasswordFile, Target};
use redis_exporter::{keys, Config, RedisExporter, Settings, SCRAPE_PATH, SERVICE};

// One thread is plenty for accepting and signals: scrapes run on the HTTP workers.
fn main() -> ExitCode {
    Launch::new(&SERVICE, redis_exporter::config::args())
        .current_thread()
        .argv(redis_exporter::config::upstream_style_args(
            std::env::args_os(),
        ))
        .run(|config: Config| async move {
            let credentials = credentials(&config)?;
            let default_target = target::parse(&config.redis.addr, &credentials, true)
                .map_err(|e| Failure::config("--redis.addr / REDIS_ADDR", e))?;
            let settings = settings(&config, &default_target, credentials)?;
            tracing::info!(
                redis = %default_target.name,
                namespace = %settings.naming.namespace,
                scrape_allowed_targets = settings.allowed_targets.len(),
                "scraping"
            );
            let exporter = Arc::new(RedisExporter::new(default_target, settings));
            Ok(Server::new(SERVICE, config.web.clone(), exporter)
                .metrics_path(SCRAPE_PATH)
                .start()?)
        })
}

fn credentials(config: &Config) -> Result<Credentials, Failure> {
    let mut credentials = Credentials {
        user: Some(config.redis.user.clone()).filter(|u| !u.is_empty()),
        password: Some(config.redis.password.clone()).filter(|p| !p.is_empty()),
        skip_tls_verification: config.skip_tls_verification,
        ..Credentials::default()
    };
    if let Some(path) = &config.redis.password_file {
        let read = target::read_password_file(path).map_err(|e| {
            Failure::config(
                "--redis.password-file / REDIS_PASSWORD_FILE",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        match read {
            PasswordFile::ByAddress(map) => {
                tracing::info!(file = %path.display(), entries = map.len(), "loaded passwords by address");
                credentials.by_address = map;
            }
            PasswordFile::Single(password) => credentials.password = Some(password),
        }
    }
    Ok(credentials)
}

fn settings(
    config: &Config,
    default_target: &Target,
    credentials: Credentials,
) -> Result<Settings, Failure> {
    let allowed_targets =
        AllowedTargets::new(default_target, &credentials, &config.scrape.allowed_targets)
            .map_err(|e| Failure::Config(e.to_string()))?;
    Ok(Settings {
        naming: Naming {
            namespace: config.namespace.clone(),
            include_system_metrics: config.include_system_metrics,
        },
        credentials,
        check_keys: keys::parse_key_list(&config.check_keys)
            .map_err(|e| Failure::config("--check-keys", e))?,
        check_single_keys: keys::parse_key_list(&config.check_single_keys)
            .map_err(|e| Failure::config("--check-single-keys", e))?,
        check_keys_batch_size: config.check_keys_batch_size.max(1),
        check_keys_limit: config.check_keys_limit,
        connection_timeout: config.connection_timeout,
        tls: tls_files(config)?,
        allowed_targets,
        request_key_checks: RequestKeyChecks {
            allowed: config.scrape.allow_request_key_checks,
            max_items: config.scrape.request_key_checks_limit,
            max_scanned: config.scrape.request_key_scan_limit.max(1),
        },
    })
}

fn tls_files(config: &Config) -> Result<Option<TlsFiles>, Failure> {
    let read = |path: &Option<std::path::PathBuf>,
                flag: &str|
     -> Result<Option<Vec<u8>>, Failure> {
        path.as_ref()
            .map(|p| {
                std::fs::read(p)
                    .map_err(|e| Failure::config(flag, format!("cannot read {}: {e}", p.display())))
            })
            .transpose()
    };
    let ca_cert = read(&config.tls_ca_cert_file, "--tls-ca-cert-file")?;
    let client = match (
        read(&config.tls_client_cert_file, "--tls-client-cert-file")?,
        read(&config.tls_client_key_file, "--tls-client-key-file")?,
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(Failure::config(
                "--tls-client-cert-file, --tls-client-key-file",
                "the two go together",
            ))
        }
    };
    Ok((ca_cert.is_some() || client.is_some()).then_some(TlsFiles { ca_cert, client }))
}
