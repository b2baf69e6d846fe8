//! dashboard: clustermon's web page on port 3000, replacing the seed's React dashboard.
//!
//! It serves the page (HTML, CSS, JavaScript and Chart.js, all compiled in), forwards `GET /api/*`
//! to docker-api so the browser needs no CORS, and reads the firing alerts from Alertmanager.

pub mod alerts;
pub mod assets;
pub mod config;
pub mod forward;
pub mod metrics;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::Context;
use metrics_core::secret::redact_url;
use metrics_core::server::{get_or_head, read_only};
use metrics_core::{Server, Service};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::alerts::Alertmanager;
use crate::config::Config;
use crate::forward::{AddressSlots, DockerApi, Outcomes, RelayLimits};

pub const SERVICE: Service = Service {
    name: "dashboard",
    about: "clustermon's dashboard: containers, live graphs and firing alerts, with docker-api behind /api",
    version: env!("CARGO_PKG_VERSION"),
    env_prefix: "DASHBOARD",
};

fn client(config: &Config) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        // Upstreams are on the stack's network: a proxy from the environment would be wrong.
        .no_proxy()
        .connect_timeout(config.docker_api.timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("clustermon-dashboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// Any path that is neither the page, an asset, `/api/*` nor a service endpoint.
async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": format!("no such path: {}", req.path()), "status": 404}))
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let client = client(&config)?;
    let docker_api_base = config.docker_api.url.trim_end_matches('/').to_string();
    let max_body_bytes = usize::try_from(config.docker_api.max_body_bytes).unwrap_or(usize::MAX);
    let docker_api = web::Data::new(DockerApi {
        shown: redact_url(&docker_api_base),
        base: docker_api_base,
        client: client.clone(),
        timeout: config.docker_api.timeout,
        stream_idle_timeout: config.docker_api.stream_idle_timeout,
        outcomes: Outcomes::default(),
        streams: Arc::new(AtomicI64::new(0)),
        limits: RelayLimits {
            streams: Arc::new(Semaphore::new(config.docker_api.max_streams)),
            per_address: AddressSlots::new(config.docker_api.max_streams_per_address),
            write_deadline: config.docker_api.stream_write_deadline,
            max_body_bytes,
        },
    });
    let alertmanager_base = config.alertmanager.url.trim_end_matches('/').to_string();
    let alertmanager = web::Data::new(Alertmanager {
        shown: redact_url(&alertmanager_base),
        base: alertmanager_base,
        client,
        timeout: config.alertmanager.timeout,
        outcomes: Outcomes::default(),
        max_body_bytes,
    });
    tracing::info!(
        docker_api = %docker_api.shown,
        alertmanager = %alertmanager.shown,
        "starting"
    );
    let exporter = Arc::new(metrics::DashboardExporter {
        docker_api: docker_api.clone(),
        alertmanager: alertmanager.clone(),
    });
    Server::new(SERVICE, config.web.clone(), exporter)
        .without_landing()
        .routes(move |cfg| {
            cfg.app_data(docker_api.clone())
                .app_data(alertmanager.clone())
                .configure(assets::configure)
                .service(read_only("/alerts", get_or_head().to(alerts::alerts)))
                .service(read_only(
                    "/api/{tail:.*}",
                    get_or_head().to(forward::forward),
                ))
                .default_service(web::to(not_found));
        })
        .start()?
        .run_until_signal()
        .await?;
    Ok(())
}
