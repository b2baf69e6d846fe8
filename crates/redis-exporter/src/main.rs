use std::sync::Arc;

use anyhow::Context;
use metrics_core::Server;
use redis_exporter::allowed_targets::AllowedTargets;
use redis_exporter::exporter::{RequestKeyChecks, TlsFiles};
use redis_exporter::snapshot::Naming;
use redis_exporter::target::{self, Credentials, PasswordFile, Target};
use redis_exporter::{keys, Config, RedisExporter, Settings, SCRAPE_PATH, SERVICE};

// One thread is plenty for accepting and signals: scrapes run on the HTTP workers.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let argv = redis_exporter::config::upstream_style_args(std::env::args_os());
    let invocation = match metrics_core::cli::try_parse_from::<Config, _, _>(
        &SERVICE,
        redis_exporter::config::args(),
        argv,
    ) {
        Ok(invocation) => invocation,
        Err(metrics_core::cli::CliError::Usage(e)) => e.exit(),
        Err(metrics_core::cli::CliError::Config(e)) => {
            eprintln!("{}: error: {e}", SERVICE.name);
            std::process::exit(2);
        }
    };
    metrics_core::exit_if_healthcheck(&invocation);
    let config = invocation.config;
    metrics_core::logging::init(&config.log);

    let credentials = credentials(&config)?;
    let default_target = target::parse(&config.redis.addr, &credentials, true)
        .context("--redis.addr / REDIS_ADDR")?;
    let settings = settings(&config, &default_target, credentials)?;
    tracing::info!(
        redis = %default_target.name,
        namespace = %settings.naming.namespace,
        scrape_allowed_targets = settings.allowed_targets.len(),
        "scraping"
    );
    let exporter = Arc::new(RedisExporter::new(default_target, settings));
    Server::new(SERVICE, config.web.clone(), exporter)
        .metrics_path(SCRAPE_PATH)
        .start()?
        .run_until_signal()
        .await?;
    Ok(())
}

fn credentials(config: &Config) -> anyhow::Result<Credentials> {
    let mut credentials = Credentials {
        user: Some(config.redis.user.clone()).filter(|u| !u.is_empty()),
        password: Some(config.redis.password.clone()).filter(|p| !p.is_empty()),
        skip_tls_verification: config.skip_tls_verification,
        ..Credentials::default()
    };
    if let Some(path) = &config.redis.password_file {
        match target::read_password_file(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?
        {
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
) -> anyhow::Result<Settings> {
    let allowed_targets =
        AllowedTargets::new(default_target, &credentials, &config.scrape.allowed_targets)?;
    Ok(Settings {
        naming: Naming {
            namespace: config.namespace.clone(),
            include_system_metrics: config.include_system_metrics,
        },
        credentials,
        check_keys: keys::parse_key_list(&config.check_keys)
            .map_err(anyhow::Error::msg)
            .context("--check-keys")?,
        check_single_keys: keys::parse_key_list(&config.check_single_keys)
            .map_err(anyhow::Error::msg)
            .context("--check-single-keys")?,
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

fn tls_files(config: &Config) -> anyhow::Result<Option<TlsFiles>> {
    let read = |path: &Option<std::path::PathBuf>, what: &str| -> anyhow::Result<Option<Vec<u8>>> {
        path.as_ref()
            .map(|p| {
                std::fs::read(p).with_context(|| format!("cannot read the {what} {}", p.display()))
            })
            .transpose()
    };
    let ca_cert = read(&config.tls_ca_cert_file, "CA certificate")?;
    let client = match (
        read(&config.tls_client_cert_file, "client certificate")?,
        read(&config.tls_client_key_file, "client key")?,
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => anyhow::bail!("--tls-client-cert-file and --tls-client-key-file go together"),
    };
    Ok((ca_cert.is_some() || client.is_some()).then_some(TlsFiles { ca_cert, client }))
}
