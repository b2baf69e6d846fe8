//! Support for the abuse tests: the six service binaries built with the profile that ships, each
//! started on a free loopback port with what it needs (PostgreSQL, Redis, Docker, a docker-api),
//! raw HTTP requests that no well-behaved client sends, a hostile backend that holds connections,
//! and the check that a service survived an attack (alive, answering `/health`, RSS bounded).
//!
//! The tests themselves are in `tests/`; nothing here is used outside tests, so a failure panics
//! with a message that says what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod backend;
pub mod binaries;
pub mod raw;
pub mod service;
pub mod survival;
