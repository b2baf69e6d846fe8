//! The host exporter: runs the enabled collectors (or those a scrape's `collect[]` names) and
//! records how each went, as node_exporter does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use metrics_core::{BlockingWorker, Exporter, MetricSet, Scrape, ScrapeError};

use crate::collector::{self, Collector, CollectorError, Context, Host, NAMESPACE};
use crate::config::Config;

pub struct HostExporter {
    inner: Arc<Collectors>,
    reader: BlockingWorker,
}

/// What a scrape runs, shared with the blocking thread that runs it.
struct Collectors {
    context: Context,
    enabled: Vec<&'static Collector>,
    /// The last error of each failing collector, so a failure is logged once when it starts
    /// (or changes), not on every scrape.
    failing: Mutex<HashMap<&'static str, String>>,
}

impl HostExporter {
    pub fn new(config: &Config) -> Result<Self, String> {
        for name in config.collectors.keys() {
            if collector::find(name).is_none() {
                return Err(format!("unknown collector {name:?} in collectors"));
            }
        }
        let enabled = collector::ALL
            .iter()
            .filter(|c| {
                config
                    .collectors
                    .get(c.name)
                    .copied()
                    .unwrap_or(c.enabled_by_default && !config.collector.disable_defaults)
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Collectors {
                context: Context::new(&config.path, &config.collector)?,
                enabled,
                failing: Mutex::new(HashMap::new()),
            }),
            reader: BlockingWorker::start("host-reader")
                .map_err(|e| format!("cannot start the reader thread: {e}"))?,
        })
    }

    pub fn enabled_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.inner.enabled.iter().map(|c| c.name)
    }
}

impl Collectors {
    /// The collectors a scrape asks for: all enabled ones, those named by `collect[]`, or all
    /// enabled ones but those named by `exclude[]` (node_exporter 1.9; unknown names there are
    /// ignored, and the two together are refused).
    fn selected(&self, scrape: &Scrape) -> Result<Vec<&'static Collector>, ScrapeError> {
        let wanted: Vec<&str> = scrape.params("collect[]").collect();
        let excluded: Vec<&str> = scrape.params("exclude[]").collect();
        if !wanted.is_empty() && !excluded.is_empty() {
            return Err(ScrapeError::BadRequest(
                "Combined collect and exclude queries are not allowed.".into(),
            ));
        }
        if !excluded.is_empty() {
            return Ok(self
                .enabled
                .iter()
                .copied()
                .filter(|c| !excluded.contains(&c.name))
                .collect());
        }
        if wanted.is_empty() {
            return Ok(self.enabled.clone());
        }
        let mut out = Vec::with_capacity(wanted.len());
        for name in wanted {
            let Some(found) = collector::find(name) else {
                return Err(ScrapeError::BadRequest(format!(
                    "Couldn't create filtered metrics handler: missing collector: {name}"
                )));
            };
            if !self.enabled.iter().any(|c| c.name == name) {
                return Err(ScrapeError::BadRequest(format!(
                    "Couldn't create filtered metrics handler: disabled collector: {name}"
                )));
            }
            if !out.iter().any(|c: &&Collector| c.name == name) {
                out.push(found);
            }
        }
        Ok(out)
    }

    /// Runs the given collectors one after the other into one set.
    pub fn collect_blocking(&self, collectors: &[&'static Collector]) -> MetricSet {
        let mut set = MetricSet::new();
        let host = Host::new(&self.context);
        for c in collectors {
            let start = Instant::now();
            let mut own = MetricSet::new();
            let result = (c.collect)(&host, &mut own);
            let elapsed = start.elapsed();
            let ok = result.is_ok();
            if ok {
                set.append(own);
            }
            self.note_outcome(c.name, result.err());
            set.record_collector(NAMESPACE, c.name, elapsed, ok);
        }
        crate::build_info(&mut set);
        set
    }

    fn note_outcome(&self, name: &'static str, error: Option<CollectorError>) {
        let mut failing = match self.failing.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        match error {
            None => {
                if failing.remove(name).is_some() {
                    tracing::info!(collector = name, "collector recovered");
                }
            }
            Some(e) => {
                let message = e.to_string();
                if failing.get(name) == Some(&message) {
                    return;
                }
                if matches!(e, CollectorError::NoData(_)) {
                    tracing::debug!(collector = name, error = %message, "collector has no data on this host");
                } else {
                    tracing::error!(collector = name, error = %message, "collector failed");
                }
                failing.insert(name, message);
            }
        }
    }
}

impl Exporter for HostExporter {
    /// `collect[]` and `exclude[]` choose the collectors: scrapes that differ in them must not
    /// share a collection.
    fn shared_params(&self, _path: &str) -> &'static [&'static str] {
        &["collect[]", "exclude[]"]
    }

    async fn collect(&self, scrape: &Scrape) -> Result<MetricSet, ScrapeError> {
        let selected = self.inner.selected(scrape)?;
        // File reads block (and statvfs on a dead NFS server can block for good; that collector
        // has its own thread and timeout), so collection runs on the reader thread: the HTTP
        // worker stays free and the scrape timeout can still answer.
        let inner = self.inner.clone();
        self.reader
            .run(move || inner.collect_blocking(&selected))
            .await
            .map_err(|e| ScrapeError::Unavailable(format!("collection failed: {e}")))
    }
}
