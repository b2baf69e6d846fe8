//! `/metrics` and `/health`: whether docker-api answers, what the forwarder did, and how many
//! event streams it carries now.

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::web;
use metrics_core::{BackendHealth, Exporter, MetricSet, Scrape, ScrapeError};
use serde_json::{json, Map, Value};

use crate::alerts::Alertmanager;
use crate::forward::{error_chain, read_capped, DockerApi, Outcomes};

/// How long `/health` and a scrape wait for docker-api's `/health`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// docker-api's `/health` is a few hundred bytes; more is not read.
const MAX_HEALTH_BYTES: usize = 64 * 1024;

pub struct DashboardExporter {
    pub docker_api: web::Data<DockerApi>,
    pub alertmanager: web::Data<Alertmanager>,
}

impl DashboardExporter {
    /// docker-api's own `/health` body (200, or 503 when the daemon is down: both mean it
    /// answers), or why it cannot be had.
    pub async fn probe_docker_api(&self) -> Result<Value, String> {
        let url = format!("{}/health", self.docker_api.base);
        let fetch = async {
            let response = self
                .docker_api
                .client
                .get(&url)
                .send()
                .await
                .map_err(error_chain)?;
            let body = read_capped(
                response,
                MAX_HEALTH_BYTES,
                "docker-api",
                &self.docker_api.shown,
            )
            .await
            .map_err(|e| e.to_string())?;
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("/health is not JSON: {e}"))
        };
        match tokio::time::timeout(PROBE_TIMEOUT, fetch).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        }
    }
}

fn outcome_families(set: &mut MetricSet, upstream: &str, outcomes: &Outcomes) {
    for (outcome, counter) in [
        ("answered", &outcomes.answered),
        ("failed", &outcomes.failed),
        ("timeout", &outcomes.timed_out),
    ] {
        set.counter(
            "dashboard_upstream_requests_total",
            "Requests the dashboard made to an upstream, by outcome (answered: any HTTP status).",
            &[("upstream", upstream), ("outcome", outcome)],
            counter.load(Ordering::Relaxed) as f64,
        );
    }
}

impl Exporter for DashboardExporter {
    async fn collect(&self, _scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let mut set = MetricSet::new();
        let up = self.probe_docker_api().await.is_ok();
        set.gauge(
            "dashboard_docker_api_up",
            "Whether docker-api answered its /health just now (1) or not (0).",
            &[],
            if up { 1.0 } else { 0.0 },
        );
        outcome_families(&mut set, "docker-api", &self.docker_api.outcomes);
        if self.alertmanager.configured() {
            outcome_families(&mut set, "alertmanager", &self.alertmanager.outcomes);
        }
        set.gauge(
            "dashboard_event_streams",
            "docker-api event streams being forwarded to browsers now.",
            &[],
            self.docker_api.streams.load(Ordering::Relaxed) as f64,
        );
        metrics_core::build_info::BUILD.export(
            &mut set,
            "dashboard_build_info",
            "the dashboard",
            &[],
        );
        Ok(set)
    }

    /// Always reachable: the dashboard serves its page (with a banner) while docker-api is
    /// down. docker-api's state, and the daemon's through it, are in the body for the page.
    async fn health(&self) -> BackendHealth {
        let mut docker_api = json!({"url": self.docker_api.shown});
        if let Some(map) = docker_api.as_object_mut() {
            match self.probe_docker_api().await {
                Ok(body) => {
                    map.insert("reachable".into(), true.into());
                    map.insert("health".into(), body);
                }
                Err(e) => {
                    map.insert("reachable".into(), false.into());
                    map.insert("error".into(), e.into());
                }
            }
        }
        let mut fields = Map::new();
        fields.insert("docker_api".into(), docker_api);
        fields.insert(
            "alertmanager".into(),
            json!({"configured": self.alertmanager.configured()}),
        );
        BackendHealth {
            reachable: true,
            fields,
        }
    }
}
