//! container-stats' cgroup v1 files (cpuacct, cpu, memory, blkio, pids, tasks): every input
//! goes through every v1 parser, since each bails out early on text that is not its file.
//! Properties: nothing panics; a limit is below v1's "unlimited" threshold; pids listed were
//! in the text.
#![no_main]

use container_stats::cgroup::v1;
use container_stats::{parse, MemoryStats};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = v1::parse_cpuacct_stat(text);
    let _ = v1::parse_usage_percpu(text);
    let _ = v1::parse_cpu_stat(text);
    let _ = v1::parse_quota(text);
    let mut memory = MemoryStats::default();
    v1::parse_memory_stat(text, &mut memory);
    let _ = v1::parse_oom_control(text);
    let _ = v1::parse_blkio(text);
    let _ = parse::parse_u64(text);
    if let Ok(Some(limit)) = parse::parse_limit(text) {
        assert!(limit < 1 << 62, "{limit} from {text:?}");
    }
    // tasks and cgroup.procs
    let _ = parse::count_lines(text);
    for pid in parse::parse_pids(text) {
        assert!(text.contains(&pid.to_string()), "{pid} from {text:?}");
    }
});
