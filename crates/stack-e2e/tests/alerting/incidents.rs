//! Issue 22's incident alerts (`prometheus/alerts/incident_alerts.yml`) through the stack's own
//! Prometheus and Alertmanager to the test's webhook receiver, with the real rules and intervals:
//!
//! - ContainerOOMKilled: a busybox container with a 16 MiB memory limit (no swap) keeps starting
//!   a child (`dd` with a 48 MiB buffer) that the kernel's OOM killer kills; the container lives
//!   on and the stack's container-exporter counts the kills. Once the children stop, the rule's
//!   one-minute window empties and the alert resolves.
//! - ContainerHealthFlapping: a container whose health check goes unhealthy and back twice (four
//!   changes), each state held for 40 s so that docker-api's 15 s scrapes see every one, and
//!   never for the minute ServiceHealthCheckFailing waits for. The rule counts changes over
//!   15 minutes, so it resolves 15 minutes after the first change: the flapping starts early
//!   ([`start_flapping`]) and its notifications are awaited at the end ([`FlappingDrill::finish`]).
//! - ContainerCPUThrottled: a busybox container limited to a tenth of a core runs a busy loop, so
//!   nearly every CFS period it runs in ends throttled. The rule wants over half of the periods
//!   throttled over 5 minutes, for 10 minutes, so it fires about 11 minutes after the loop starts:
//!   the loop starts early too ([`start_throttling`]), in the same window as the flapping, and
//!   [`ThrottlingDrill::finish`] awaits the firing notification, raises the limit as an operator
//!   would and awaits the resolved one before the flapping's resolution is due.

use std::time::{Duration, Instant};

use stack_e2e::Stack;
use testkit::docker::Container;

use super::{assert_alert, wait_for_notifications, Alerting, Expected};

/// How long each unhealthy or healthy spell of the flapping container lasts.
const FLAP_SECONDS: u32 = 40;

/// From the start of the flapping to ContainerHealthFlapping's notification: four spells,
/// `for: 1m`, an evaluation (15 s) and `group_wait` (10 s), about 4 min; more for a slow machine.
const FLAPPING_FIRING_LIMIT: Duration = Duration::from_secs(480);

/// From the start of the flapping to the resolved notification: the 15-minute window, an
/// evaluation and `group_interval` (30 s), about 16 min; more for a slow machine.
const FLAPPING_RESOLVED_LIMIT: Duration = Duration::from_secs(20 * 60);

/// From the first kill to the notification: a scrape (10 s), an evaluation (15 s), `for: 15s`,
/// an evaluation and `group_wait` (10 s), about 1 min.
const OOM_FIRING_LIMIT: Duration = Duration::from_secs(240);

/// From the last kill to the resolved notification: the one-minute window, an evaluation and
/// `group_interval`, about 2 min.
const OOM_RESOLVED_LIMIT: Duration = Duration::from_secs(240);

/// The throttled container's CPU limit: a tenth of a core (10 ms of every 100 ms CFS period), so
/// the one-thread busy loop, which would take a whole core, is throttled in nearly every period.
const THROTTLED_CPUS: &str = "0.1";

/// The operator's repair: a limit above the one core a one-thread loop can use. Raising the limit
/// rather than stopping the loop is what makes the alert resolve soon: the loop goes on, so CFS
/// periods keep counting (10 a second) with none throttled, and the 5-minute ratio falls below
/// 0.5 once more than half of the window is after the repair, about 2.5 minutes. Stopping the
/// loop (or removing the quota) would stop the periods counting as well: the ratio of what is
/// left in the window stays near 1 until the window is empty, 5 minutes. Not exactly one core:
/// a loop that uses all of a one-core quota can still run out of it at the end of a period
/// (Docker refuses more CPUs than the machine has: this needs two, as CI's machine has).
const REPAIRED_CPUS: &str = "1.5";

/// From the start of the loop to ContainerCPUThrottled's notification: two scrapes of
/// container-exporter (10 s each) for a rate, an evaluation (15 s), `for: 10m`, an evaluation and
/// `group_wait` (10 s), about 11 min; more for a slow machine.
const THROTTLING_FIRING_LIMIT: Duration = Duration::from_secs(15 * 60);

/// From the repair to the resolved notification: half of the 5-minute window (2.5 min), a scrape
/// (10 s), an evaluation (15 s) and `group_interval` (30 s), about 3.5 min; more for a slow
/// machine.
const THROTTLING_RESOLVED_LIMIT: Duration = Duration::from_secs(7 * 60);

/// The flapping container, started and flapping.
pub struct FlappingDrill {
    container: Container,
    started: Instant,
}

