//! One scrape request, its deadline, and single-flight: concurrent scrapes of the same thing share
//! one collection instead of piling up on a slow backend.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// What a scraper asked for.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The path scraped (`/metrics`, `/probe`, ...).
    pub path: String,
    /// Query parameters in order, repeated keys kept (`collect[]=cpu&collect[]=meminfo`).
    pub query: Vec<(String, String)>,
    /// How long this scrape may take in all.
    pub timeout: Duration,
    pub deadline: Instant,
}

impl Scrape {
    pub fn new(path: &str, query: Vec<(String, String)>, timeout: Duration) -> Self {
        Self {
            path: path.to_string(),
            query,
            timeout,
            deadline: deadline_after(timeout),
        }
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter.
    pub fn params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// `now + timeout`, or a year from now for a timeout too long to add (a configured one).
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Why a scrape produced no metrics. A backend that is down is not one of these: that is a normal
/// scrape with `*_up 0`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The request itself is wrong (unknown collector, missing target): HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request asks for something policy refuses (a target not on the allow-list): HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    /// The exporter cannot answer right now: HTTP 503.
    #[error("{0}")]
    Unavailable(String),
}

pub(crate) type Encoded = Result<Bytes, ScrapeError>;

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Encoded)>>>;

/// Shares one collection between scrapes that arrive while it runs.
///
/// A scrape waits for the collection in flight for its key, and reuses its result when that
/// collection finished after the scrape arrived (so it is at least as fresh as one it would have
/// started itself). Otherwise it collects anew.
#[derive(Default)]
pub struct SingleFlight {
    slots: Mutex<HashMap<String, Slot>>,
}

/// Keys kept before idle ones are dropped (multi-target exporters see arbitrary targets).
const MAX_KEYS: usize = 256;

impl SingleFlight {
    pub(crate) async fn run<F, Fut>(&self, key: &str, collect: F) -> Encoded
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Encoded>,
    {
        let asked = Instant::now();
        let slot = self.slot(key);
        let mut guard = slot.lock().await;
        if let Some((finished, result)) = guard.as_ref() {
            if *finished >= asked {
                return result.clone();
            }
        }
        let result = collect().await;
        *guard = Some((Instant::now(), result.clone()));
        result
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slots.len() >= MAX_KEYS && !slots.contains_key(key) {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(key.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_scrapes_share_one_collection() {
        let flights = Arc::new(SingleFlight::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let flights = flights.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                flights
                    .run("/metrics", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(Bytes::from_static(b"x 1\n"))
                    })
                    .await
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Bytes::from_static(b"x 1\n"));
        }
        // The first collects; the other seven arrived while it ran and share its result... except
        // that those arriving before it finished reuse it, so exactly one collection happened.
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_later_scrape_collects_afresh() {
        let flights = SingleFlight::default();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            flights
                .run("k", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(Bytes::new())
                })
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn repeated_query_parameters_are_kept() {
        let s = Scrape::new(
            "/metrics",
            vec![
                ("collect[]".into(), "cpu".into()),
                ("collect[]".into(), "meminfo".into()),
            ],
            Duration::from_secs(1),
        );
        assert_eq!(
            s.params("collect[]").collect::<Vec<_>>(),
            vec!["cpu", "meminfo"]
        );
        assert_eq!(s.param("target"), None);
    }
}
