//! Test support for clustermon's alerting and dashboards: where the rule, Alertmanager and Grafana
//! files live, how to start real Prometheus and Alertmanager processes on them, a webhook
//! receiver that records Alertmanager's notifications, and the PromQL behind every dashboard
//! panel (so the stack's end-to-end test can run the same queries against a live Prometheus).
//!
//! The tests themselves are in `tests/`; nothing here is used outside tests.

pub mod dashboards;
pub mod http;
pub mod paths;
pub mod pipeline;
pub mod processes;
pub mod rules;
pub mod webhook;
