//! A hostile backend: a TCP listener that accepts connections, never says a word and closes each
//! one after a delay. A PostgreSQL or Redis client connecting to it waits that long and then
//! fails, so a service's collection takes a known time and then completes (with `*_up 0`).

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct SilentBackend {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
}

impl SilentBackend {
    /// Listens on a free loopback port; every connection is held `hold`, then closed.
    pub fn start(hold: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the silent backend");
        let port = listener.local_addr().expect("local address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        // The thread lives as long as the test process; the listener is never closed, so a
        // late client still gets the same treatment.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    std::thread::sleep(hold);
                    drop(stream);
                });
            }
        });
        Self { port, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
