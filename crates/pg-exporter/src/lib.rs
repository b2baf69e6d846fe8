//! pg-exporter as a library: the binary (`main.rs`) starts it; fuzzers and tests call its parsers,
//! above all the data source parser in [`dsn`].

pub mod collectors;
pub mod config;
pub mod custom;
pub mod dsn;
pub mod exporter;
pub mod files;
pub mod probe;
pub mod target;
pub mod tls;
pub mod version;
