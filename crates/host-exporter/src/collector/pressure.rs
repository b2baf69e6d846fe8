//! `node_pressure_*_seconds_total` from `/proc/pressure/{cpu,io,memory}` (procfs-core's parsers)
//! and `/proc/pressure/irq` (Linux 6.1+ with IRQ time accounting; only a `full` line).

use metrics_core::MetricSet;
use procfs::FromRead;

use super::{read, CollectorError, Host};

const MICROS: f64 = 1_000_000.0;

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let cpu_path = ctx.proc("pressure/cpu");
    let cpu = procfs::CpuPressure::from_read(read(&cpu_path)?.as_bytes())
        .map_err(|e| CollectorError::parse(&cpu_path, e))?;
    let io_path = ctx.proc("pressure/io");
    let io = procfs::IoPressure::from_read(read(&io_path)?.as_bytes())
        .map_err(|e| CollectorError::parse(&io_path, e))?;
    let mem_path = ctx.proc("pressure/memory");
    let mem = procfs::MemoryPressure::from_read(read(&mem_path)?.as_bytes())
        .map_err(|e| CollectorError::parse(&mem_path, e))?;
    let c = |out: &mut MetricSet, name: &str, help: &str, total: u64| {
        out.counter(name, help, &[], total as f64 / MICROS)
    };
    c(
        out,
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time.",
        cpu.some.total,
    );
    c(
        out,
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion.",
        io.some.total,
    );
    c(
        out,
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion.",
        io.full.total,
    );
    c(
        out,
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory.",
        mem.some.total,
    );
    c(
        out,
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion.",
        mem.full.total,
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

/// The `total=` microseconds of a PSI file's `full` line (`full avg10=0.00 ... total=1234`).
pub fn parse_full_total(text: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("full "))
        .ok_or("no full line")?;
    let total = line
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("total="))
        .ok_or_else(|| format!("no total in {line:?}"))?;
    total.parse().map_err(|e| format!("total {total:?}: {e}"))
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
        let collect_here = || {
            let mut config = crate::config::Config::default();
            config.path.procfs = proc.path().to_path_buf();
            let context = crate::collector::Context::new(&config).unwrap();
            let mut set = MetricSet::new();
            collect(&Host::new(&context), &mut set).unwrap();
            set
        };
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
    fn procfs_parses_real_pressure_files() {
        let io =
            procfs::IoPressure::from_read(fixtures::read("proc/pressure/io").as_bytes()).unwrap();
        assert!(io.some.total >= io.full.total);
        procfs::CpuPressure::from_read(fixtures::read("proc/pressure/cpu").as_bytes()).unwrap();
        procfs::MemoryPressure::from_read(fixtures::read("proc/pressure/memory").as_bytes())
            .unwrap();
    }
}
