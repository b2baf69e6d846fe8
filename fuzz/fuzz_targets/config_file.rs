//! metrics-core's config loading (`--config.file`, YAML, TOML or JSON by extension) into a real
//! service's config, host-exporter's, the largest. Each input is written as all three formats
//! and loaded, as `metrics_core::config::load` does at start-up. Properties: nothing panics, and
//! a config that loaded, written back as JSON, loads to the same config.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use host_exporter_src::config::Config;
use libfuzzer_sys::fuzz_target;
use metrics_core::config::load;

/// No variable in the environment has this prefix, so only the file is layered on the defaults.
const ENV_PREFIX: &str = "CLUSTERMON_FUZZ_NO_SUCH_SERVICE";

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("clustermon-fuzz-config")
            .tempdir()
            .expect("a scratch directory");
        dir.keep()
    })
}

fn load_as(name: &str, bytes: &[u8]) -> Option<Config> {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("write the scratch config");
    load::<Config>(ENV_PREFIX, Some(&path), &[]).ok()
}

fuzz_target!(|data: &[u8]| {
    for name in ["config.yaml", "config.toml", "config.json"] {
        let Some(config) = load_as(name, data) else {
            continue;
        };
        let json = serde_json::to_vec(&config).expect("a loaded config serializes");
        let again = load_as("again.json", &json).unwrap_or_else(|| {
            panic!(
                "{name} loaded but its JSON does not: {}",
                String::from_utf8_lossy(&json)
            )
        });
        assert_eq!(format!("{config:?}"), format!("{again:?}"), "{name}");
    }
});
