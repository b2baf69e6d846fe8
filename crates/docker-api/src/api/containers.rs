//! `/api/containers`, `/api/containers/{id}/stats` and `/api/containers/{id}/history`.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};

use super::errors::{error, invalid_id, json, no_such_node, JsonError};
use super::query::{container_id, param, query, reach, window};
use super::{live, local_body, local_only, now_u32, system::not_found, Api};
use crate::cluster;
use crate::inventory;
use crate::merge;
use crate::model::{self, ErrorBody};
use crate::sampler::{json_bytes, Snapshot};
use crate::validate;

/// The containers: running ones, or every one with `all=true`; in cluster mode every node's.
#[utoipa::path(get, path = "/api/containers", tag = "containers",
    params(
        ("all" = Option<bool>, Query, description = "Include stopped containers"),
        ("scope" = Option<String>, Query, description = "`local`: this node only (what peers ask each other for); `cluster` (default): every node in cluster mode", pattern = r"^(local|cluster)$"),
        ("node" = Option<String>, Query, description = "Only this node (its host name)", pattern = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$", max_length = 253),
    ),
    responses(
        (status = 200, description = "The containers, sorted by name (by node and name in cluster mode)", body = model::ContainerList),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No such node", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn list_containers(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let q = tri!(query(&req));
    let all = match param(&q, "all") {
        None => false,
        Some(v) => tri!(validate::parse_bool(v).ok_or_else(|| JsonError::new(
            StatusCode::BAD_REQUEST,
            "all must be true or false".into()
        ))),
    };
    let (scope, node) = tri!(reach(&q));
    let pick = |s: &Snapshot| -> Bytes {
        if all {
            s.all_json.clone()
        } else {
            s.running_json.clone()
        }
    };
    if tri!(local_only(&api, scope, node.as_deref())) {
        let snapshot = tri!(live(&api));
        return json(pick(&snapshot));
    }
    let local = local_body(&api, pick);
    let path = format!("/api/containers?scope=local&all={all}");
    let answers = cluster::gather(
        api.cluster.as_deref(),
        api.node_name(),
        local,
        &path,
        node.as_deref(),
    )
    .await;
    if let (true, Some(n)) = (answers.is_empty(), node.as_deref()) {
        return actix_web::ResponseError::error_response(&no_such_node(n));
    }
    let mut merged = merge::containers(&api.node_name(), answers);
    // A peer may run with a wider allow-list: its labels are held to this node's.
    for container in &mut merged.containers {
        api.inventory.label_policy().strip(&mut container.labels);
    }
    json(json_bytes(&merged))
}

/// One running container's latest figures, as `docker stats` computes them.
#[utoipa::path(get, path = "/api/containers/{id}/stats", tag = "containers",
    params(("id" = String, Path, description = "Container id, unique id prefix or name",
            pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", max_length = 128)),
    responses(
        (status = 200, description = "The latest sample", body = model::ContainerStats),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 404, description = "No such running container", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn container_stats(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let id = tri!(container_id(&req));
    tri!(query(&req));
    let snapshot = tri!(live(&api));
    let Some(entry) = inventory::find(&snapshot.containers, &id) else {
        return error(StatusCode::NOT_FOUND, format!("no such container: {id}"));
    };
    match snapshot.stats.get(&entry.id) {
        Some(stats) => json(json_bytes(stats)),
        None => error(
            StatusCode::NOT_FOUND,
            format!("container {} is not running", entry.name),
        ),
    }
}

/// One container's history: at the sample interval up to the short window, one point a minute
/// beyond it.
#[utoipa::path(get, path = "/api/containers/{id}/history", tag = "history",
    params(("id" = String, Path, description = "Container id, unique id prefix or name",
            pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", max_length = 128),
           ("window" = Option<String>, Query, description = "How far back, e.g. 15m or 24h (10s to the long window; default 15m)",
            pattern = r"^[0-9]{1,7}[smh]$")),
    responses(
        (status = 200, description = "The series", body = model::History),
        (status = 400, description = "Invalid id or window", body = ErrorBody),
        (status = 404, description = "No history for this container", body = ErrorBody),
    ))]
pub(super) async fn container_history(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let id = tri!(container_id(&req));
    let q = tri!(query(&req));
    let window = tri!(window(&api, &q));
    let known = api
        .published
        .snapshot()
        .and_then(|s| inventory::find(&s.containers, &id).map(|e| e.id.clone()));
    let history = api
        .published
        .history
        .read()
        .unwrap_or_else(|p| p.into_inner());
    // A removed container keeps its history for a while: find it by id there too.
    let full_id = known.filter(|k| history.has(k)).or_else(|| {
        let mut matches = history.ids().filter(|h| h.starts_with(id.as_str()));
        match (matches.next(), matches.next()) {
            (Some(h), None) => Some(h.to_string()),
            _ => None,
        }
    });
    let now = now_u32();
    match full_id.and_then(|fid| history.container(&fid, now, window).map(|w| (fid, w))) {
        Some((fid, w)) => json(json_bytes(&model::History { id: fid, window: w })),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no history for container {id}"),
        ),
    }
}

pub(super) async fn bad_container_path(req: HttpRequest) -> HttpResponse {
    let tail = req.match_info().get("tail").unwrap_or_default();
    // `/api/containers/a/b/stats`: an id with a slash in it. Anything else is no endpoint.
    match tail
        .strip_suffix("/stats")
        .or_else(|| tail.strip_suffix("/history"))
    {
        Some(id) if !validate::is_valid_id(id) => {
            actix_web::ResponseError::error_response(&invalid_id())
        }
        _ => not_found(req).await,
    }
}
