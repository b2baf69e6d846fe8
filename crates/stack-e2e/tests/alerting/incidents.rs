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
        Expected {
            alertname: "ContainerHealthFlapping",
            labels: vec![("name", self.container.name.clone())],
        }
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
