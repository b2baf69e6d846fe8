//! Issue 22's container alerts of `prometheus/alerts/container_alerts.yml` that are measured
//! against the container's own limits or its own history, through the stack's own Prometheus and
//! Alertmanager to the test's webhook, with the real rules and intervals:
//!
//! - HighMemoryUsage: a container limited to 64 MiB (no swap) holding 59 MiB in its tmpfs
//!   `/dev/shm` (shared memory the kernel cannot reclaim without swap, so it stays in the working
//!   set: about 94 % of the limit); the rule waits 5 minutes. Deleting the file is the repair.
//! - ContainerRestarting: a container with `--restart always` whose command fails after 12 s
//!   four times (it counts its runs in a file of its own filesystem, which a restart keeps), then
//!   runs for good: four restarts by Docker's restart policy in about a minute. The rule counts
//!   restarts over 15 minutes, so it resolves 15 minutes after the last one.
//!
//! Both start early ([`start_memory_pressure`], [`start_restart_loop`]) and are awaited at the
//! end, inside the flapping drill's 15-minute window, so they add little to the e2e's time.

use std::time::{Duration, Instant};

use serde_json::Value;
use stack_e2e::Stack;
use testkit::docker::Container;

use super::{wait_for_notifications, Alerting, Expected};

/// The memory-pressure container's limit and what it holds in `/dev/shm`, in MiB.
const MEMORY_LIMIT_MIB: u32 = 64;
const HELD_MIB: u32 = 59;

/// Runs of the restarting container that fail (each one a restart by the policy).
const FAILING_RUNS: u32 = 4;

/// From the fill to HighMemoryUsage's notification: a scrape (10 s), an evaluation (15 s),
/// `for: 5m`, an evaluation and the webhook's `group_wait` (10 s), about 6 min; more for a slow
/// machine.
const MEMORY_FIRING_LIMIT: Duration = Duration::from_secs(12 * 60);

/// From the repair to the resolved notification: a scrape, an evaluation and `group_interval`
/// (30 s), about 1 min.
const MEMORY_RESOLVED_LIMIT: Duration = Duration::from_secs(240);

/// From the first start to ContainerRestarting's notification: three restarts (36 s), docker-
/// api's scrape (15 s), an evaluation, `for: 1m`, an evaluation and `group_wait`, about 2.5 min.
const RESTART_FIRING_LIMIT: Duration = Duration::from_secs(8 * 60);

/// From the first start to the resolved notification: the last restart (about 50 s), the
/// 15-minute window, an evaluation and `group_interval`, about 17 min; more for a slow machine.
const RESTART_RESOLVED_LIMIT: Duration = Duration::from_secs(22 * 60);

/// The container holding most of its memory limit in tmpfs.
pub struct MemoryPressureDrill {
    container: Container,
    started: Instant,
}

/// Starts a container limited to [`MEMORY_LIMIT_MIB`] and fills [`HELD_MIB`] of its `/dev/shm`
/// once the stack's Prometheus has its limit (container-exporter).
pub fn start_memory_pressure(stack: &Stack) -> MemoryPressureDrill {
    let limit = format!("{MEMORY_LIMIT_MIB}m");
    let container = Container::run(
        &["-m", &limit, "--memory-swap", &limit, "--shm-size", "128m"],
        "exec sleep 7200",
    );
    let spec = format!(
        r#"container_spec_memory_limit_bytes{{name="{}"}}"#,
        container.name
    );
    let bytes = f64::from(MEMORY_LIMIT_MIB) * 1024.0 * 1024.0;
    super::super::wait_for(
        "the memory-pressure container's limit in the stack's Prometheus (container-exporter)",
        Duration::from_secs(120),
        || match stack.query_value(&spec)? {
            Some(v) if v == bytes => Ok(()),
            other => Err(format!("{spec} is {other:?}")),
        },
    );
    container.exec(&format!(
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count={HELD_MIB} 2>/dev/null"
    ));
    MemoryPressureDrill {
        container,
        started: Instant::now(),
    }
}

impl MemoryPressureDrill {
    fn expected(&self) -> Expected {
        Expected::for_container("HighMemoryUsage", &self.container)
    }

