//! `/api/nodes` and `/api/services`: the swarm as a manager sees it.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::errors::{json, JsonError};
use super::{local_body, Api};
use crate::cluster;
use crate::model::{self, ErrorBody};
use crate::sampler::json_bytes;
use crate::swarm::{self, SwarmError};

/// The swarm's nodes, from a manager's view; with this node's docker-api peers' container
/// counts in cluster mode.
#[utoipa::path(get, path = "/api/nodes", tag = "swarm",
    responses(
        (status = 200, description = "The swarm's nodes, sorted by host name", body = model::SwarmNodeList),
        (status = 409, description = "This engine is not a swarm manager (a worker, or outside any swarm)", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn swarm_nodes(api: web::Data<Api>) -> HttpResponse {
    let state = tri!(swarm_state(&api).await);
    let counts = running_per_node(&api).await;
    let nodes = swarm::nodes(&state, &counts);
    json(json_bytes(&model::SwarmNodeList {
        count: nodes.len(),
        nodes,
    }))
}

/// The swarm's services with their desired and running tasks, as `docker service ls`.
#[utoipa::path(get, path = "/api/services", tag = "swarm",
    responses(
        (status = 200, description = "The swarm's services, sorted by name", body = model::SwarmServiceList),
        (status = 409, description = "This engine is not a swarm manager (a worker, or outside any swarm)", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn swarm_services(api: web::Data<Api>) -> HttpResponse {
    let state = tri!(swarm_state(&api).await);
    let services = swarm::services(&state);
    json(json_bytes(&model::SwarmServiceList {
        count: services.len(),
        services,
    }))
}

async fn swarm_state(api: &Api) -> Result<Arc<swarm::SwarmState>, JsonError> {
    api.swarm.read(&api.engine).await.map_err(|e| {
        let status = match e {
            // Not transient and not the service's fault: the engine's role forbids the call.
            SwarmError::NotManager => StatusCode::CONFLICT,
            SwarmError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        JsonError::new(status, e.to_string())
    })
}

/// Running containers per node name, from every reachable node's docker-api (cluster mode) or
/// this node's alone.
async fn running_per_node(api: &Api) -> HashMap<String, u64> {
    let local = local_body::<model::Aggregate>(api, |s| s.aggregate_json.clone());
    let answers = cluster::gather(
        api.cluster.as_deref(),
        api.node_name(),
        local,
        "/api/stats/aggregate?scope=local",
        None,
    )
    .await;
    answers
        .into_iter()
        .filter_map(|a| a.body.ok().map(|b| (a.node, b.running as u64)))
        .collect()
}
