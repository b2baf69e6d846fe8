//! dashboard: clustermon's web page on port 3000, replacing the seed's React dashboard.
//!
//! It serves the page (HTML, CSS, JavaScript and Chart.js, all compiled in), forwards `GET /api/*`
//! to docker-api so the browser needs no CORS, and reads the firing alerts from Alertmanager.

pub mod access;
pub mod alerts;
pub mod assets;
pub mod config;
pub mod events;
pub mod forward;
pub mod history;
pub mod login;
pub mod metrics;
pub mod session;
pub mod upstream;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
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

/// Any path that is neither the page, an asset, `/api/*` nor a service endpoint.
async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": format!("no such path: {}", req.path()), "status": 404}))
}

/// The login sessions, the gate metrics-core's guard asks, and the login form's state.
fn access_parts(
    config: &Config,
) -> (
    web::Data<dyn metrics_core::auth::Gate>,
    web::Data<login::Login>,
) {
    let sessions = Arc::new(session::Sessions::new(
        config.access.session_lifetime,
        config.access.max_sessions,
    ));
    let access = access::Access::new(&config.access, &config.web.listen_address, sessions.clone());
    let gate: Arc<dyn metrics_core::auth::Gate> = Arc::new(access);
    let login = login::Login {
        sessions,
        limiter: login::LoginLimiter::new(config.access.login_attempts_per_minute),
    };
    (web::Data::from(gate), web::Data::new(login))
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let docker_api_base = config.docker_api.url.trim_end_matches('/').to_string();
    let max_body_bytes = usize::try_from(config.docker_api.max_body_bytes).unwrap_or(usize::MAX);
    let docker_api = web::Data::new(DockerApi {
        shown: redact_url(&docker_api_base),
        base: docker_api_base,
        client: upstream::client(
            upstream::base_builder(config.docker_api.timeout),
            &upstream::UpstreamAccess {
                section: "docker_api",
                ca_file: config.docker_api.ca_file.as_deref(),
                username: &config.docker_api.username,
                password_file: config.docker_api.password_file.as_deref(),
            },
        )?,
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
        client: upstream::client(
            upstream::base_builder(config.docker_api.timeout),
            &upstream::UpstreamAccess {
                section: "alertmanager",
                ca_file: config.alertmanager.ca_file.as_deref(),
                username: &config.alertmanager.username,
                password_file: config.alertmanager.password_file.as_deref(),
            },
        )?,
        timeout: config.alertmanager.timeout,
        outcomes: Outcomes::default(),
        max_body_bytes,
    });
    tracing::info!(
        docker_api = %docker_api.shown,
        alertmanager = %alertmanager.shown,
        "starting"
    );
    let history = web::Data::new(history::HistorySources {
        prometheus: history::Prometheus::new(
            &config.prometheus,
            upstream::client(
                upstream::base_builder(config.prometheus.timeout),
                &upstream::UpstreamAccess {
                    section: "prometheus",
                    ca_file: config.prometheus.ca_file.as_deref(),
                    username: &config.prometheus.username,
                    password_file: config.prometheus.password_file.as_deref(),
                },
            )?,
            max_body_bytes,
        ),
        grafana_url: config.grafana.url.clone(),
    });
    let event_log = web::Data::new(events::EventLog::default());
    let follower = tokio::spawn(events::follow(docker_api.clone(), event_log.clone()));
    let (gate, login) = access_parts(&config);
    let exporter = Arc::new(metrics::DashboardExporter {
        docker_api: docker_api.clone(),
        alertmanager: alertmanager.clone(),
    });
    Server::new(SERVICE, config.web.clone(), exporter)
        .without_landing()
        .routes(move |cfg| {
            cfg.app_data(docker_api.clone())
                .app_data(alertmanager.clone())
                .app_data(gate.clone())
                .app_data(login.clone())
                .configure(login::configure)
                .app_data(history.clone())
                .app_data(event_log.clone())
                .configure(assets::configure)
                .service(read_only(
                    "/page-config",
                    get_or_head().to(history::page_config),
                ))
                .service(read_only(
                    "/history/cluster",
                    get_or_head().to(history::cluster),
                ))
                .service(read_only(
                    "/history/containers/{name}",
                    get_or_head().to(history::container),
                ))
                .service(read_only(
                    "/events/containers/{name}",
                    get_or_head().to(events::container_events),
                ))
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
    follower.abort();
    Ok(())
}
