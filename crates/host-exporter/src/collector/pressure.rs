//! `node_pressure_*_seconds_total` from `/proc/pressure/{cpu,io,memory}` and `/proc/pressure/irq`
//! (Linux 6.1+ with IRQ time accounting; only a `full` line).
//!
//! The `total=` fields are read by hand rather than with procfs-core's PSI parsers: procfs-core
//! 0.18 slices each line at byte 5 and so panics on a line that is only `some` or `full`, or
//! that has a multibyte character there (found by fuzzing, `fuzz/fuzz_targets/host_proc.rs`).

use std::path::Path;

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

const MICROS: f64 = 1_000_000.0;

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let total = |path: &Path, text: &str, kind: &str| {
        parse_total(text, kind).map_err(|why| CollectorError::parse(path, why))
    };
    let cpu_path = ctx.proc("pressure/cpu");
    let cpu = read(&cpu_path)?;
    let cpu_some = total(&cpu_path, &cpu, "some")?;
    let io_path = ctx.proc("pressure/io");
    let io = read(&io_path)?;
    let (io_some, io_full) = (total(&io_path, &io, "some")?, total(&io_path, &io, "full")?);
    let mem_path = ctx.proc("pressure/memory");
    let mem = read(&mem_path)?;
    let (mem_some, mem_full) = (
        total(&mem_path, &mem, "some")?,
        total(&mem_path, &mem, "full")?,
    );
    let c = |out: &mut MetricSet, name: &str, help: &str, total: u64| {
        out.counter(name, help, &[], total as f64 / MICROS)
    };
    c(
        out,
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time.",
        cpu_some,
    );
    c(
        out,
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion.",
        io_some,
    );
    c(
        out,
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion.",
        io_full,
    );
    c(
        out,
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory.",
        mem_some,
    );
    c(
        out,
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion.",
        mem_full,
    );
    // Most kernels lack IRQ pressure: nothing to add then. (node_exporter 1.9 exports the other
    // families but reports the whole collector as failed.)
    let irq_path = ctx.proc("pressure/irq");
    if let Ok(text) = std::fs::read_to_string(&irq_path) {
        let total = parse_full_total(&text).map_err(|why| CollectorError::parse(&irq_path, why))?;
        c(
            out,
            "node_pressure_irq_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IRQ congestion.",
            total,
        );
    }
    Ok(())
}

/// The `total=` microseconds of a PSI file's `some` or `full` line
/// (`full avg10=0.00 avg60=0.00 avg300=0.00 total=1234`).
pub fn parse_total(text: &str, kind: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(kind)?.strip_prefix(' '))
        .ok_or_else(|| format!("no {kind} line"))?;
    let total = line
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("total="))
        .ok_or_else(|| format!("no total in {kind} line {line:?}"))?;
    total
        .parse()
        .map_err(|e| format!("{kind} total {total:?}: {e}"))
}

/// The `total=` microseconds of a PSI file's `full` line.
pub fn parse_full_total(text: &str) -> Result<u64, String> {
    parse_total(text, "full")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn irq_pressure_is_the_full_lines_total() {
        let text = "full avg10=0.00 avg60=0.01 avg300=0.00 total=1234567\n";
        assert_eq!(parse_full_total(text), Ok(1234567));
        assert!(parse_full_total("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n").is_err());
        assert!(parse_full_total("full avg10=0.00 total=x\n").is_err());
    }

    #[test]
    fn irq_pressure_is_exported_when_the_kernel_has_it() {
        let proc = tempfile::tempdir().unwrap();
        let dir = proc.path().join("pressure");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["cpu", "io", "memory"] {
            std::fs::write(
                dir.join(name),
                fixtures::read(&format!("proc/pressure/{name}")),
            )
            .unwrap();
        }
        let collect_here =
            || fixtures::collect_once(collect, &fixtures::procfs_context(proc.path())).unwrap();
        assert!(!collect_here().contains("node_pressure_irq_stalled_seconds_total"));
        std::fs::write(
            dir.join("irq"),
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n",
        )
        .unwrap();
        assert_eq!(
            collect_here().value("node_pressure_irq_stalled_seconds_total", &[]),
            Some(2.5)
        );
    }

    #[test]
    fn real_pressure_files_have_their_totals() {
        let io = fixtures::read("proc/pressure/io");
        assert!(parse_total(&io, "some").unwrap() >= parse_total(&io, "full").unwrap());
        parse_total(&fixtures::read("proc/pressure/cpu"), "some").unwrap();
        parse_total(&fixtures::read("proc/pressure/memory"), "full").unwrap();
    }

    /// Inputs the host_proc fuzz target found: procfs-core's PSI parser panicked on each.
    #[test]
    fn truncated_or_non_ascii_lines_are_errors_not_panics() {
        assert!(parse_total("full", "full").is_err());
        assert!(parse_total("some\n", "some").is_err());
        assert!(parse_total("full\u{a1a6}S*  5 61015 total=1\n", "full").is_err());
        assert_eq!(parse_total("some\u{399}\nsome total=9\n", "some"), Ok(9));
    }
}