    /// Waits for HighMemoryUsage's firing notification, deletes the file, waits for the
    /// resolved one.
    pub fn finish(self, stack: &Stack, alerting: &Alerting) {
        let origin = alerting.origin();
        let expected = self.expected();
        let name = &self.container.name;
        let diagnostics = [
            format!(
                r#"container_memory_working_set_bytes{{name="{name}"}} / container_spec_memory_limit_bytes{{name="{name}"}}"#
            ),
            expected.prometheus_selector(&[]),
        ];
        let firing = wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "firing",
            &[&expected],
            MEMORY_FIRING_LIMIT.saturating_sub(self.started.elapsed()),
            &diagnostics,
        );
        eprintln!(
            "HighMemoryUsage firing notification seen {:.1?} after the fill",
            self.started.elapsed()
        );
        let (notification, alert) = &firing[0];
        assert_limit_alert(
            notification,
            alert,
            &format!("Container {name} is using "),
            " of its memory limit",
        );
        assert_eq!(
            self.container
                .inspect("{{.State.OOMKilled}} {{.State.Status}}"),
            "false running",
            "the container held its memory without being killed"
        );

        let repaired = Instant::now();
        self.container.exec("rm /dev/shm/fill");
        wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "resolved",
            &[&expected],
            MEMORY_RESOLVED_LIMIT,
            &diagnostics,
        );
        eprintln!(
            "HighMemoryUsage resolved {:.1?} after the file was deleted",
            repaired.elapsed()
        );
    }
}

/// The container that Docker's restart policy restarted [`FAILING_RUNS`] times.
pub struct RestartLoopDrill {
    container: Container,
    started: Instant,
}

/// Starts a container whose first [`FAILING_RUNS`] runs exit 3 after 12 s (long enough that
/// Docker's restart back-off stays at its first step) and whose next run stays up.
pub fn start_restart_loop() -> RestartLoopDrill {
    let script = format!(
        "n=$(( $(cat /runs 2>/dev/null || echo 0) + 1 )); echo $n > /runs; \
         [ $n -gt {FAILING_RUNS} ] && exec sleep 7200; sleep 12; exit 3"
    );
    let container = Container::run(&["--restart", "always"], &script);
    RestartLoopDrill {
        container,
        started: Instant::now(),
    }
}

impl RestartLoopDrill {
    fn expected(&self) -> Expected {
        Expected::for_container("ContainerRestarting", &self.container)
    }

    /// Waits for ContainerRestarting's firing notification, then (the loop having ended by
    /// itself) for the resolved one.
    pub fn finish(self, stack: &Stack, alerting: &Alerting) {
        let origin = alerting.origin();
        let expected = self.expected();
        let name = &self.container.name;
        let diagnostics = [
            format!(r#"docker_container_restarts_total{{name="{name}"}}"#),
            format!(r#"changes(container_start_time_seconds{{name="{name}"}}[15m])"#),
            expected.prometheus_selector(&[]),
        ];
        let left = |limit: Duration| limit.saturating_sub(self.started.elapsed());
        let firing = wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "firing",
            &[&expected],
            left(RESTART_FIRING_LIMIT),
            &diagnostics,
        );
        let (notification, alert) = &firing[0];
        super::assert_alert(
            notification,
            alert,
            (&["alertname", "name", "severity"], "warning"),
            &format!("Container {name} is restarting"),
            "times in the last 15 minutes",
        );
        assert_eq!(
            self.container.inspect("{{.RestartCount}}"),
            FAILING_RUNS.to_string(),
            "Docker restarted the container once per failing run"
        );
        wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "resolved",
            &[&expected],
            left(RESTART_RESOLVED_LIMIT),
            &diagnostics,
        );
        eprintln!(
            "ContainerRestarting fired and resolved {:.1?} after the first start",
            self.started.elapsed()
        );
    }
}

/// A warning about one container whose summary carries the measured share of its limit
/// (`Container x is using 94.5% of its memory limit`): the share is read and must be over the
/// rule's 90 % (a rate's extrapolation can put a CPU share a little over 100 %).
pub(super) fn assert_limit_alert(notification: &Value, alert: &Value, prefix: &str, suffix: &str) {
    super::assert_alert(
        notification,
        alert,
        (&["alertname", "name", "severity"], "warning"),
        alert["annotations"]["summary"].as_str().unwrap_or_default(),
        "the threshold is 90 %",
    );
    let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
    let share = summary
        .strip_prefix(prefix)
        .and_then(|s| s.strip_suffix(suffix))
        .and_then(|s| s.trim_end_matches('%').trim().parse::<f64>().ok());
    assert!(
        share.is_some_and(|p| p > 90.0 && p < 150.0),
        "summary {summary:?} is not \"{prefix}<over 90 %>{suffix}\": {alert}"
    );
}
