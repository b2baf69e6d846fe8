//! Checks of clustermon watching a fleet of plain Docker hosts (no Swarm), run by
//! `scripts/fleet-test` against the lab it builds: the host's engine and two dockerds in network
//! namespaces, each running `compose/agent.yml`. The central side runs here: Prometheus on the
//! fleet jobs of `prometheus/prometheus.yml` (their `file_sd` of `targets/fleet.yml`, relabelling,
//! TLS and basic auth as shipped) and a docker-api with every agent as a static peer.

pub mod central;
pub mod checks;
pub mod lab;
