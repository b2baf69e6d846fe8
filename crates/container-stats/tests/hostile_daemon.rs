//! Discovery against a Docker daemon stand-in on a unix socket that answers badly: a container
//! list that is huge, or has no end, an event stream with one endless line, and no answer at
//! all. Each ends discovery's sync with an error naming the path, and what the stand-in
//! managed to push into one answer stays near the cap (the client stopped reading there).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use container_stats::engine::{EngineApi, MAX_ANSWER_BYTES, MAX_LINE_BYTES};
use container_stats::Discovery;
use testkit::fake_daemon::{Answer, FakeDaemon};

/// How the stand-in answers.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// The container list: a `Content-Length` of 1 TiB, then bytes as fast as they are taken.
    HugeList,
    /// The container list: chunked, without end.
    EndlessList,
    /// An empty list, then an event stream that is one line without end.
    EndlessEventLine,
    /// Reads the request and says nothing.
    Silent,
}

/// A daemon stand-in misbehaving as `how` says.
fn start(how: Misbehaviour) -> FakeDaemon {
    FakeDaemon::unix(move |path| {
        let list = path.starts_with("/containers/json");
        match how {
            Misbehaviour::Silent => Answer::Silent,
            Misbehaviour::HugeList if list => Answer::HugeBody,
            Misbehaviour::EndlessList if list => Answer::EndlessChunks { first: "" },
            _ if list => Answer::Json("[]"),
            // One event line that never ends: `{"Type":"container",` and spaces.
            _ if path.starts_with("/events") => Answer::EndlessChunks {
                first: r#"{"Type":"container","#,
            },
            _ => Answer::NotFound,
        }
    })
}

fn client(daemon: &FakeDaemon, timeout: Duration) -> EngineApi {
    EngineApi::new(daemon.url(), timeout).unwrap()
}

/// Waits for discovery's last error to contain `wanted`, and returns it.
async fn error_containing(discovery: &Discovery, wanted: &str, limit: Duration) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(e) = discovery.last_error().filter(|e| e.contains(wanted)) {
            return e;
        }
        assert!(
            t0.elapsed() < limit,
            "no error containing {wanted:?} within {limit:?}; last: {:?}",
            discovery.last_error()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one answer may have pushed: the cap, plus what the socket buffers held when the client
/// stopped reading.
fn assert_near_the_cap(daemon: &FakeDaemon, cap: usize) {
    let sent = daemon.most_sent();
    assert!(
        sent < cap + 16 * 1024 * 1024,
        "{sent} bytes were taken in one answer (cap {cap})"
    );
}

#[tokio::test]
async fn a_huge_container_list_is_refused_at_the_cap() {
    let daemon = start(Misbehaviour::HugeList);
    let discovery = Discovery::with_client(client(&daemon, Duration::from_secs(30)));
    let e = error_containing(&discovery, "/containers/json", Duration::from_secs(30)).await;
    // The announced length alone is refused: nothing of it needs to be read.
    assert!(
        e.contains(&format!("larger than {MAX_ANSWER_BYTES} bytes")),
        "{e}"
    );
    assert!(!discovery.docker_up());
    assert_near_the_cap(&daemon, MAX_ANSWER_BYTES);
}

#[tokio::test]
async fn an_endless_container_list_is_cut_off_at_the_cap() {
    let daemon = start(Misbehaviour::EndlessList);
    let discovery = Discovery::with_client(client(&daemon, Duration::from_secs(30)));
    let e = error_containing(&discovery, "/containers/json", Duration::from_secs(60)).await;
    assert!(
        e.contains(&format!("larger than {MAX_ANSWER_BYTES} bytes")),
        "{e}"
    );
    assert!(!discovery.docker_up());
    assert!(daemon.most_sent() >= MAX_ANSWER_BYTES / 2);
    assert_near_the_cap(&daemon, MAX_ANSWER_BYTES);
}

#[tokio::test]
async fn an_endless_event_line_is_cut_off_at_the_line_cap() {
    let daemon = start(Misbehaviour::EndlessEventLine);
    let discovery = Discovery::with_client(client(&daemon, Duration::from_secs(30)));
    assert!(
        discovery.wait_synced(Duration::from_secs(30)).await,
        "the (empty) list was loaded"
    );
    let e = error_containing(&discovery, "/events", Duration::from_secs(60)).await;
    assert!(
        e.contains(&format!("longer than {MAX_LINE_BYTES} bytes")),
        "{e}"
    );
    assert_near_the_cap(&daemon, MAX_LINE_BYTES);
}

#[tokio::test]
async fn a_silent_daemon_times_out_instead_of_wedging_discovery() {
    let daemon = start(Misbehaviour::Silent);
    let discovery = Discovery::with_client(client(&daemon, Duration::from_secs(1)));
    let e = error_containing(
        &discovery,
        "no answer to /containers/json",
        Duration::from_secs(30),
    )
    .await;
    assert!(e.contains("within 1s"), "{e}");
    assert!(!discovery.docker_up());
}
