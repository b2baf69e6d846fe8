//! Parity with cAdvisor 0.47.2 and 0.60.5, both ways, against the real Docker engine: every
//! default family of either release that this machine can feed is produced with cAdvisor's type
//! and label names, the rest are on a short list each covered by a fixture test, and every family
//! we have that cAdvisor lacks is listed and justified in README.md. Needs Docker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cadvisor;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cadvisor::{Since, Upstream, CONTAINER, GLOBAL, MACHINE, NOT_ON_THIS_MACHINE};
use common::{exporter, scrape_until, value, Container};
use testkit::Family;

const WAIT: Duration = Duration::from_secs(30);

/// Label names cAdvisor puts on every series of a container, and on every machine family.
fn is_container_base(label: &str) -> bool {
    matches!(label, "id" | "name" | "image") || label.starts_with("container_label_")
}

fn is_machine_base(label: &str) -> bool {
    matches!(label, "boot_id" | "machine_id" | "system_uuid")
}

/// Which labels are a container's or the machine's own rather than the family's.
type BaseLabels = fn(&str) -> bool;

/// A family's own label names on every sample: each sample must carry exactly `extra` beyond
/// its base labels.
fn check_labels(f: &Family, extra: &[&str], base: BaseLabels) -> Result<(), String> {
    let want: BTreeSet<&str> = extra.iter().copied().collect();
    for s in &f.samples {
        let got: BTreeSet<&str> = s
            .labels
            .keys()
            .map(String::as_str)
            .filter(|l| !base(l))
            .collect();
        if got != want {
            return Err(format!("{}: labels {got:?}, cAdvisor has {want:?}", f.name));
        }
    }
    Ok(())
}

fn check_release(families: &BTreeMap<String, Family>, release: Since) -> Vec<String> {
    let mut problems = Vec::new();
    let lists: [(&[Upstream], BaseLabels); 3] = [
        (CONTAINER, is_container_base),
        (MACHINE, is_machine_base),
        (GLOBAL, |_| false),
    ];
    for (list, base) in lists {
        for (name, kind, extra, since) in list {
            if release == Since::V0_47 && *since == Since::V0_60 {
                continue;
            }
            if NOT_ON_THIS_MACHINE.iter().any(|n| n.family == *name) {
                continue;
            }
            let Some(f) = families.get(*name) else {
                problems.push(format!("{release:?}: {name} missing"));
                continue;
            };
            if f.kind != *kind {
                problems.push(format!(
                    "{release:?}: {name} is {}, cAdvisor's is {kind}",
                    f.kind
                ));
            }
            if let Err(e) = check_labels(f, extra, base) {
                problems.push(format!("{release:?}: {e}"));
            }
        }
    }
    problems
}

/// The lines of README.md's section that lists our families cAdvisor lacks.
fn readme_extras() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## Families cAdvisor does not have")
        .expect("README.md has a section '## Families cAdvisor does not have'");
    let rest = &readme[start + 3..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_string()
}

#[test]
fn docker_default_families_match_cadvisor_0_47_and_0_60_both_ways() {
    common::require_docker();
    let io_dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let (disk, _) = common::disk_of(io_dir.path());
    // A quota (CFS and burst counters), a memory limit, a compose label and a busy thread.
    let busy = Container::run(
        &[
            "--cpus",
            "0.5",
            "-m",
            "64m",
            "--label",
            "com.docker.compose.service=web",
        ],
        "while :; do :; done",
    );
    // Direct I/O to a bind mount on a real disk, with a throttle rule high enough never to slow
    // it: this kernel's blkio counts only on queues with a rule.
    let mount = format!("{}:/data", io_dir.path().display());
    let writer = Container::run(
        &["--device-write-bps", &format!("{disk}:1gb"), "-v", &mount],
        "while :; do dd if=/dev/zero of=/data/f bs=64k count=16 oflag=direct 2>/dev/null; sleep 1; done",
    );
    let exp = exporter(&["--housekeeping_interval=1s"]);
    let (busy_name, writer_name) = (busy.name.as_str(), writer.name.as_str());
    let families = scrape_until(&exp, WAIT, "I/O, load and layer figures", |f| {
        f.get("container_fs_writes_bytes_total").is_some_and(|fam| {
            fam.samples.iter().any(|s| {
                s.labels.get("name").map(String::as_str) == Some(writer_name) && s.value > 0.0
            })
        }) && value(f, "container_cpu_load_average_10s", busy_name, &[]).is_some()
            && value(f, "container_fs_usage_bytes", busy_name, &[]).is_some()
            && f.get("cadvisor_version_info").is_some_and(|v| {
                v.samples
                    .iter()
                    .any(|s| s.labels.get("dockerVersion").is_some_and(|d| !d.is_empty()))
            })
    });

    let mut problems = check_release(&families, Since::V0_47);
    problems.extend(check_release(&families, Since::V0_60));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every family left out above has a fixture test that exists.
    let sources = [
        include_str!("v2_fixture.rs"),
        include_str!("../src/families.rs"),
        include_str!("../../container-stats/src/cgroup/v2.rs"),
        include_str!("../../container-stats/src/host.rs"),
    ]
    .concat();
    for n in NOT_ON_THIS_MACHINE {
        if let Some(test) = n.covered_by.rsplit("::").next().filter(|t| !t.is_empty()) {
            assert!(
                sources.contains(&format!("fn {test}(")),
                "{}: covering test {test} not found",
                n.family
            );
        }
    }

    // The other way: ours that neither release has must be listed in README.md.
    let upstream: BTreeSet<&str> = CONTAINER
        .iter()
        .chain(MACHINE)
        .chain(GLOBAL)
        .map(|(n, ..)| *n)
        .collect();
    let listed = readme_extras();
    let unlisted: Vec<&String> = families
        .keys()
        .filter(|n| !upstream.contains(n.as_str()))
        .filter(|n| !listed.contains(&format!("`{n}`")))
        .collect();
    assert!(
        unlisted.is_empty(),
        "families cAdvisor lacks, not justified in README.md: {unlisted:?}"
    );
}
