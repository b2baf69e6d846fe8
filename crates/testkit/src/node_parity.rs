//! host-exporter against today's node_exporter: where `scripts/install-upstream-current` put
//! it, and the both-ways comparison of two scrapes taken on one host at one moment. Used by
//! host-exporter's parity test on this machine and by vm-e2e in the cgroup v2 guest, so both
//! hosts are held to the same rules (host-exporter's README justifies each exception below).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::{Family, Sample};

/// Families by name, as [`crate::parse_exposition`] gives them.
pub type Families = BTreeMap<String, Family>;

/// The node_exporter release the tests compare with: a newer package must not change a result
/// silently (bumping it is an edit here and in the install script).
pub const PINNED_VERSION: &str = "1.9.0";

pub use crate::upstream::version_line;

/// node_exporter 1.9.0 and its `--version` line; panics naming the script when it is missing
/// or another version is there.
pub fn current_node_exporter() -> (PathBuf, String) {
    crate::upstream::pinned_program(
        "prometheus-node-exporter",
        &format!("version {PINNED_VERSION} "),
    )
}

/// The textfile both exporters read (`--collector.textfile.directory`, as `batch.prom`).
pub const TEXTFILE: &str = "# HELP batch_last_success_seconds Last time the batch job succeeded.\n\
     # TYPE batch_last_success_seconds gauge\n\
     batch_last_success_seconds{job=\"backup\"} 1.7e+09\n\
     # TYPE batch_duration_seconds histogram\n\
     batch_duration_seconds_bucket{le=\"1\"} 2\n\
     batch_duration_seconds_bucket{le=\"+Inf\"} 3\n\
     batch_duration_seconds_sum 4.5\n\
     batch_duration_seconds_count 3\n";

/// Whether a scrape of ours carries [`TEXTFILE`]'s families.
pub fn has_textfile_families(ours: &Families) -> bool {
    ours.contains_key("batch_last_success_seconds")
        && ours.contains_key("node_textfile_mtime_seconds")
}

/// node_exporter 1.9's default, given to node_exporter explicitly: Debian's packages patch it
/// (they hide `/run`, `/mnt` and `/media`), ours follows upstream.
pub const UPSTREAM_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// Families of the Go runtime and Go's HTTP handler, which a Rust binary cannot have.
const GO_ONLY_PREFIXES: [&str; 2] = ["go_", "promhttp_"];

/// node_exporter collectors we do not have, for hardware or kernel features the test hosts
/// lack: their families cannot appear, and the comparison still fails on any other family we
/// lack. Each entry is a family-name prefix and why.
const HARDWARE_FAMILIES: &[(&str, &str)] = &[
    // Empty since bcache, infiniband, fibrechannel and tapestats were added: every collector
    // node_exporter 1.9 enables by default on Linux is here. A collector a newer node_exporter
    // adds for hardware the test machine lacks goes here until it is written, with its reason.
];

/// Families whose every series must carry the same value on both sides: they cannot change
/// between two scrapes a moment apart.
const STATIC_FAMILIES: &[&str] = &[
    "node_boot_time_seconds",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_filesystem_mount_info",
    "node_network_info",
    "node_network_mtu_bytes",
    "node_network_iface_id",
    "node_network_address_assign_type",
    "node_network_protocol_type",
    "node_network_up",
    "node_disk_info",
    "node_uname_info",
    "node_os_info",
    "node_os_version",
    "node_dmi_info",
    "node_entropy_pool_size_bits",
    "node_filefd_maximum",
    "node_nf_conntrack_entries_limit",
    "node_cpu_scaling_governor",
    "node_cpu_frequency_max_hertz",
    "node_textfile_mtime_seconds",
    "batch_last_success_seconds",
];

/// Label values we report differently on purpose (host-exporter's README says why).
const DIFFERENT_LABEL_VALUES: &[(&str, &str)] = &[
    // node_exporter 1.9 reads a zeroed queue when procfs cannot parse all of a device's queue
    // attributes (it cannot on a 6.x kernel) and says 0; we read `queue/rotational` itself.
    ("node_disk_info", "rotational"),
];

/// Collectors Debian's node_exporter runs that upstream's does not enable by default.
const DEBIAN_ONLY_COLLECTORS: &[&str] = &[
    // Debian's package turns the systemd collector on; node_exporter leaves it off.
    "systemd",
];

/// What about the compared host changes the rules.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// `/proc/pressure/irq` exists: without it node_exporter 1.9 exports cpu/io/memory
    /// pressure but reports the collector failed; we report what we exported.
    pub irq_pressure: bool,
}

impl Host {
    /// This machine.
    pub fn local() -> Self {
        Self {
            irq_pressure: Path::new("/proc/pressure/irq").exists(),
        }
    }

