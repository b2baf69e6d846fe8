//! Bounded polling: ask until the answer is right or the time is up, and then say what was
//! awaited, for how long, and what was last seen.

use std::fmt;
use std::time::{Duration, Instant};

/// How often [`until`] and [`until_deadline`] ask again.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// A wait that ran out: what was awaited, how long and how often it was asked, and the last
/// answer (the probe's last error).
#[derive(Debug, Clone)]
pub struct Timeout {
    pub what: String,
    pub waited: Duration,
    pub attempts: u32,
    pub last_seen: String,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:.1}s ({} attempts) waiting for {}; last seen: {}",
            self.waited.as_secs_f64(),
            self.attempts,
            self.what,
            self.last_seen
        )
    }
}

impl std::error::Error for Timeout {}

/// Calls `probe` every [`POLL_EVERY`] until it returns `Ok`, for at most `limit`; the probe's
/// `Err` says what it saw instead (kept for the timeout message).
pub fn until<T, E: fmt::Display>(
    what: &str,
    limit: Duration,
    probe: impl FnMut() -> Result<T, E>,
) -> Result<T, Timeout> {
    until_deadline(what, Instant::now() + limit, probe)
}

/// [`until`] asking every `interval` instead (a probe that is itself heavy, such as 60 queries).
pub fn until_every<T, E: fmt::Display>(
    what: &str,
    limit: Duration,
    interval: Duration,
    probe: impl FnMut() -> Result<T, E>,
) -> Result<T, Timeout> {
    poll(what, Instant::now() + limit, interval, probe)
}

/// [`until`] with an absolute deadline (several waits sharing one budget, or a deadline that
/// started before the wait, such as "within 60 s of the deploy"). The probe runs at least once.
pub fn until_deadline<T, E: fmt::Display>(
    what: &str,
    deadline: Instant,
    probe: impl FnMut() -> Result<T, E>,
) -> Result<T, Timeout> {
    poll(what, deadline, POLL_EVERY, probe)
}

fn poll<T, E: fmt::Display>(
    what: &str,
    deadline: Instant,
    interval: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> Result<T, Timeout> {
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        match probe() {
            Ok(value) => return Ok(value),
            Err(seen) if Instant::now() >= deadline => {
                return Err(Timeout {
                    what: what.to_string(),
                    waited: start.elapsed(),
                    attempts,
                    // `{:#}` shows an anyhow error's whole chain; plain strings ignore it.
                    last_seen: format!("{seen:#}"),
                });
            }
            Err(_) => {
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(interval.min(left));
            }
        }
    }
}

/// [`until`] for tests: panics with the timeout message.
pub fn expect<T, E: fmt::Display>(
    what: &str,
    limit: Duration,
    probe: impl FnMut() -> Result<T, E>,
) -> T {
    until(what, limit, probe).unwrap_or_else(|timeout| panic!("{timeout}"))
}

/// [`expect`], returning how long the wait took besides.
pub fn expect_timed<T, E: fmt::Display>(
    what: &str,
    limit: Duration,
    probe: impl FnMut() -> Result<T, E>,
) -> (T, Duration) {
    let start = Instant::now();
    let value = expect(what, limit, probe);
    (value, start.elapsed())
}

/// A probe's answer from a condition: `Ok(())` when `done`, else `Err(seen())`.
pub fn check(done: bool, seen: impl FnOnce() -> String) -> Result<(), String> {
    if done {
        Ok(())
    } else {
        Err(seen())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_ok_value() {
        let mut calls = 0;
        let got = until("the third call", Duration::from_secs(10), || {
            calls += 1;
            if calls == 3 {
                Ok(calls)
            } else {
                Err(format!("call {calls}"))
            }
        });
        assert_eq!(got.unwrap(), 3);
    }

    #[test]
    fn timeout_names_what_was_awaited_and_the_last_value_seen() {
        let mut calls = 0;
        let err = until("the answer 42", Duration::from_millis(600), || {
            calls += 1;
            Err::<(), _>(format!("answer {calls}"))
        })
        .unwrap_err();
        assert_eq!(err.what, "the answer 42");
        assert_eq!(err.last_seen, format!("answer {calls}"));
        assert_eq!(err.attempts, calls);
        assert!(calls >= 2, "polled only {calls} times");
        let text = err.to_string();
        assert!(text.contains("waiting for the answer 42"), "{text}");
        assert!(
            text.contains(&format!("last seen: answer {calls}")),
            "{text}"
        );
    }

    #[test]
    fn a_past_deadline_still_asks_once() {
        let got = until_deadline("a ready thing", Instant::now(), || Ok::<_, String>(7));
        assert_eq!(got.unwrap(), 7);
    }
}
