//! `/metrics`: whether the daemon answers, the per-container state the alert rules need and
//! cAdvisor lacks, and this service's own HTTP request metrics. Built fresh from the inventory
//! on every scrape, so a removed container's series disappear with it.

use actix_web::web;
use metrics_core::secret::redact_url;
use metrics_core::{BackendHealth, Exporter, MetricSet, Scrape, ScrapeError};
use serde_json::{json, Map, Value};

use crate::api::Api;
use crate::inventory::Entry;
use crate::sampler::NOT_READY;

/// Every state Docker reports; each container has one series per state, 1 for its own.
const STATES: [&str; 7] = [
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
];
const HEALTH: [&str; 4] = ["healthy", "unhealthy", "starting", "none"];

pub struct DockerApiExporter {
    pub api: web::Data<Api>,
}

impl Exporter for DockerApiExporter {
    async fn collect(&self, _scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let mut set = MetricSet::new();
        let up = self.api.inventory.reachable();
        set.gauge(
            "docker_up",
            "Whether the Docker daemon answered the last request (1) or not (0).",
            &[],
            if up { 1.0 } else { 0.0 },
        );
        container_families(&mut set, &self.api.inventory.containers());
        set.gauge(
            "docker_api_stream_clients",
            "Clients connected to the event stream.",
            &[],
            self.api.stream_clients() as f64,
        );
        let history = self
            .api
            .published
            .history
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .bytes_used();
        set.gauge(
            "docker_api_history_bytes",
            "Memory held by the history series.",
            &[],
            history as f64,
        );
        set.extend_families(self.api.http.registry.gather());
        metrics_core::build_info::BUILD.export(
            &mut set,
            "docker_api_build_info",
            "docker-api",
            &[],
        );
        Ok(set)
    }

    async fn health(&self) -> BackendHealth {
        let engine = self.api.inventory.engine();
        let mut fields = Map::new();
        fields.insert(
            "docker".into(),
            json!({"reachable": engine.reachable, "api_version": engine.api_version}),
        );
        fields.insert(
            "stats_source".into(),
            Value::from(self.api.published.source),
        );
        let ready = self.api.published.ready();
        fields.insert("ready".into(), Value::from(ready));
        if let (false, Some(e)) = (engine.reachable, engine.error) {
            // The error may quote the daemon's URL, userinfo and all.
            fields.insert("error".into(), Value::from(redact_url(&e)));
        } else if !ready {
            fields.insert("error".into(), Value::from(NOT_READY));
        }
        // Readiness: 200 only once the list is complete, so a health-gated start (compose's
        // `service_healthy`) never shows a page an empty table.
        BackendHealth {
            reachable: engine.reachable && ready,
            fields,
        }
    }
}

/// `docker_container_state`, `_health_status`, `_restarts_total` and `_started_at_seconds`.
pub fn container_families(set: &mut MetricSet, containers: &[Entry]) {
    for c in containers {
        for state in STATES {
            set.gauge(
                "docker_container_state",
                "Container state: 1 for the state it is in, 0 for the others.",
                &[("name", &c.name), ("state", state)],
                if c.state == state { 1.0 } else { 0.0 },
            );
        }
    }
    for c in containers {
        let health = c.health_label();
        for h in HEALTH {
            set.gauge(
                "docker_container_health_status",
                "Container health check status: 1 for the current one, 0 for the others (none: no health check).",
                &[("name", &c.name), ("health", h)],
                if health == h { 1.0 } else { 0.0 },
            );
        }
    }
    for c in containers {
        set.counter(
            "docker_container_restarts_total",
            "Times Docker restarted the container under its restart policy (its RestartCount; starts again at 0 for a new container of the same name).",
            &[("name", &c.name)],
            c.restart_count as f64,
        );
    }
    for c in containers {
        if let Some(t) = c.started_at {
            set.gauge(
                "docker_container_started_at_seconds",
                "When the container last started, seconds since the epoch.",
                &[("name", &c.name)],
                t,
            );
        }
    }
}
