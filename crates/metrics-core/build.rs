//! Records what every service's build-info gauge reports: the git revision and branch of the
//! checkout and the rustc version. Cargo reruns this when HEAD moves (a commit, a checkout), so
//! the revision does not go stale; outside a git checkout both say `unknown`.

use std::path::Path;
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
    println!("cargo:rustc-env=CLUSTERMON_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=CLUSTERMON_GIT_REVISION={revision}");
    println!("cargo:rustc-env=CLUSTERMON_GIT_BRANCH={branch}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CLUSTERMON_BUILD_DATE");
    watch_git_head();
}

/// Reruns when HEAD or the branch it names moves: `.git/HEAD` changes on a checkout, the
/// branch's ref file on a commit, `packed-refs` when refs are packed.
fn watch_git_head() {
    let Some(git_dir) = run("git", &["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let git_dir = Path::new(&git_dir);
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    println!(
        "cargo:rerun-if-changed={}",
        git_dir.join("packed-refs").display()
    );
    if let Some(reference) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
        println!(
            "cargo:rerun-if-changed={}",
            git_dir.join(reference).display()
        );
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
