//! A bound on glibc's malloc arenas, set before a service starts.
//!
//! glibc gives a thread that allocates while the existing arenas are busy an arena of its own,
//! up to 8 per core, and memory freed into one arena is reused only through it: a service with a
//! dozen threads (HTTP workers, the async runtime's, its blocking pool) ends up with a dozen
//! partly used heaps, each keeping the pages its busiest moment touched. In docker-api's soak
//! (bench/RESULTS.md) that made RSS climb for minutes after start as arena after arena warmed
//! up, by an amount that changed from run to run with the machine's load.
//!
//! The bound is glibc's `glibc.malloc.arena_max` tunable. glibc reads tunables once, when the
//! process starts, and `mallopt(M_ARENA_MAX)` would need `unsafe` (which the workspace forbids),
//! so [`bound`] runs the service's own executable again at once (same pid, same arguments) with
//! the tunable added to `GLIBC_TUNABLES`. An operator who set an arena bound already (in
//! `GLIBC_TUNABLES` or glibc's older `MALLOC_ARENA_MAX`) keeps theirs, and a process runs itself
//! again at most once (the re-run is marked in its environment).

use std::ffi::{OsStr, OsString};

/// Arenas a service may have: the main heap and one more, so a thread that allocates while
/// another holds the main arena's lock does not wait.
pub const ARENA_MAX: u32 = 2;

/// Set in the environment of the re-run process, so it never runs itself again.
const RERUN_MARK: &str = "CLUSTERMON_MALLOC_ARENAS_BOUND";

const TUNABLE: &str = "glibc.malloc.arena_max";

/// What `GLIBC_TUNABLES` should be for the bound, given its current value and whether
/// `MALLOC_ARENA_MAX` is set; `None` when an arena bound is set already.
pub fn tunables_with_bound(
    current: Option<&OsStr>,
    malloc_arena_max_set: bool,
) -> Option<OsString> {
    if malloc_arena_max_set {
        return None;
    }
    let ours = format!("{TUNABLE}={ARENA_MAX}");
    let Some(current) = current.filter(|c| !c.is_empty()) else {
        return Some(ours.into());
    };
    // Tunables are `name=value` pairs separated by `:`.
    let already = current
        .to_string_lossy()
        .split(':')
        .any(|pair| pair.split('=').next() == Some(TUNABLE));
    if already {
        return None;
    }
    let mut value = current.to_os_string();
    value.push(":");
    value.push(ours);
    Some(value)
}

/// Why the service runs with glibc's default arenas.
#[derive(Debug, thiserror::Error)]
#[error("could not run {exe} again with {TUNABLE}={ARENA_MAX}: {source}")]
pub struct RerunError {
    exe: String,
    source: std::io::Error,
}

/// Runs this executable again with the arena bound when it is not set (this call then never
/// returns); returns `Ok` when the bound was already there (or this process is the re-run), or
/// the error when running again failed: the service can go on with glibc's defaults.
///
/// `Launch` calls it for every service after the configuration is validated and before the
/// async runtime starts its threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn bound() -> Result<(), RerunError> {
    use std::os::unix::process::CommandExt;

    if std::env::var_os(RERUN_MARK).is_some() {
        return Ok(());
    }
    let Some(tunables) = tunables_with_bound(
        std::env::var_os("GLIBC_TUNABLES").as_deref(),
        std::env::var_os("MALLOC_ARENA_MAX").is_some(),
    ) else {
        return Ok(());
    };
    let exe = std::env::current_exe().map_err(|source| RerunError {
        exe: "the current executable".into(),
        source,
    })?;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let source = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .env(RERUN_MARK, "1")
        .exec();
    Err(RerunError {
        exe: exe.display().to_string(),
        source,
    })
}

/// Not glibc: nothing to bound.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn bound() -> Result<(), RerunError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_bound_when_no_tunables_are_set() {
        assert_eq!(
            tunables_with_bound(None, false),
            Some("glibc.malloc.arena_max=2".into())
        );
        assert_eq!(
            tunables_with_bound(Some(OsStr::new("")), false),
            Some("glibc.malloc.arena_max=2".into())
        );
    }

    #[test]
    fn keeps_the_operators_other_tunables() {
        assert_eq!(
            tunables_with_bound(Some(OsStr::new("glibc.malloc.trim_threshold=65536")), false),
            Some("glibc.malloc.trim_threshold=65536:glibc.malloc.arena_max=2".into())
        );
    }

    #[test]
    fn keeps_an_arena_bound_the_operator_set() {
        assert_eq!(
            tunables_with_bound(Some(OsStr::new("glibc.malloc.arena_max=8")), false),
            None
        );
        assert_eq!(
            tunables_with_bound(
                Some(OsStr::new(
                    "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1"
                )),
                false
            ),
            None
        );
        assert_eq!(tunables_with_bound(None, true), None);
    }

    #[test]
    fn a_similar_name_is_not_the_bound() {
        assert_eq!(
            tunables_with_bound(Some(OsStr::new("glibc.malloc.arena_max_x=1")), false),
            Some("glibc.malloc.arena_max_x=1:glibc.malloc.arena_max=2".into())
        );
    }
}
