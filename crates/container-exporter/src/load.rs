//! cAdvisor's smoothed load averages (`container_cpu_load_average_10s`, `..._load_d_...`),
//! kept between scrapes since there is no housekeeping loop here.
//!
//! cAdvisor samples runnable (and uninterruptible) threads every housekeeping interval and keeps
//! `avg = avg * e^(-interval/10s) + sample * (1 - e^(-interval/10s))`, starting from the first
//! sample, and exports `avg * 1000`. Here the interval is the time since the container's previous
//! scrape, so the average settles within about 10 s of scrapes whatever their spacing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use container_stats::TaskStates;

use crate::families::LoadAverages;

/// The decay window: cAdvisor's 10 seconds.
const WINDOW_SECS: f64 = 10.0;

#[derive(Debug, Default)]
pub struct LoadTracker {
    by_cgroup: Mutex<HashMap<String, (Instant, LoadAverages)>>,
}

impl LoadTracker {
    /// Folds a new sample of `cgroup`'s threads into its averages and returns them.
    pub fn update(&self, cgroup: &str, states: TaskStates, now: Instant) -> LoadAverages {
        let runnable = states.running as f64 * 1000.0;
        let blocked = states.uninterruptible as f64 * 1000.0;
        let mut map = self.by_cgroup.lock().unwrap_or_else(|p| p.into_inner());
        let next = match map.get(cgroup) {
            None => LoadAverages {
                runnable_milli: runnable,
                uninterruptible_milli: blocked,
            },
            Some((at, prev)) => {
                let elapsed = now.saturating_duration_since(*at).as_secs_f64();
                let decay = (-elapsed / WINDOW_SECS).exp();
                LoadAverages {
                    runnable_milli: prev.runnable_milli * decay + runnable * (1.0 - decay),
                    uninterruptible_milli: prev.uninterruptible_milli * decay
                        + blocked * (1.0 - decay),
                }
            }
        };
        map.insert(cgroup.to_string(), (now, next));
        next
    }

    /// Forgets cgroups not in `live` (containers that stopped).
    pub fn retain(&self, live: &[&str]) {
        let mut map = self.by_cgroup.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| live.contains(&k.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn running(n: u64) -> TaskStates {
        TaskStates {
            running: n,
            ..TaskStates::default()
        }
    }

    #[test]
    fn starts_at_the_first_sample_and_decays_over_ten_seconds() {
        let t = LoadTracker::default();
        let t0 = Instant::now();
        assert_eq!(t.update("/a", running(2), t0).runnable_milli, 2000.0);
        // Ten seconds at 0: e^-1 of the old value remains.
        let after = t.update("/a", running(0), t0 + Duration::from_secs(10));
        assert!((after.runnable_milli - 2000.0 / std::f64::consts::E).abs() < 1e-6);
        // A scrape at the same instant changes nothing.
        let same = t.update("/a", running(5), t0 + Duration::from_secs(10));
        assert_eq!(same.runnable_milli, after.runnable_milli);
        let blocked = TaskStates {
            uninterruptible: 1,
            ..TaskStates::default()
        };
        assert_eq!(t.update("/b", blocked, t0).uninterruptible_milli, 1000.0);
        t.retain(&["/b"]);
        assert_eq!(
            t.update("/a", running(1), t0).runnable_milli,
            1000.0,
            "forgotten"
        );
    }
}
