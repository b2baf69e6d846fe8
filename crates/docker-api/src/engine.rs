//! The bounded reader of the Docker engine's API lives in container-stats (discovery reads the
//! daemon through it too); docker-api uses it under its old path.

pub use container_stats::engine::{EngineApi, EngineError};
