//! Whether a service survived an attack: its process is alive, it answers `/health` (200, or 503
//! for a backend it cannot reach: answering is what counts) within a second, and its resident
//! memory stays under a bound.

use std::time::Duration;

use crate::service::Target;

/// Resident memory a service may use after any attack. The shipped services idle at 5-15 MiB;
/// four times the largest leaves room for allocator caches and still catches a service that
/// keeps what an attack made it allocate (10,000 parameters, a flood of scrapes).
pub const RSS_LIMIT_KIB: u64 = 64 * 1024;

/// Ok when `target` survived `attack`; else what is wrong, with the end of its log.
pub fn check(target: &mut Target, attack: &str) -> Result<(), String> {
    let failure = |what: String, target: &Target| {
        let logs = target.process.logs();
        let tail: Vec<&str> = logs.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{} after {attack}: {what}\n  log tail:\n    {}",
            target.package,
            tail.join("\n    ")
        )
    };
    if let Ok(Some(status)) = target.process.child.try_wait() {
        return Err(failure(format!("the process died ({status})"), target));
    }
    if let Err(e) = answers_health(target) {
        // A process that is aborting stops listening before it is gone: say that it died.
        for _ in 0..20 {
            if let Ok(Some(status)) = target.process.child.try_wait() {
                return Err(failure(format!("the process died ({status})"), target));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        return Err(failure(e, target));
    }
    match rss_kib(target.process.pid()) {
        Ok(kib) if kib <= RSS_LIMIT_KIB => Ok(()),
        Ok(kib) => Err(failure(
            format!("RSS {kib} KiB is over the {RSS_LIMIT_KIB} KiB bound"),
            target,
        )),
        Err(e) => Err(failure(e, target)),
    }
}

/// `/health` answered 200 or 503 within a second; tried three times so that one scheduling
/// hiccup on a loaded two-core machine is not mistaken for a wedged service.
fn answers_health(target: &Target) -> Result<(), String> {
    let url = target.process.url("/health");
    let mut last = String::new();
    for _ in 0..3 {
        match testkit::http::get_with(&url, &[], Duration::from_secs(1)) {
            Ok(r) if r.status == 200 || r.status == 503 => return Ok(()),
            Ok(r) => last = format!("/health answered {}: {}", r.status, r.body),
            Err(e) => last = format!("/health did not answer within 1 s: {e}"),
        }
    }
    Err(last)
}

/// VmRSS of `pid`, from /proc/<pid>/status.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}
