//! Pressure stall information (`cpu.pressure`, `memory.pressure`, `io.pressure`), parsed with
//! procfs' PSI parser, which reads the same `some`/`full` lines as `/proc/pressure/*`.

use procfs::FromBufRead;

use crate::stats::Pressure;

/// The `some` and (where present) `full` totals in microseconds.
pub fn parse_pressure(text: &str) -> Option<Pressure> {
    if let Ok(both) = procfs::IoPressure::from_buf_read(text.as_bytes()) {
        return Some(Pressure {
            some_us: both.some.total,
            full_us: Some(both.full.total),
        });
    }
    // CPU pressure before Linux 5.13 has only the `some` line, which procfs' parser rejects.
    let some = text.lines().find(|l| l.starts_with("some "))?;
    let total = some
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("total="))?;
    Some(Pressure {
        some_us: total.parse().ok()?,
        full_us: None,
    })
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
}