/// Starts a container whose health check passes while `/ok` exists, waits until the stack's
/// Prometheus has it healthy (docker-api), then lets it flap: unhealthy, healthy, unhealthy,
/// healthy for good, each for [`FLAP_SECONDS`]. Its own shell times the spells after `/go`.
pub fn start_flapping(stack: &Stack) -> FlappingDrill {
    let script = format!(
        "touch /ok; while [ ! -f /go ]; do sleep 1; done; \
         for spell in 1 2; do rm /ok; sleep {FLAP_SECONDS}; touch /ok; sleep {FLAP_SECONDS}; done; \
         exec sleep 7200"
    );
    let container = super::health_checked_container(&script);
    let healthy = format!(
        r#"docker_container_health_status{{name="{}", health="healthy"}} == 1"#,
        container.name
    );
    super::super::wait_for(
        "the flapping container healthy in the stack's Prometheus (docker-api)",
        Duration::from_secs(120),
        || match stack.query(&healthy)? {
            0 => Err(format!("no series for {healthy}")),
            _ => Ok(()),
        },
    );
    container.exec("touch /go");
    FlappingDrill {
        container,
        started: Instant::now(),
    }
}

impl FlappingDrill {
    fn expected(&self) -> Expected {
        Expected::for_container("ContainerHealthFlapping", &self.container)
    }

    fn diagnostics(&self) -> Vec<String> {
        let name = &self.container.name;
        vec![
            format!(
                r#"changes(docker_container_health_status{{name="{name}", health="unhealthy"}}[15m])"#
            ),
            self.expected().prometheus_selector(&[]),
        ]
    }

    /// Waits for ContainerHealthFlapping's firing notification, then for its resolved one.
    pub fn finish(self, stack: &Stack, alerting: &Alerting) {
        let origin = alerting.origin();
        let expected = self.expected();
        let left = |limit: Duration| limit.saturating_sub(self.started.elapsed());
        let firing = wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "firing",
            &[&expected],
            left(FLAPPING_FIRING_LIMIT),
            &self.diagnostics(),
        );
        let (notification, alert) = &firing[0];
        assert_alert(
            notification,
            alert,
            (&["alertname", "name", "severity"], "warning"),
            &format!(
                "The health check of container {} is flapping",
                self.container.name
            ),
            "times in 15 minutes",
        );
        wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "resolved",
            &[&expected],
            left(FLAPPING_RESOLVED_LIMIT),
            &self.diagnostics(),
        );
        eprintln!(
            "ContainerHealthFlapping fired and resolved {:.1?} after the flapping began",
            self.started.elapsed()
        );
    }
}

/// The throttled container, its busy loop running under [`THROTTLED_CPUS`].
pub struct ThrottlingDrill {
    container: Container,
    started: Instant,
}

/// Starts a container limited to [`THROTTLED_CPUS`] that runs a busy loop until `/stop` exists,
/// and waits until the stack's Prometheus has its CFS period count (container-exporter).
pub fn start_throttling(stack: &Stack) -> ThrottlingDrill {
    let container = Container::run(
        &["--cpus", THROTTLED_CPUS],
        "while [ ! -f /stop ]; do :; done; exec sleep 7200",
    );
    let started = Instant::now();
    let periods = format!(
        r#"container_cpu_cfs_periods_total{{name="{}"}}"#,
        container.name
    );
    super::super::wait_for(
        "the throttled container's CFS periods in the stack's Prometheus (container-exporter)",
        Duration::from_secs(120),
        || match stack.query(&periods)? {
            0 => Err(format!("no series for {periods}")),
            _ => Ok(()),
        },
    );
    ThrottlingDrill { container, started }
}

impl ThrottlingDrill {
    fn expected(&self) -> Expected {
        Expected::for_container("ContainerCPUThrottled", &self.container)
    }

