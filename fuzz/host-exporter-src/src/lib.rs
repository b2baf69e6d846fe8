//! host-exporter's `collector` and `config` modules, compiled from crates/host-exporter/src as
//! a library so that the fuzz targets reach its parsers: host-exporter is a binary crate, and
//! the modules sit at this crate's root so that their `crate::collector` and `crate::config`
//! paths resolve as they do in the binary. Nothing here is a copy: the files are the binary's.
#![allow(dead_code, unused_imports)]

#[path = "../../../crates/host-exporter/src/collector/mod.rs"]
pub mod collector;
#[path = "../../../crates/host-exporter/src/config.rs"]
pub mod config;
