//! Comparing an exporter with the upstream exporter it replaces, both ways: today's upstream
//! binaries where `scripts/install-upstream-current` unpacked them, the family-by-family check
//! (a family upstream has that we lack fails unless excused with a reason; a family we have
//! that upstream lacks fails unless the crate's README lists it), and the check of values that
//! cannot move, in which a family missing on either side is a failure, never a pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::Family;

/// Families by name, as [`crate::parse_exposition`] gives them.
pub type Families = BTreeMap<String, Family>;

/// Debian 13's `package` binary (`prometheus-redis-exporter`, ...) and its `--version` line;
/// panics naming the install script when it is missing or its version line lacks `pinned`
/// (so a newer package never changes a result silently). `pinned` is matched as written:
/// redis_exporter prints `Redis Metrics Exporter 1.69.0-1` where the others print `version X `.
pub fn current_upstream(package: &str, pinned: &str) -> (PathBuf, String) {
    crate::upstream::pinned_program(package, pinned)
}

/// How one crate's comparison is set up.
pub struct Rules<'a> {
    /// Families neither side is compared on (`go_`, `promhttp_`, ...), by prefix.
    pub ignored_prefixes: &'a [&'a str],
    /// Families upstream exports that this machine cannot make us produce: (name, why).
    pub cannot_appear_here: &'a [(&'a str, &'a str)],
    /// The crate's README, and the heading of its section listing our families upstream lacks.
    pub readme: &'a Path,
    pub readme_section: &'a str,
}

impl Rules<'_> {
    fn compared(&self, name: &str) -> bool {
        !self.ignored_prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// The text of `heading`'s section in `readme` (up to the next heading of any level).
pub fn readme_section(readme: &Path, heading: &str) -> String {
    let text = std::fs::read_to_string(readme)
        .unwrap_or_else(|e| panic!("read {}: {e}", readme.display()));
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("{} has no section {heading:?}", readme.display()));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Families on one side only, and type and label-name differences of those on both.
pub fn family_differences(theirs: &Families, mine: &Families, rules: &Rules<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let excused: BTreeSet<&str> = rules.cannot_appear_here.iter().map(|(n, _)| *n).collect();
    for (name, family) in theirs.iter().filter(|(n, _)| rules.compared(n)) {
        let Some(ours) = mine.get(name) else {
            if !excused.contains(name.as_str()) {
                problems.push(format!(
                    "missing family {name} ({}, labels {:?})",
                    family.kind,
                    family.label_names()
                ));
            }
            continue;
        };
        if ours.kind != family.kind {
            problems.push(format!(
                "{name}: type {} (upstream {})",
                ours.kind, family.kind
            ));
        }
        if ours.label_names() != family.label_names() {
            problems.push(format!(
                "{name}: labels {:?} (upstream {:?})",
                ours.label_names(),
                family.label_names()
            ));
        }
    }
    let listed = readme_section(rules.readme, rules.readme_section);
    for (name, family) in mine.iter().filter(|(n, _)| rules.compared(n)) {
        if !theirs.contains_key(name) && !listed.contains(&format!("`{name}`")) {
            problems.push(format!(
                "{name} ({}): upstream does not have it and {} does not list it under {:?}",
                family.kind,
                rules.readme.display(),
                rules.readme_section
            ));
        }
    }
    problems
}

/// A family's samples keyed by sample name (`x_bucket`, `x_sum`) and labels.
pub type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// The samples of `family` whose labels pass `keep`.
pub fn series(family: &Family, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> Series {
    family
        .samples
        .iter()
        .filter(|s| keep(&s.labels))
        .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
        .collect()
}

/// Families whose samples (those `keep` passes) must be the same on both sides, sample for
/// sample. A family either side lacks, or with no sample `keep` passes, is a difference: a
/// check of nothing must not pass.
pub fn same_values(
    theirs: &Families,
    mine: &Families,
    names: &[&str],
    keep: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in names {
        let (Some(u), Some(o)) = (theirs.get(*name), mine.get(*name)) else {
            problems.push(format!(
                "{name}: upstream has it: {}, ours: {} (the setup should make both export it)",
                theirs.contains_key(*name),
                mine.contains_key(*name)
            ));
            continue;
        };
        let (u, o) = (series(u, &keep), series(o, &keep));
        if u.is_empty() {
            problems.push(format!("{name}: no sample of upstream's to compare"));
        } else if u != o {
            problems.push(format!("{name}: upstream {u:?}\n  ours {o:?}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families(text: &str) -> Families {
        crate::parse_exposition(text).unwrap()
    }

    #[test]
    fn a_family_missing_on_both_sides_is_a_difference_not_a_pass() {
        let none = Families::new();
        let problems = same_values(&none, &none, &["x_up"], |_| true);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let one = families("# TYPE x_up gauge\nx_up 1\n");
        assert_eq!(same_values(&one, &none, &["x_up"], |_| true).len(), 1);
        assert_eq!(same_values(&none, &one, &["x_up"], |_| true).len(), 1);
        assert!(same_values(&one, &one, &["x_up"], |_| true).is_empty());
        let other = families("# TYPE x_up gauge\nx_up 0\n");
        assert_eq!(same_values(&one, &other, &["x_up"], |_| true).len(), 1);
        assert_eq!(same_values(&one, &one, &["x_up"], |_| false).len(), 1);
    }

    #[test]
    fn families_are_compared_both_ways() {
        let dir = std::env::temp_dir().join(format!("testkit-parity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let readme = dir.join("README.md");
        std::fs::write(
            &readme,
            "# x\n### Ours only\n- `x_listed`: why.\n## Next\n`x_mine`\n",
        )
        .unwrap();
        let rules = Rules {
            ignored_prefixes: &["go_"],
            cannot_appear_here: &[("x_hw", "no such hardware here")],
            readme: &readme,
            readme_section: "### Ours only",
        };
        let theirs = families(
            "# TYPE x_a counter\nx_a{l=\"1\"} 1\n# TYPE x_b gauge\nx_b 1\n# TYPE x_hw gauge\nx_hw 1\n\
             # TYPE go_goroutines gauge\ngo_goroutines 7\n# TYPE x_c gauge\nx_c{k=\"v\"} 1\n",
        );
        let mine = families(
            "# TYPE x_a gauge\nx_a{l=\"1\"} 1\n# TYPE x_c gauge\nx_c{j=\"v\"} 1\n\
             # TYPE x_listed gauge\nx_listed 1\n# TYPE x_mine gauge\nx_mine 1\n",
        );
        let problems = family_differences(&theirs, &mine, &rules);
        std::fs::remove_dir_all(&dir).unwrap();
        let text = problems.join("\n");
        assert_eq!(problems.len(), 4, "{text}");
        assert!(
            text.contains("x_a: type gauge (upstream counter)"),
            "{text}"
        );
        assert!(text.contains("missing family x_b"), "{text}");
        assert!(text.contains("x_c: labels"), "{text}");
        assert!(
            text.contains("x_mine (gauge): upstream does not have it"),
            "{text}"
        );
    }
}
