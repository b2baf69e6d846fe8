//! Requests and resources a service refused to serve (over a limit, not allowed), counted by
//! reason so an operator sees them on `/metrics` as `<service>_requests_refused_total{reason}`.
//!
//! Process-wide: any module of a service counts with [`count`] without threading a handle
//! through; the server renders the counts on its telemetry path.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::MetricSet;

static REFUSED: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Counts one refusal for `reason` (a short snake_case word, e.g. `max_requests`).
pub fn count(reason: &'static str) {
    let mut counts = match REFUSED.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    let n = counts.entry(reason).or_insert(0);
    *n = n.saturating_add(1);
}

/// How many refusals of `reason` were counted so far.
pub fn total(reason: &str) -> u64 {
    let counts = match REFUSED.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    counts.get(reason).copied().unwrap_or(0)
}

/// Adds `<prefix>_requests_refused_total{reason}` with every reason counted so far.
pub(crate) fn collect_into(set: &mut MetricSet, prefix: &str) {
    let counts: Vec<(&'static str, u64)> = match REFUSED.lock() {
        Ok(c) => c.iter().map(|(k, v)| (*k, *v)).collect(),
        Err(poisoned) => poisoned
            .into_inner()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect(),
    };
    let name = format!("{prefix}_requests_refused_total");
    for (reason, n) in counts {
        set.counter(
            &name,
            "Requests or resources refused because of a limit or a policy, by reason.",
            &[("reason", reason)],
            n as f64,
        );
    }
}

/// The metric prefix for a service name: `docker-api` -> `docker_api`.
pub fn metric_prefix(service: &str) -> String {
    service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_per_reason_and_render_with_the_service_prefix() {
        count("test_reason_a");
        count("test_reason_a");
        count("test_reason_b");
        assert!(total("test_reason_a") >= 2);
        let mut set = MetricSet::new();
        collect_into(&mut set, &metric_prefix("docker-api"));
        let a = set.value(
            "docker_api_requests_refused_total",
            &[("reason", "test_reason_a")],
        );
        assert_eq!(a, Some(total("test_reason_a") as f64));
        assert!(set
            .value(
                "docker_api_requests_refused_total",
                &[("reason", "test_reason_b")]
            )
            .is_some());
    }
}
