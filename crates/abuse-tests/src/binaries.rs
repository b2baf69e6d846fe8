//! The service binaries as they ship: built once per test run with the `image` profile (the
//! release profile's panic behaviour and optimisation, without the whole-program LTO that makes
//! release builds too slow for a test run on two cores).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The profile the container images are built with (`scripts/build-images`).
pub const SHIPPED_PROFILE: &str = "image";

/// The packages whose binary (of the same name) is a service.
pub const PACKAGES: [&str; 6] = [
    "host-exporter",
    "pg-exporter",
    "redis-exporter",
    "container-exporter",
    "docker-api",
    "dashboard",
];

/// The services under test: all six, or those named in `CLUSTERMON_ABUSE_SERVICES`
/// (comma-separated), to attack one service while working on it.
pub fn services() -> Vec<&'static str> {
    match std::env::var("CLUSTERMON_ABUSE_SERVICES") {
        Ok(list) if !list.trim().is_empty() => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            for name in &wanted {
                assert!(
                    PACKAGES.contains(name),
                    "CLUSTERMON_ABUSE_SERVICES: {name} is not one of {PACKAGES:?}"
                );
            }
            PACKAGES
                .into_iter()
                .filter(|p| wanted.contains(p))
                .collect()
        }
        _ => PACKAGES.to_vec(),
    }
}

/// The shipped binary of `package`; the first call builds those of every service under test
/// (later calls wait for it).
pub fn shipped_binary(package: &str) -> PathBuf {
    static BUILT: OnceLock<Result<BTreeMap<&'static str, PathBuf>, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let mut packages = services();
        // The dashboard is tested in front of a docker-api.
        if packages.contains(&"dashboard") && !packages.contains(&"docker-api") {
            packages.push("docker-api");
        }
        packages
            .iter()
            .map(|p| {
                testkit::workspace::profile_binary(p, p, SHIPPED_PROFILE).map(|path| (*p, path))
            })
            .collect()
    });
    match built {
        Ok(paths) => paths
            .get(package)
            .cloned()
            .unwrap_or_else(|| panic!("{package} is not among the services under test")),
        Err(e) => panic!("cannot build the services with profile {SHIPPED_PROFILE}: {e}"),
    }
}
