//! The OpenAPI 3.1 document, generated from the handlers and the body types.

use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::errors::json;
use super::{containers, stats, stream, swarm, system, Api};
use crate::history::Limits;
use crate::model;
use crate::sampler::json_bytes;
use crate::validate;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub(super) async fn openapi(api: web::Data<Api>) -> HttpResponse {
    json(api.openapi.clone())
}

/// The service's health; 503 with the same shape when the daemon does not answer.
#[utoipa::path(get, path = "/health", tag = "service",
    responses(
        (status = 200, description = "Healthy", body = model::Health),
        (status = 503, description = "The daemon does not answer", body = model::Health),
    ))]
#[allow(dead_code)]
pub(super) fn health_doc() {}

/// Prometheus metrics: `docker_up`, per-container state, health, restarts and start time, and
/// this service's HTTP request metrics.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
#[allow(dead_code)]
pub(super) fn metrics_doc() {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clustermon docker-api",
        description = "A read-only view of the Docker engine for the dashboard: containers, live stats computed as `docker stats` does, history and a live event stream. Only GET, HEAD and OPTIONS exist; nothing is passed through to the Docker API."
    ),
    paths(
        containers::list_containers,
        containers::container_stats,
        containers::container_history,
        stats::aggregate,
        stats::stats_history,
        stream::stats_stream,
        system::system_info,
        system::system_version,
        swarm::swarm_nodes,
        swarm::swarm_services,
        openapi,
        health_doc,
        metrics_doc
    ),
    components(schemas(model::ContainerEventBody))
)]
pub struct ApiDoc;

/// The OpenAPI document, serialised once, with the `window` bounds of this configuration.
pub fn openapi_json(limits: &Limits) -> Bytes {
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            return Bytes::from_static(b"{}");
        }
    };
    let pattern = validate::window_pattern(validate::MIN_WINDOW, limits.long_window);
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for op in paths.values_mut().filter_map(|p| p.get_mut("get")) {
            for param in op
                .get_mut("parameters")
                .and_then(|p| p.as_array_mut())
                .into_iter()
                .flatten()
            {
                if param["name"] == "window" {
                    param["schema"]["pattern"] = pattern.clone().into();
                }
            }
        }
    }
    json_bytes(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_document_is_3_1_and_lists_every_route() {
        let doc: serde_json::Value =
            serde_json::from_slice(&openapi_json(&Limits::default())).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/api/containers",
            "/api/containers/{id}/stats",
            "/api/containers/{id}/history",
            "/api/stats/aggregate",
            "/api/stats/history",
            "/api/stats/stream",
            "/api/system/info",
            "/api/system/version",
            "/api/nodes",
            "/api/services",
            "/health",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        assert!(
            doc["components"]["schemas"]["Aggregate"]["properties"]["total_cpu_percent"]
                .is_object()
        );
    }
}
