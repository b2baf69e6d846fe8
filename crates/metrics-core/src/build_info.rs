//! What a binary was built from, and the one gauge every service exports it with:
//! `<svc>_build_info` (or the upstream name it replaces, e.g. `node_exporter_build_info`),
//! value 1, labelled the way the Go client labels it (`version`, `revision`, `branch`,
//! `goversion`, `goos`, `goarch`, `tags`), filled honestly with Rust's toolchain. The revision
//! and branch come from `build.rs`, rerun whenever git's HEAD moves.

use crate::MetricSet;

/// The build of this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The workspace's version (every clustermon crate shares it).
    pub version: &'static str,
    /// The git revision (12 hex digits) of the checkout built, or `unknown`.
    pub revision: &'static str,
    pub branch: &'static str,
    /// `rustc1.xx.y`: the toolchain, in `goversion`'s place.
    pub rustc: &'static str,
    /// `CLUSTERMON_BUILD_DATE` at build time, or `unknown` (a date would make builds differ).
    pub date: &'static str,
}

/// This build.
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("CLUSTERMON_GIT_REVISION"),
    branch: env!("CLUSTERMON_GIT_BRANCH"),
    rustc: env!("CLUSTERMON_RUSTC_VERSION"),
    date: match option_env!("CLUSTERMON_BUILD_DATE") {
        Some(date) => date,
        None => "unknown",
    },
};

/// Go's name for this machine's architecture (`amd64`, `arm64`, ...), as upstream's `goarch`.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

impl BuildInfo {
    /// The Go client's build-info labels. `tags` stands for Go build tags; our builds have no
    /// cargo features, so it says `unknown`, as upstream's builds without tags do.
    pub fn labels(&self) -> [(&'static str, &'static str); 7] {
        [
            ("version", self.version),
            ("revision", self.revision),
            ("branch", self.branch),
            ("goversion", self.rustc),
            ("goos", std::env::consts::OS),
            ("goarch", go_arch()),
            ("tags", "unknown"),
        ]
    }

    /// Adds the gauge `name` (value 1) with [`Self::labels`] and `extra` labels; `what` names the
    /// program in its help text.
    pub fn export(&self, set: &mut MetricSet, name: &str, what: &str, extra: &[(&str, &str)]) {
        let mut labels: Vec<(&str, &str)> = self.labels().to_vec();
        labels.extend_from_slice(extra);
        set.gauge(
            name,
            &format!(
                "A metric with a constant '1' value labeled by version, revision, branch, \
                 goversion from which {what} was built, and the goos and goarch for the build."
            ),
            &labels,
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_is_the_checkouts_head() {
        // The test runs from the crate's directory, inside the checkout that was built.
        let head = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        match head {
            Some(head) => assert_eq!(BUILD.revision, head, "build.rs did not rerun on HEAD"),
            None => assert_eq!(BUILD.revision, "unknown"),
        }
        assert!(BUILD.rustc.starts_with("rustc1."), "{}", BUILD.rustc);
    }

    #[test]
    fn export_writes_the_go_labels_and_the_extra_ones() {
        let mut set = MetricSet::new();
        BUILD.export(&mut set, "x_build_info", "x", &[("cgroup", "v1")]);
        let mut text = Vec::new();
        set.encode_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("x_build_info{"))
            .unwrap_or_else(|| panic!("no x_build_info in {text}"));
        for (k, v) in BUILD.labels() {
            assert!(line.contains(&format!("{k}=\"{v}\"")), "{k} in {line}");
        }
        assert!(line.contains("cgroup=\"v1\""), "{line}");
        assert!(line.ends_with(" 1"), "{line}");
    }
}