    fn outcome_may_differ(&self, collector: &str) -> bool {
        collector == "pressure" && !self.irq_pressure
    }
}

/// Families whose series or values describe the exporter process itself (its build, its
/// resources) or the scrape.
pub fn about_the_exporter(name: &str) -> bool {
    name.starts_with("process_")
        || name.starts_with("node_scrape_collector_")
        || name == "node_exporter_build_info"
}

fn is_go_only(name: &str) -> bool {
    GO_ONLY_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn hardware_reason(name: &str) -> Option<&'static str> {
    HARDWARE_FAMILIES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// Type and label-name differences of the families both sides have, and the families only
/// `upstream` has that no hardware entry excuses. With `superset_labels`, extra label names of
/// ours pass (labels newer releases added).
pub fn family_problems(
    upstream: &Families,
    ours: &Families,
    version: &str,
    superset_labels: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, theirs) in upstream {
        if is_go_only(name) || theirs.samples.is_empty() {
            continue;
        }
        let Some(mine) = ours.get(name) else {
            if hardware_reason(name).is_none() {
                problems.push(format!(
                    "missing family {name} ({}, labels {:?}) that node_exporter {version} has",
                    theirs.kind,
                    theirs.label_names()
                ));
            }
            continue;
        };
        if mine.kind != theirs.kind {
            problems.push(format!(
                "{name}: type {} here, {} in node_exporter {version}",
                mine.kind, theirs.kind
            ));
        }
        let (my_labels, their_labels) = (mine.label_names(), theirs.label_names());
        let labels_ok = if superset_labels {
            my_labels.is_superset(&their_labels)
        } else {
            my_labels == their_labels
        };
        if !labels_ok {
            problems.push(format!(
                "{name}: label names {my_labels:?} here, {their_labels:?} in node_exporter {version}"
            ));
        }
    }
    problems
}

/// The README section (`## Families node_exporter 1.9 does not have` of `readme`) that lists
/// and justifies our families node_exporter lacks.
pub fn readme_extras_section(readme: &Path) -> String {
    let text = std::fs::read_to_string(readme)
        .unwrap_or_else(|e| panic!("read {}: {e}", readme.display()));
    let start = text
        .find("## Families node_exporter 1.9 does not have")
        .unwrap_or_else(|| {
            panic!(
                "{} has no '## Families node_exporter 1.9 does not have' section",
                readme.display()
            )
        });
    let rest = &text[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i);
    rest[..end].to_string()
}

/// Our families that node_exporter lacks and the README section `listed` does not name.
pub fn unlisted_extras(upstream: &Families, ours: &Families, listed: &str) -> Vec<String> {
    ours.iter()
        .filter(|(name, family)| !family.samples.is_empty() && !upstream.contains_key(*name))
        .filter(|(name, _)| !listed.contains(&format!("`{name}`")))
        .map(|(name, family)| {
            format!(
                "family {name} ({}) is not in node_exporter {PINNED_VERSION}: list and justify it \
                 in host-exporter's README, 'Families node_exporter 1.9 does not have'",
                family.kind
            )
        })
        .collect()
}

/// A sample's labels as comparable text, less the labels whose values differ on purpose.
fn series_key(family: &str, sample: &Sample) -> String {
    let mut parts: Vec<String> = sample
        .labels
        .iter()
        .filter(|(k, _)| !DIFFERENT_LABEL_VALUES.contains(&(family, k.as_str())))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    parts.sort();
    format!("{}{{{}}}", sample.name, parts.join(","))
}

/// A family's series (labels as text, less those that differ on purpose) and values.
pub fn series(name: &str, family: &Family) -> BTreeMap<String, f64> {
    family
        .samples
        .iter()
        .map(|s| (series_key(name, s), s.value))
        .collect()
}

/// Whether `theirs` lies between our readings before and after it, give or take float
/// rounding: a counter read at one moment by both exporters must fall between two readings
/// taken around that moment, however fast it moves.
fn bracketed(before: Option<f64>, theirs: f64, after: f64) -> bool {
    let slack = |v: f64| v.abs().max(1.0) * 1e-9;
    before.is_none_or(|b| b - slack(b) <= theirs) && theirs <= after + slack(after)
}

