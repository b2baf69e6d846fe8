//! `node_pressure_*_seconds_total` from `/proc/pressure/{cpu,io,memory}` (procfs-core's parsers).

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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

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
