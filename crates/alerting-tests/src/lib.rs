//! Test support for clustermon's alerting and dashboards: where the rule, Alertmanager and Grafana
//! files live, a fast copy of the Alertmanager configuration, the rules-to-webhook pipeline on
//! real Prometheus and Alertmanager processes (started by `testkit::prometheus`), a webhook
//! receiver that records Alertmanager's notifications, and the PromQL behind every dashboard
//! panel (so the stack's end-to-end test can run the same queries against a live Prometheus).
//!
//! The tests themselves are in `tests/`; nothing here is used outside tests.

pub mod alertmanager_config;
pub mod dashboards;
pub mod paths;
pub mod pipeline;
pub mod rules;
pub mod webhook;
