//! A Docker daemon stand-in on a unix socket that answers docker-api's container list with an
//! endless body: docker-api stops reading at its cap, reports the daemon unreachable with the
//! reason, and keeps answering `/health` within 1 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Api;
use serde_json::Value;
use testkit::fake_daemon::{Answer, FakeDaemon};

/// docker-api's own full container list is a body without end; the rest answers as a daemon
/// with nothing happening would.
fn answer(path: &str) -> Answer {
    let list = path.starts_with("/containers/json");
    match path {
        _ if path.starts_with("/version") => Answer::Json(
            r#"{"Version":"29.0.0","ApiVersion":"1.52","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#,
        ),
        _ if path.starts_with("/info") => {
            Answer::Json(r#"{"Name":"hostile","NCPU":1,"MemTotal":1000000}"#)
        }
        _ if path.starts_with("/_ping") => Answer::Text("OK"),
        _ if list && (path.contains("all=1") || path.contains("all=true")) => {
            Answer::EndlessBody { first: "[" }
        }
        _ if list => Answer::Json("[]"),
        _ if path.starts_with("/events") => Answer::QuietStream,
        _ => Answer::NotFound,
    }
}

#[test]
fn a_daemon_answering_without_end_is_cut_off_at_the_cap() {
    let daemon = FakeDaemon::unix(answer);
    let api = Api::start(daemon.url(), &["--stats.source=daemon"]);
    let health = api.wait_for("/health", Duration::from_secs(30), |status, body| {
        status == 503
            && body["error"]
                .as_str()
                .is_some_and(|e| e.contains("larger than 67108864 bytes"))
    });
    assert_eq!(health["docker"]["reachable"], false, "{health}");
    let r = testkit::http::get_with(&api.url("/health"), &[], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("/health within 1 s: {e}"));
    assert_eq!(r.status, 503);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["service"], "docker-api");
    let (status, body) = api.get_json("/api/containers");
    assert_eq!(status, 503, "{body}");
    // Each reading stopped at the cap; the stand-in could push little more into the socket.
    let sent = daemon.most_sent();
    assert!(
        sent < 96 * 1024 * 1024,
        "{sent} bytes were taken in one answer"
    );
}