    fn diagnostics(&self) -> Vec<String> {
        let name = &self.container.name;
        let rate = |counter: &str| format!(r#"rate({counter}{{name="{name}"}}[5m])"#);
        vec![
            rate("container_cpu_cfs_periods_total"),
            rate("container_cpu_cfs_throttled_periods_total"),
            format!(
                "{} / {}",
                rate("container_cpu_cfs_throttled_periods_total"),
                rate("container_cpu_cfs_periods_total")
            ),
            self.expected().prometheus_selector(&[]),
            self.expected_high_cpu().prometheus_selector(&[]),
        ]
    }

    /// HighCPUUsage for the same container: its usage is its whole quota (over the rule's 90 %
    /// of the limit for 5 minutes, so it fires before the throttling alert); under
    /// [`REPAIRED_CPUS`] the one-thread loop uses two thirds of the limit and it resolves.
    fn expected_high_cpu(&self) -> Expected {
        Expected::for_container("HighCPUUsage", &self.container)
    }

    /// Waits for ContainerCPUThrottled's and HighCPUUsage's firing notifications, raises the
    /// container's limit to [`REPAIRED_CPUS`] (`docker update`), then waits for the resolved
    /// notifications.
    pub fn finish(self, stack: &Stack, alerting: &Alerting) {
        let origin = alerting.origin();
        let expected = self.expected();
        let high_cpu = self.expected_high_cpu();
        let name = &self.container.name;
        let waited = Instant::now();
        let firing = wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "firing",
            &[&expected, &high_cpu],
            THROTTLING_FIRING_LIMIT.saturating_sub(self.started.elapsed()),
            &self.diagnostics(),
        );
        let (notification, alert) = &firing[0];
        // A notification that came before this call is found at once: then the alert's startsAt
        // (when Prometheus fired it) against the container's start says when it fired.
        eprintln!(
            "ContainerCPUThrottled firing notification seen {:.1?} after the loop began (waited \
             {:.1?} for it); fired at {} for a container started at {}",
            self.started.elapsed(),
            waited.elapsed(),
            alert["startsAt"],
            self.container.inspect("{{.State.StartedAt}}")
        );
        assert_alert(
            notification,
            alert,
            (&["alertname", "name", "severity"], "warning"),
            &format!("Container {name} is throttled by its CPU limit"),
            "CPU periods were throttled over the last 5 minutes",
        );
        let (notification, alert) = &firing[1];
        super::limits::assert_limit_alert(
            notification,
            alert,
            &format!("Container {name} is using "),
            " of its CPU limit",
        );

        let repaired = Instant::now();
        super::super::docker(&["update", "--cpus", REPAIRED_CPUS, name]);
        assert_eq!(
            self.container.inspect("{{.HostConfig.NanoCpus}}"),
            "1500000000",
            "docker update --cpus {REPAIRED_CPUS} took effect"
        );
        wait_for_notifications(
            stack,
            (alerting.webhook, &origin),
            "resolved",
            &[&expected, &high_cpu],
            THROTTLING_RESOLVED_LIMIT,
            &self.diagnostics(),
        );
        eprintln!(
            "ContainerCPUThrottled resolved {:.1?} after `docker update --cpus {REPAIRED_CPUS}` \
             ({:.1?} after the loop began)",
            repaired.elapsed(),
            self.started.elapsed()
        );
        // The loop would otherwise take a whole core until the container is removed.
        self.container.exec("touch /stop");
    }
}

/// ContainerOOMKilled for a container whose children the kernel kills, then resolved.
pub fn oom_drill(stack: &Stack, alerting: &Alerting) {
    let container = Container::run(
        &["-m", "16m", "--memory-swap", "16m"],
        "while [ ! -f /go ]; do sleep 1; done; \
         while [ ! -f /stop ]; do dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null; \
         sleep 1; done; exec sleep 3600",
    );
    let name = container.name.clone();
    // The count before any kill is in Prometheus first: an increase() needs a sample before.
    let count = format!(r#"container_oom_events_total{{name="{name}"}}"#);
    super::super::wait_for(
        "the OOM container's kill count (0) in the stack's Prometheus",
        Duration::from_secs(60),
        || match stack.query_value(&count)? {
            Some(0.0) => Ok(()),
            other => Err(format!("{count} is {other:?}")),
        },
    );
    let origin = alerting.origin();
    let expected = Expected {
        alertname: "ContainerOOMKilled",
        labels: vec![("name", name.clone())],
    };
    let diagnostics = [count.clone(), expected.prometheus_selector(&[])];
    let t = Instant::now();
    container.exec("touch /go");
    let firing = wait_for_notifications(
        stack,
        (alerting.webhook, &origin),
        "firing",
        &[&expected],
        OOM_FIRING_LIMIT,
        &diagnostics,
    );
    eprintln!(
        "ContainerOOMKilled notified {:.1?} after the kills began",
        t.elapsed()
    );
    let (notification, alert) = &firing[0];
    assert_alert(
        notification,
        alert,
        (&["alertname", "name", "severity"], "critical"),
        &format!("Container {name} was OOM-killed"),
        "process(es) of container",
    );
    assert_eq!(
        container.inspect("{{.State.Status}}"),
        "running",
        "the kernel killed the children, not the container"
    );

    let t = Instant::now();
    container.exec("touch /stop");
    wait_for_notifications(
        stack,
        (alerting.webhook, &origin),
        "resolved",
        &[&expected],
        OOM_RESOLVED_LIMIT,
        &diagnostics,
    );
    eprintln!(
        "ContainerOOMKilled resolved {:.1?} after the last kill",
        t.elapsed()
    );
}
