//! The HTTP API: read-only routes over what the sampler published. The request guard (methods,
//! bodies, CORS, concurrency, timeout, request metrics) is in `guard`, the handlers by topic in
//! `containers`, `stats`, `stream`, `swarm` and `system`, the OpenAPI document in `openapi`.
//! Nothing here talks to the daemon but the swarm listings (through `crate::swarm`); in cluster
//! mode the container list and the aggregate also ask the peers (through `crate::cluster`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Bytes};
use tokio::sync::Semaphore;

use crate::cluster::Cluster;
use crate::history::Limits;
use crate::inventory::Inventory;
use crate::sampler::{Published, Snapshot};
use crate::swarm::SwarmReader;
use crate::validate::Scope;

/// Returns the error's response from a handler.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return actix_web::ResponseError::error_response(&e),
        }
    };
}

mod containers;
mod errors;
mod guard;
mod openapi;
pub mod query;
mod stats;
pub mod stream;
mod swarm;
mod system;

pub use errors::error;
use errors::{no_such_node, JsonError};
pub use guard::{allow_origin, HttpMetrics};
pub use openapi::{openapi_json, ApiDoc};

/// Everything the handlers share.
pub struct Api {
    pub inventory: Arc<Inventory>,
    pub published: Arc<Published>,
    pub limits: Limits,
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub requests: Arc<Semaphore>,
    pub stream_clients: Arc<Semaphore>,
    pub max_stream_clients: usize,
    /// Stream clients per remote address.
    pub stream_addresses: stream::AddressSlots,
    pub stream_write_deadline: Duration,
    pub heartbeat: Duration,
    pub http: HttpMetrics,
    pub openapi: Bytes,
    /// `node.name`; empty means the engine's name.
    pub configured_node: String,
    /// Cluster mode: the other nodes' docker-api.
    pub cluster: Option<Arc<Cluster>>,
    /// The engine's API (for the swarm endpoints).
    pub engine: crate::engine::EngineApi,
    pub swarm: SwarmReader,
}

impl Api {
    /// This node's name.
    pub fn node_name(&self) -> String {
        self.inventory.node_name(&self.configured_node)
    }

    pub fn stream_clients(&self) -> usize {
        self.max_stream_clients
            .saturating_sub(self.stream_clients.available_permits())
    }
}

/// Registers the API on the shared server.
pub fn configure(cfg: &mut web::ServiceConfig, api: web::Data<Api>) {
    let guard_state = api.clone();
    let get = || {
        web::route()
            .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
    };
    cfg.service(
        web::scope("")
            .app_data(api)
            .wrap(from_fn(move |req, next| {
                guard::request_guard(guard_state.clone(), req, next)
            }))
            .service(web::resource("/openapi.json").route(get().to(openapi::openapi)))
            .service(web::resource("/api/containers").route(get().to(containers::list_containers)))
            .service(
                web::resource("/api/containers/{id}/stats")
                    .route(get().to(containers::container_stats)),
            )
            .service(
                web::resource("/api/containers/{id}/history")
                    .route(get().to(containers::container_history)),
            )
            .service(
                web::resource("/api/containers/{tail:.*}")
                    .route(get().to(containers::bad_container_path)),
            )
            .service(web::resource("/api/stats/aggregate").route(get().to(stats::aggregate)))
            .service(web::resource("/api/stats/history").route(get().to(stats::stats_history)))
            .service(web::resource("/api/stats/stream").route(get().to(stream::stats_stream)))
            .service(web::resource("/api/system/info").route(get().to(system::system_info)))
            .service(web::resource("/api/system/version").route(get().to(system::system_version)))
            .service(web::resource("/api/nodes").route(get().to(swarm::swarm_nodes)))
            .service(web::resource("/api/services").route(get().to(swarm::swarm_services)))
            .default_service(web::to(system::not_found)),
    );
}

/// The latest round, or the 503 to answer when the daemon is away or nothing was sampled yet.
fn live(api: &Api) -> Result<Arc<Snapshot>, JsonError> {
    if !api.inventory.reachable() {
        let why = api
            .inventory
            .engine()
            .error
            .unwrap_or_else(|| "not connected yet".into());
        return Err(JsonError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("docker daemon unreachable: {why}"),
        ));
    }
    // Before the first complete round the list may lack containers that run: say "not yet"
    // rather than "none".
    api.published
        .snapshot()
        .filter(|_| api.published.ready())
        .ok_or_else(|| {
            JsonError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{}; try again in a moment", crate::sampler::NOT_READY),
            )
        })
}

/// Whether this request is answered with this node's view alone (no cluster mode, or
/// `scope=local`), after checking that a `node=` then names this node.
fn local_only(api: &Api, scope: Scope, node: Option<&str>) -> Result<bool, JsonError> {
    if api.cluster.is_some() && scope == Scope::Cluster {
        return Ok(false);
    }
    match node {
        Some(n) if n != api.node_name() => Err(no_such_node(n)),
        _ => Ok(true),
    }
}

/// The latest round's body as a typed value, or why there is none.
fn local_body<T: serde::de::DeserializeOwned>(
    api: &Api,
    pick: impl Fn(&Snapshot) -> Bytes,
) -> Result<T, String> {
    let snapshot = live(api).map_err(|e| e.message)?;
    serde_json::from_slice(&pick(&snapshot)).map_err(|e| format!("cannot read own answer: {e}"))
}

fn now_u32() -> u32 {
    crate::sampler::now_seconds() as u32
}
