//! Pressure stall information (`cpu.pressure`, `memory.pressure`, `io.pressure`): the `total=`
//! of the `some` and `full` lines, the same lines as `/proc/pressure/*`.
//!
//! Read by hand rather than with procfs-core's PSI parser: procfs-core 0.18 slices each line at
//! byte 5 and so panics on a line that is only `some` or `full`, or that has a multibyte
//! character there (found by fuzzing, `fuzz/fuzz_targets/cgroup_v2.rs`); and it rejects the
//! CPU file of kernels before 5.13, which has no `full` line.

use crate::stats::Pressure;

/// The `some` and (where present) `full` totals in microseconds; `None` without a readable
/// `some` total.
pub fn parse_pressure(text: &str) -> Option<Pressure> {
    Some(Pressure {
        some_us: line_total(text, "some")?,
        full_us: line_total(text, "full"),
    })
}

/// The `total=` field of the line that starts with `kind` and a space.
fn line_total(text: &str, kind: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(kind)?.strip_prefix(' '))?;
    line.split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_of_a_throttled_container_on_this_host() {
        let text = include_str!("../../tests/fixtures/v1/unified.cpu.pressure");
        assert_eq!(
            parse_pressure(text),
            Some(Pressure {
                some_us: 3_110_032,
                full_us: Some(3_109_017)
            })
        );
    }

    #[test]
    fn old_kernels_have_no_full_cpu_line() {
        let text = "some avg10=1.00 avg60=0.50 avg300=0.10 total=42\n";
        assert_eq!(
            parse_pressure(text),
            Some(Pressure {
                some_us: 42,
                full_us: None
            })
        );
        assert_eq!(parse_pressure("garbage"), None);
    }

    /// Inputs the cgroup_v2 fuzz target found: procfs-core's PSI parser panicked on each.
    #[test]
    fn truncated_or_non_ascii_lines_are_no_panic() {
        assert_eq!(parse_pressure("full"), None);
        assert_eq!(parse_pressure("some"), None);
        assert_eq!(parse_pressure("some\u{cb}t\"5e 5563"), None);
        assert_eq!(
            parse_pressure("some total=7\nfull\u{399}ne=_42\n"),
            Some(Pressure {
                some_us: 7,
                full_us: None
            })
        );
    }
}
