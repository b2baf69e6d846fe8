//! The `healthcheck` subcommand calls the address the server really listens on: cAdvisor's
//! `--port` moves it (before metrics-core's start-up path, the check called `:8080` whatever
//! `--port` said).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use testkit::{free_port, ServiceProcess};

const BINARY: &str = env!("CARGO_BIN_EXE_container-exporter");

#[test]
fn healthcheck_follows_the_port_flag() {
    let port = free_port();
    let args = vec![
        format!("--port={port}"),
        "--listen_ip=127.0.0.1".to_string(),
    ];
    let server = ServiceProcess::start(BINARY, &args, port);
    // Healthy once the first container listing is done: a bounded poll.
    let mut out = Command::new(BINARY)
        .args(&args)
        .arg("healthcheck")
        .output()
        .unwrap();
    for _ in 0..60 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        out = Command::new(BINARY)
            .args(&args)
            .arg("healthcheck")
            .output()
            .unwrap();
    }
    assert!(
        out.status.success(),
        "healthcheck with --port {port} failed: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    drop(server);
    // With the server gone the same check fails: it really asked that port.
    let out = Command::new(BINARY)
        .args(&args)
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "healthcheck succeeded with nothing listening"
    );
}
