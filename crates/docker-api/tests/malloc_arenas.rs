//! docker-api bounds glibc's malloc arenas (metrics_core::malloc_arenas): started without a
//! bound, it runs itself again with `glibc.malloc.arena_max=2` (same pid), and after requests on
//! every HTTP worker and a stream client it has at most one arena besides the main heap; a bound
//! the operator set is kept. Needs the Docker engine (docker-api reads its containers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::Duration;

use testkit::{free_port, ServiceProcess};

/// glibc maps each arena other than the main one as heaps of 64 MiB reserved and aligned on it.
const ARENA_HEAP_ALIGN: u64 = 64 << 20;

fn start(env: &[(&str, &str)]) -> ServiceProcess {
    let port = free_port();
    let args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--stats.interval=1s".to_string(),
        "--log.level=warn".to_string(),
    ];
    ServiceProcess::start_with_env(env!("CARGO_BIN_EXE_docker-api"), &args, env, port)
}

fn environment(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// Anonymous mappings starting on a 64 MiB boundary: the heaps of arenas other than the main one.
fn arena_heaps(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let anonymous = fields.len() == 5 && fields[4] == "0";
            let start = fields
                .first()
                .and_then(|range| range.split('-').next())
                .and_then(|s| u64::from_str_radix(s, 16).ok());
            anonymous && start.is_some_and(|s| s % ARENA_HEAP_ALIGN == 0)
        })
        .count()
}

/// Work on every thread that serves: concurrent API calls and a stream client for a while.
fn exercise(service: &ServiceProcess) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    stream
        .write_all(
            b"GET /api/stats/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
        )
        .unwrap();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let urls = [
                "/api/containers?all=true",
                "/api/stats/aggregate",
                "/metrics",
                "/api/stats/history",
            ]
            .map(|p| service.url(p));
            std::thread::spawn(move || {
                for _ in 0..10 {
                    for url in &urls {
                        let _ = testkit::http::get_with(
                            url,
                            &[("Accept-Encoding", "gzip")],
                            Duration::from_secs(10),
                        );
                    }
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
}

#[test]
fn docker_api_runs_with_at_most_two_malloc_arenas() {
    if std::env::var_os("GLIBC_TUNABLES").is_some()
        || std::env::var_os("MALLOC_ARENA_MAX").is_some()
    {
        panic!("run this test without GLIBC_TUNABLES and MALLOC_ARENA_MAX in the environment");
    }
    let service = start(&[]);
    let env = environment(service.pid());
    assert!(
        env.iter()
            .any(|v| v == "GLIBC_TUNABLES=glibc.malloc.arena_max=2"),
        "not re-run with the bound: {env:?}\nlog:\n{}",
        service.logs()
    );
    exercise(&service);
    let heaps = arena_heaps(service.pid());
    assert!(heaps <= 1, "{heaps} arena heaps besides the main one");
    let health =
        testkit::http::get_with(&service.url("/health"), &[], Duration::from_secs(10)).unwrap();
    assert_eq!(health.status, 200, "{}", health.body);
}

#[test]
fn an_arena_bound_the_operator_set_is_kept() {
    let service = start(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")]);
    let env = environment(service.pid());
    assert!(
        env.iter()
            .any(|v| v == "GLIBC_TUNABLES=glibc.malloc.arena_max=4"),
        "{env:?}"
    );
    assert!(
        !env.iter()
            .any(|v| v.starts_with("CLUSTERMON_MALLOC_ARENAS_BOUND=")),
        "ran itself again although a bound was set: {env:?}"
    );
    exercise(&service);
    let heaps = arena_heaps(service.pid());
    assert!(
        heaps <= 3,
        "{heaps} arena heaps besides the main one with arena_max=4"
    );
}