/// Series and value differences of the families both sides have; `before` and `ours` are our
/// scrapes just before and just after node_exporter's.
pub fn value_problems(
    upstream: &Families,
    before: &Families,
    ours: &Families,
    host: Host,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, theirs) in upstream {
        let Some(mine) = ours.get(name) else { continue };
        let my_earlier = before
            .get(name)
            .map(|f| series(name, f))
            .unwrap_or_default();
        if is_go_only(name) || about_the_exporter(name) || mine.kind != theirs.kind {
            continue;
        }
        let (their_series, my_series) = (series(name, theirs), series(name, mine));
        let their_keys: BTreeSet<&String> = their_series.keys().collect();
        let my_keys: BTreeSet<&String> = my_series.keys().collect();
        if their_keys != my_keys {
            let only_theirs: Vec<_> = their_keys.difference(&my_keys).collect();
            let only_mine: Vec<_> = my_keys.difference(&their_keys).collect();
            problems.push(format!(
                "{name}: series only in node_exporter {only_theirs:?}, only here {only_mine:?}"
            ));
            continue;
        }
        for (key, their_value) in &their_series {
            let my_value = my_series[key];
            let ok = if STATIC_FAMILIES.contains(&name.as_str()) {
                my_value == *their_value
            } else if theirs.kind == "counter" {
                bracketed(my_earlier.get(key).copied(), *their_value, my_value)
            } else {
                true
            };
            if !ok {
                let earlier = my_earlier
                    .get(key)
                    .map_or(String::new(), |v| format!("{v} then "));
                problems.push(format!(
                    "{key}: {earlier}{my_value} here, {their_value} in node_exporter"
                ));
            }
        }
    }
    problems.extend(collector_outcome_problems(upstream, ours, host));
    problems
}

/// Every collector node_exporter runs, we run, and one both run must succeed or fail on both.
pub fn collector_outcome_problems(upstream: &Families, ours: &Families, host: Host) -> Vec<String> {
    let outcomes = |families: &Families| -> BTreeMap<String, f64> {
        families
            .get("node_scrape_collector_success")
            .map(|f| {
                f.samples
                    .iter()
                    .filter_map(|s| Some((s.labels.get("collector")?.clone(), s.value)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (theirs, mine) = (outcomes(upstream), outcomes(ours));
    let missing = theirs
        .keys()
        .filter(|c| !mine.contains_key(*c) && !DEBIAN_ONLY_COLLECTORS.contains(&c.as_str()))
        .map(|c| format!("collector {c} runs in node_exporter, not here"));
    let differing: Vec<String> = theirs
        .iter()
        .filter(|(collector, _)| !host.outcome_may_differ(collector))
        .filter_map(|(collector, their_value)| {
            let my_value = mine.get(collector)?;
            (my_value != their_value).then(|| {
                format!("collector {collector}: success {my_value} here, {their_value} in node_exporter")
            })
        })
        .collect();
    missing.chain(differing).collect()
}

/// Runs `check(theirs, ours before, ours after)` over up to three rounds of scrapes (ours,
/// node_exporter's, ours again) and returns the last round's problems: some series come and go
/// with the host's state (an ARP entry expiring, a container's veth), so a difference must
/// persist to count.
pub fn compare_rounds(
    scrape_upstream: impl Fn() -> Families,
    scrape_ours: impl Fn() -> Families,
    check: impl Fn(&Families, &Families, &Families) -> Vec<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for round in 0..3 {
        if round > 0 {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let before = scrape_ours();
        let theirs = scrape_upstream();
        let mine = scrape_ours();
        problems = check(&theirs, &before, &mine);
        if problems.is_empty() {
            break;
        }
    }
    problems
}

/// The both-ways comparison with node_exporter 1.9: families (each way, our extras only when
/// the README section `listed` names them), types, label names, series and values.
pub fn both_ways(
    theirs: &Families,
    before: &Families,
    mine: &Families,
    listed: &str,
    host: Host,
) -> Vec<String> {
    let mut problems = family_problems(theirs, mine, PINNED_VERSION, false);
    problems.extend(unlisted_extras(theirs, mine, listed));
    problems.extend(value_problems(theirs, before, mine, host));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families(text: &str) -> Families {
        crate::parse_exposition(text).expect("valid exposition")
    }

    #[test]
    fn a_family_missing_on_either_side_is_a_problem() {
        let theirs = families("# TYPE node_a gauge\nnode_a 1\n# TYPE node_b counter\nnode_b 2\n");
        let mine = families("# TYPE node_a gauge\nnode_a 1\n# TYPE node_c gauge\nnode_c 3\n");
        let host = Host { irq_pressure: true };
        let problems = both_ways(&theirs, &mine, &mine, "`node_x`", host);
        assert!(
            problems.iter().any(|p| p.contains("missing family node_b")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("family node_c")),
            "{problems:?}"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(both_ways(&theirs, &theirs, &theirs, "", host).is_empty());
    }

    #[test]
    fn a_counter_must_lie_between_our_two_readings() {
        let at = |v: u32| families(&format!("# TYPE node_c_total counter\nnode_c_total {v}\n"));
        let host = Host { irq_pressure: true };
        assert!(value_problems(&at(5), &at(4), &at(6), host).is_empty());
        assert_eq!(value_problems(&at(7), &at(4), &at(6), host).len(), 1);
        assert_eq!(value_problems(&at(3), &at(4), &at(6), host).len(), 1);
    }
}
