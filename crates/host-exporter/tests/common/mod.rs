//! What the tests that run today's node_exporter share: where `scripts/install-upstream-current`
//! put it and the version they pin (in testkit, which vm-e2e's guest parity test shares too).
#![allow(unused_imports)] // each test binary uses part of it

pub use testkit::node_parity::{current_node_exporter, version_line, PINNED_VERSION};
