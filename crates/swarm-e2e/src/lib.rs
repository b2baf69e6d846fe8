//! Checks of clustermon on a real multi-node Docker Swarm: the lab's description
//! (`scripts/swarm-test` writes it), the checks, and clients for docker-api and each node's
//! engine (Prometheus and Alertmanager through testkit's clients, bounded waits through
//! `testkit::wait`), and the secured stack's checks (TLS, basic auth, secrets, the overlay).

pub mod checks;
pub mod clients;
pub mod lab;
pub mod security;
