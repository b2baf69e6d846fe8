//! `/api/stats/aggregate` and `/api/stats/history`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::{json, no_such_node};
use super::query::{query, reach, window};
use super::{live, local_body, local_only, now_u32, Api};
use crate::cluster;
use crate::inventory;
use crate::merge;
use crate::model::{self, ErrorBody};
use crate::sampler::json_bytes;

/// Totals over every running container, and each one's figures; in cluster mode over every
/// reachable node, with each node's totals.
#[utoipa::path(get, path = "/api/stats/aggregate", tag = "stats",
    params(
        ("scope" = Option<String>, Query, description = "`local`: this node only; `cluster` (default): every node in cluster mode", pattern = r"^(local|cluster)$"),
        ("node" = Option<String>, Query, description = "Only this node (its host name)", pattern = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$", max_length = 253),
    ),
    responses(
        (status = 200, description = "The latest round", body = model::Aggregate),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No such node", body = ErrorBody),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn aggregate(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let q = tri!(query(&req));
    let (scope, node) = tri!(reach(&q));
    if tri!(local_only(&api, scope, node.as_deref())) {
        let snapshot = tri!(live(&api));
        return json(snapshot.aggregate_json.clone());
    }
    let local = local_body(&api, |s| s.aggregate_json.clone());
    let answers = cluster::gather(
        api.cluster.as_deref(),
        api.node_name(),
        local,
        "/api/stats/aggregate?scope=local",
        node.as_deref(),
    )
    .await;
    if let (true, Some(n)) = (answers.is_empty(), node.as_deref()) {
        return actix_web::ResponseError::error_response(&no_such_node(n));
    }
    let now = inventory::rfc3339(crate::sampler::now_seconds());
    json(json_bytes(&merge::aggregate(
        &api.node_name(),
        answers,
        now,
    )))
}

/// The aggregate's history.
#[utoipa::path(get, path = "/api/stats/history", tag = "history",
    params(("window" = Option<String>, Query, description = "How far back, e.g. 15m or 24h (10s to the long window; default 15m)",
            pattern = r"^[0-9]{1,7}[smh]$")),
    responses(
        (status = 200, description = "The series", body = model::History),
        (status = 400, description = "Invalid window", body = ErrorBody),
    ))]
pub(super) async fn stats_history(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let q = tri!(query(&req));
    let window = tri!(window(&api, &q));
    let w = api
        .published
        .history
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .aggregate(now_u32(), window);
    json(json_bytes(&model::History {
        id: "aggregate".into(),
        window: w,
    }))
}
