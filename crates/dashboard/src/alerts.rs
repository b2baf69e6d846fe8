//! `/alerts`: the alerts firing now, from Alertmanager's `GET /api/v2/alerts` (active, neither
//! silenced nor inhibited), or `{"configured": false}` when no Alertmanager is set.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::forward::{count, error_chain, read_capped, ForwardError, Outcomes};

pub struct Alertmanager {
    /// Base URL without a trailing slash; empty when not configured.
    pub base: String,
    /// `base` without any userinfo: what logs, error bodies and `/health` show.
    pub shown: String,
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub outcomes: Outcomes,
    /// The largest answer read.
    pub max_body_bytes: usize,
}

impl Alertmanager {
    pub fn configured(&self) -> bool {
        !self.base.is_empty()
    }

    /// The firing alerts as Alertmanager returns them.
    pub async fn firing(&self) -> Result<Vec<Value>, ForwardError> {
        let url = format!(
            "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
            self.base
        );
        let unreachable = |reason: String| ForwardError::Unreachable {
            upstream: "alertmanager",
            url: self.shown.clone(),
            reason,
        };
        let fetch = async {
            let response = self
                .client
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| unreachable(error_chain(e)))?;
            let body =
                read_capped(response, self.max_body_bytes, "alertmanager", &self.shown).await?;
            serde_json::from_slice::<Vec<Value>>(&body)
                .map_err(|e| unreachable(format!("not a list of alerts: {e}")))
        };
        let outcome = tokio::time::timeout(self.timeout, fetch).await;
        count(&self.outcomes, outcome).map_err(|_| ForwardError::Timeout {
            upstream: "alertmanager",
            url: self.shown.clone(),
            timeout: self.timeout,
        })?
    }
}

/// `GET /alerts`.
pub async fn alerts(alertmanager: web::Data<Alertmanager>) -> HttpResponse {
    if !alertmanager.configured() {
        return HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"configured": false, "alerts": []}));
    }
    match alertmanager.firing().await {
        Ok(alerts) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"configured": true, "alerts": alerts})),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read alerts");
            let mut response = e.response();
            // Lets the page say "Alertmanager unreachable" rather than "not configured".
            response.headers_mut().insert(
                header::HeaderName::from_static("x-alertmanager-configured"),
                header::HeaderValue::from_static("true"),
            );
            response
        }
    }
}
