//! A webhook receiver for Alertmanager's notifications: a plain HTTP listener on a loopback port
//! that records every JSON body POSTed to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// A running receiver; stops listening when dropped.
pub struct WebhookReceiver {
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    /// Listens on a free loopback port.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0")
    }

    /// Listens on `address`: the stack's end-to-end test uses `0.0.0.0:9095`, where
    /// Alertmanager's container reaches the host as `host.docker.internal:9095`.
    pub fn start_on(address: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || serve(&listener, &received, &stop))
        };
        Ok(Self {
            port,
            received,
            stop,
            thread: Some(thread),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to give an Alertmanager on this machine.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/alerts", self.port)
    }

    /// Every notification received so far, oldest first.
    pub fn notifications(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `limit` for a notification that `wanted` accepts, and returns it.
    pub fn wait_for(&self, limit: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        testkit::wait::until_every(
            "a wanted notification",
            limit,
            Duration::from_millis(100),
            || {
                let all = self.notifications();
                let count = all.len();
                all.into_iter()
                    .find(|n| wanted(n))
                    .ok_or_else(|| format!("{count} notifications, none wanted"))
            },
        )
        .ok()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, received: &Mutex<Vec<Value>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(body) = read_request(stream) {
                    received
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(body);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Reads one request, answers 200 and returns its body as JSON (`Value::String` when it is not
/// JSON, so a malformed notification shows up in assertions instead of vanishing).
fn read_request(stream: TcpStream) -> Option<Value> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut content_length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = reader.into_inner();
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
    )
}
