//! Records the toolchain, git revision and cargo features for `node_exporter_build_info`, whose
//! labels name Go's toolchain (`goversion`, `goarch`, `goos`, `tags` for Go build tags); we fill
//! them honestly with Rust's.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = run(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(|n| format!("rustc{n}")))
        .unwrap_or_else(|| "rustc-unknown".into());
    let revision =
        run("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let branch =
        run("git", &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HOST_EXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=HOST_EXPORTER_FEATURES={}", features());
    println!("cargo:rustc-env=HOST_EXPORTER_GIT_REVISION={revision}");
    println!("cargo:rustc-env=HOST_EXPORTER_GIT_BRANCH={branch}");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The enabled cargo features, Rust's counterpart of Go build tags (`netgo,osusergo`), or
/// `none`: an empty label value would drop the label.
fn features() -> String {
    let mut names: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_string))
        .map(|f| f.to_lowercase().replace('_', "-"))
        .collect();
    names.sort();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}
