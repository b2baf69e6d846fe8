//! One named thread for a service's blocking reads (files under /proc, /sys, cgroupfs).
//!
//! tokio's blocking pool starts a new thread whenever the previous one is still busy and keeps
//! it for ten seconds; under concurrent scrapes an exporter ended up with four or five of them,
//! and glibc gives every thread that allocates its own malloc arena (0.5-0.8 MB each, measured
//! on host-exporter). Scrapes are already single-flight, so one thread that runs jobs in order
//! loses nothing and keeps the memory of one.

use std::sync::mpsc;

/// A job and where its result goes.
type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs blocking jobs one after another; callers await their own job's result.
/// The thread ends when the worker is dropped.
pub struct BlockingWorker {
    name: String,
    jobs: mpsc::Sender<Job>,
}

/// The job did not return: it panicked, or the thread is gone.
#[derive(Debug, thiserror::Error)]
#[error("the {0} thread has stopped")]
pub struct WorkerStopped(pub String);

impl BlockingWorker {
    /// Starts the thread, named `name` (as shown by `top -H` and in /proc/PID/task/*/comm).
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    // A job that panics (a bug; release builds abort) fails only its own caller.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        Ok(Self {
            name: name.to_string(),
            jobs,
        })
    }

    /// Runs `f` on the worker thread and returns what it returned. Jobs queue behind one
    /// another; a caller that stops waiting (a scrape timeout) leaves its job to finish.
    pub async fn run<T, F>(&self, f: F) -> Result<T, WorkerStopped>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have given up waiting; then nobody wants the result.
            let _ = reply.send(f());
        });
        let stopped = || WorkerStopped(self.name.clone());
        self.jobs.send(job).map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_one_named_thread_in_order() {
        let worker = BlockingWorker::start("test-reader").unwrap();
        let mut names = Vec::new();
        for i in 0..5 {
            let (n, name) = worker
                .run(move || (i, std::thread::current().name().map(str::to_string)))
                .await
                .unwrap();
            assert_eq!(n, i);
            names.push(name);
        }
        assert!(names.iter().all(|n| n.as_deref() == Some("test-reader")));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_the_worker_goes_on() {
        let worker = BlockingWorker::start("test-panics").unwrap();
        let err = worker.run(|| -> u8 { panic!("boom") }).await;
        assert!(
            err.is_err(),
            "a job that panicked must not look like a result"
        );
        assert_eq!(worker.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn concurrent_callers_each_get_their_own_result() {
        let worker = std::sync::Arc::new(BlockingWorker::start("test-concurrent").unwrap());
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let w = worker.clone();
                tokio::spawn(async move { w.run(move || i * 10).await.unwrap() })
            })
            .collect();
        let mut got = Vec::new();
        for h in handles {
            got.push(h.await.unwrap());
        }
        assert_eq!(got, (0..8u64).map(|i| i * 10).collect::<Vec<_>>());
    }
}
