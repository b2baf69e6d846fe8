//! container-stats' cgroup v2 files (cpu.stat, cpu.max, cpu.weight, memory.stat,
//! memory.events, io.stat, the PSI files, cgroup.procs): every input goes through every v2
//! parser, since each bails out early on text that is not its file. Properties: nothing
//! panics; PSI's full total is there only when a `full` line is.
#![no_main]

use container_stats::cgroup::{psi, v2};
use container_stats::{parse, MemoryStats};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = v2::parse_cpu_stat(text);
    let _ = v2::parse_cpu_max(text);
    if let Ok(weight) = parse::parse_u64(text) {
        let _ = v2::weight_to_shares(weight);
    }
    let mut memory = MemoryStats::default();
    v2::parse_memory_stat(text, &mut memory);
    let _ = v2::parse_memory_events(text);
    let _ = v2::parse_io_stat(text);
    if let Some(pressure) = psi::parse_pressure(text) {
        if pressure.full_us.is_some() {
            assert!(text.contains("full"), "full total from {text:?}");
        }
    }
    let _ = parse::parse_limit(text);
    let _ = parse::parse_pids(text);
});
