//! `/api/system/info`, `/api/system/version`, and the answer to unknown paths.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::{error, json};
use super::{live, Api};
use crate::model::{self, ErrorBody};
use crate::sampler::json_bytes;

/// The engine, its host and its containers.
#[utoipa::path(get, path = "/api/system/info", tag = "system",
    responses(
        (status = 200, description = "Engine and host", body = model::SystemInfo),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn system_info(api: web::Data<Api>) -> HttpResponse {
    let snapshot = tri!(live(&api));
    let engine = api.inventory.engine();
    let info = engine.info.unwrap_or_default();
    let count = |f: &dyn Fn(&str) -> bool| {
        snapshot.containers.iter().filter(|e| f(&e.state)).count() as u64
    };
    let body = model::SystemInfo {
        name: info.name.unwrap_or_default(),
        engine_version: info.server_version.unwrap_or_default(),
        api_version: engine.api_version.unwrap_or_default(),
        operating_system: info.operating_system.unwrap_or_default(),
        os_type: info.os_type.unwrap_or_default(),
        architecture: info.architecture.unwrap_or_default(),
        kernel_version: info.kernel_version.unwrap_or_default(),
        cpus: info.ncpu.map_or(0, |n| n.max(0) as u64),
        memory_bytes: info.mem_total.map_or(0, |n| n.max(0) as u64),
        storage_driver: info.driver.unwrap_or_default(),
        cgroup_driver: info
            .cgroup_driver
            .map(|d| d.to_string())
            .unwrap_or_default(),
        cgroup_version: info
            .cgroup_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
        containers: model::ContainerCounts {
            total: snapshot.containers.len() as u64,
            running: count(&|s| s == "running"),
            paused: count(&|s| s == "paused"),
            stopped: count(&|s| !matches!(s, "running" | "paused")),
        },
        images: info.images.map_or(0, |n| n.max(0) as u64),
        stats_source: api.published.source.to_string(),
    };
    json(json_bytes(&body))
}

/// The engine's version.
#[utoipa::path(get, path = "/api/system/version", tag = "system",
    responses(
        (status = 200, description = "Engine version", body = model::SystemVersion),
        (status = 503, description = "The daemon is unreachable", body = ErrorBody),
    ))]
pub(super) async fn system_version(api: web::Data<Api>) -> HttpResponse {
    tri!(live(&api));
    let v = api.inventory.engine().version.unwrap_or_default();
    json(json_bytes(&model::SystemVersion {
        version: v.version.unwrap_or_default(),
        api_version: v.api_version.unwrap_or_default(),
        min_api_version: v.min_api_version.unwrap_or_default(),
        git_commit: v.git_commit.unwrap_or_default(),
        go_version: v.go_version.unwrap_or_default(),
        os: v.os.unwrap_or_default(),
        arch: v.arch.unwrap_or_default(),
        kernel_version: v.kernel_version.unwrap_or_default(),
        build_time: v.build_time.unwrap_or_default(),
    }))
}

pub(super) async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", req.path()),
    )
}
