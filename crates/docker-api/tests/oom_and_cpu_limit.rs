//! Against the real Docker engine: a container the kernel's OOM killer killed is told apart
//! from one killed with SIGKILL (both exit 137) in the container list and on the event stream,
//! and a container's CPU limit is served in `cpu.percent`'s unit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{docker, Api};
use serde_json::Value;
use testkit::docker::Container;
use testkit::wait::{check, expect};

const DOCKER: &str = "unix:///var/run/docker.sock";

/// `dd` with a 48 MiB block fills its buffer: in a 16 MiB container without swap the kernel
/// kills it. Runs as the container's main process after a moment, so the test sees it running.
const OOM_SOON: &str = "sleep 2; exec dd if=/dev/zero of=/dev/null bs=48M count=1";

/// The event stream's text as it arrives, read by a thread until the connection ends.
fn follow_stream(api: &Api) -> Arc<Mutex<String>> {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", api.process.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.write_all(
        b"GET /api/stats/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
    )
    .unwrap();
    let text = Arc::new(Mutex::new(String::new()));
    let shared = text.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(conn);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            shared.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    text
}

/// The `container` events on the stream so far, as JSON (line by line: the body is chunked,
/// so chunk sizes sit between the frames).
fn container_events(text: &Mutex<String>) -> Vec<Value> {
    let text = text.lock().unwrap().clone();
    let mut event = "";
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event == "container" {
                out.extend(serde_json::from_str::<Value>(data).ok());
            }
        }
    }
    out
}

fn listed<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["containers"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)
}

#[test]
fn docker_oom_killed_container_is_marked_and_a_sigkilled_one_is_not() {
    testkit::docker::require_docker();
    testkit::docker::test_image();
    let api = Api::start(DOCKER, &[]);
    api.wait_for("/health", Duration::from_secs(20), |s, _| s == 200);
    let stream = follow_stream(&api);
    let oom = Container::run(&["-m", "16m", "--memory-swap", "16m"], OOM_SOON);
    let killed = Container::run(&[], "sleep 300");
    api.wait_for(
        "/api/containers?all=true",
        Duration::from_secs(20),
        |_, v| listed(v, &killed.id).is_some_and(|c| c["state"] == "running"),
    );
    docker(&["kill", "-s", "KILL", &killed.id]);

    let list = api.wait_for(
        "/api/containers?all=true",
        Duration::from_secs(30),
        |_, v| {
            [&oom.id, &killed.id]
                .iter()
                .all(|id| listed(v, id).is_some_and(|c| c["state"] == "exited"))
        },
    );
    let (o, k) = (
        listed(&list, &oom.id).unwrap(),
        listed(&list, &killed.id).unwrap(),
    );
    assert_eq!(o["oom_killed"], true, "{o}");
    assert_eq!(k["oom_killed"], false, "{k}");
    // Both died of SIGKILL: only the flag tells them apart.
    for c in [o, k] {
        let status = c["status"].as_str().unwrap();
        assert!(status.starts_with("Exited (137)"), "{c}");
    }

    let events = expect(
        "the oom event on the stream",
        Duration::from_secs(10),
        || {
            let events = container_events(&stream);
            let found = events
                .iter()
                .any(|e| e["action"] == "oom" && e["id"] == oom.id.as_str());
            check(found, || format!("{events:?}")).map(|()| events)
        },
    );
    let event = events
        .iter()
        .find(|e| e["action"] == "oom" && e["id"] == oom.id.as_str())
        .unwrap();
    assert_eq!(event["name"], oom.name.as_str(), "{event}");
    assert_eq!(event["exit_code"], 137, "{event}");
    // The killed container was listed (so inspected) before: an oom event for it would be out.
    std::thread::sleep(Duration::from_secs(2));
    let events = container_events(&stream);
    assert!(
        !events
            .iter()
            .any(|e| e["action"] == "oom" && e["id"] == killed.id.as_str()),
        "{events:?}"
    );

    let (_, openapi) = api.get_json("/openapi.json");
    let container = &openapi["components"]["schemas"]["Container"]["properties"];
    assert!(container.get("oom_killed").is_some(), "{container}");
}

#[test]
fn docker_cpu_limit_is_served_in_cpu_percents_unit() {
    testkit::docker::require_docker();
    testkit::docker::test_image();
    let api = Api::start(DOCKER, &[]);
    let half = Container::run(&["--cpus", "0.5"], "sleep 300");
    let two = Container::run(
        &["--cpu-quota", "200000", "--cpu-period", "100000"],
        "sleep 300",
    );
    let free = Container::run(&[], "sleep 300");
    let limit = |c: &Container| {
        let path = format!("/api/containers/{}/stats", c.id);
        let v = api.wait_for(&path, Duration::from_secs(20), |s, _| s == 200);
        v["cpu"].get("limit_percent").cloned()
    };
    assert_eq!(limit(&half), Some(Value::from(50.0)));
    assert_eq!(limit(&two), Some(Value::from(200.0)));
    assert_eq!(limit(&free), None);
    // The aggregate carries each container's figures, limit included.
    let aggregate = api.wait_for("/api/stats/aggregate", Duration::from_secs(10), |s, v| {
        s == 200
            && v["containers"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["id"] == half.id.as_str()))
    });
    let mine = aggregate["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == half.id.as_str())
        .unwrap();
    assert_eq!(mine["cpu"]["limit_percent"], 50.0, "{mine}");
    let (_, openapi) = api.get_json("/openapi.json");
    let cpu = &openapi["components"]["schemas"]["Cpu"]["properties"];
    assert!(cpu.get("limit_percent").is_some(), "{cpu}");
}
