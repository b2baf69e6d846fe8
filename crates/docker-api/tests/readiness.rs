//! Readiness against the real Docker engine: docker-api's `/health` (what compose's health check
//! and `docker-api healthcheck` ask) answers 200 only once its first complete container listing
//! and sample are published, so the first time it says ready, `/api/containers` already lists
//! every container that runs; before that the list answers 503, never a short list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::Api;
use serde_json::Value;
use testkit::docker::Container;

fn names(list: &Value) -> Vec<String> {
    list["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls from the moment the process listens; returns how many not-ready answers came first.
fn first_ready_lists_everything(running: &[&Container], stopped: &Container) -> usize {
    let api = Api::start("unix:///var/run/docker.sock", &[]);
    let started = Instant::now();
    let mut not_ready = 0;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "docker-api was not ready within 30 s; logs:\n{}",
            api.process.logs()
        );
        // Whenever the list answers, it is whole: a 200 with a short list is the defect.
        let (status, list) = api.get_json("/api/containers?all=true");
        if status == 200 {
            let listed = names(&list);
            for c in running.iter().copied().chain([stopped]) {
                assert!(
                    listed.contains(&c.name),
                    "/api/containers answered 200 without {} ({:?} after start): {list}",
                    c.name,
                    started.elapsed()
                );
            }
        } else {
            assert_eq!(status, 503, "{list}");
        }
        let (status, health) = api.get_json("/health");
        if status != 200 {
            assert_eq!(status, 503, "{health}");
            assert_eq!(health["ready"], false, "{health}");
            not_ready += 1;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        assert_eq!(health["ready"], true, "{health}");
        // The first time it says ready: every running container, with its state, and the
        // aggregate counting them.
        let (status, list) = api.get_json("/api/containers");
        assert_eq!(status, 200, "{list}");
        for c in running {
            let found = list["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == c.name.as_str())
                .unwrap_or_else(|| panic!("ready, but {} is not listed: {list}", c.name));
            assert_eq!(found["state"], "running", "{found}");
        }
        let (status, aggregate) = api.get_json("/api/stats/aggregate");
        assert_eq!(status, 200, "{aggregate}");
        let sampled: Vec<&str> = aggregate["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        for c in running {
            assert!(
                sampled.contains(&c.name.as_str()),
                "ready, but {} has no sample: {aggregate}",
                c.name
            );
        }
        return not_ready;
    }
}

#[test]
fn docker_engine_ready_only_once_every_running_container_is_listed() {
    testkit::docker::require_docker();
    let running: Vec<Container> = (0..4).map(|_| Container::run(&[], "sleep 600")).collect();
    let stopped = Container::run(&[], "exit 3");
    common::docker(&["wait", &stopped.id]);
    let running: Vec<&Container> = running.iter().collect();
    // Several starts: the window before the first listing is short and depends on timing.
    let mut not_ready = Vec::new();
    for _ in 0..3 {
        not_ready.push(first_ready_lists_everything(&running, &stopped));
    }
    eprintln!("not-ready answers before the first ready one, per start: {not_ready:?}");
}
