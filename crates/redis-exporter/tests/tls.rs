//! `rediss://` against a real `redis-server` with TLS (Debian's build has it), certificates made
//! by `openssl`: verified with the CA file, refused with another CA, and read through the same
//! per-scrape reply budget (32 MiB) as plain TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{exporter, get_within, scrape, up, RedisServer};

/// A key name longer than the reply budget: the `SCAN` of `--check-keys` must send it back.
const HUGE_KEY_BYTES: u64 = 40 << 20;

/// A `redis-server` answering TLS on `tls_port` (no client certificates asked) with `name`'s
/// certificate; its plain port stays open on loopback for `redis-cli` to set data with.
struct TlsRedis {
    redis: RedisServer,
    tls_port: u16,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = testkit::postgres::certificates(dir.path(), name);
        let tls_port = testkit::free_port();
        let s = |p: &PathBuf| p.display().to_string();
        let redis = RedisServer::start_with(
            None,
            &[
                "--tls-port",
                &tls_port.to_string(),
                "--tls-cert-file",
                &s(&cert),
                "--tls-key-file",
                &s(&key),
                "--tls-ca-cert-file",
                &s(&ca),
                "--tls-auth-clients",
                "no",
            ],
        );
        Self {
            redis,
            tls_port,
            ca,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }
}

fn ca_flag(ca: &std::path::Path) -> String {
    format!("--tls-ca-cert-file={}", ca.display())
}

fn health_answers(exp: &testkit::ServiceProcess) {
    let health = get_within(&exp.url("/health"), Duration::from_secs(5));
    assert_eq!(health.status, 200, "{}", health.body);
}

#[test]
fn redis_rediss_with_the_ca_is_scraped_and_a_reply_over_the_budget_is_up_zero() {
    let server = TlsRedis::start("rediss-budget");
    server.redis.cli(&["SET", "counter", "7"]);
    let exp = exporter(
        &[&ca_flag(&server.ca), "--check-keys=huge:*,counter"],
        &[("REDIS_ADDR", &server.url())],
    );

    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", exp.logs());
    assert!(f["redis_uptime_in_seconds"].value(&[]).is_some());
    assert_eq!(
        f["redis_connected_clients"].value(&[]).map(|v| v >= 1.0),
        Some(true)
    );
    assert_eq!(
        f["redis_key_size"].value(&[("db", "db0"), ("key", "counter")]),
        Some(1.0)
    );

    // One key whose name alone is more than the budget; SCAN MATCH huge:* returns it.
    let make =
        format!("return redis.call('SET', 'huge:' .. string.rep('x', {HUGE_KEY_BYTES}), '1')");
    assert_eq!(server.redis.cli(&["EVAL", &make, "0"]).trim(), "OK");
    let (text, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 0.0, "the 40 MiB key name was read: {}", exp.logs());
    assert!(text.len() < (1 << 20), "{} bytes of metrics", text.len());
    health_answers(&exp);

    let drop = format!("return redis.call('DEL', 'huge:' .. string.rep('x', {HUGE_KEY_BYTES}))");
    assert_eq!(server.redis.cli(&["EVAL", &drop, "0"]).trim(), "1");
    let (_, f) = scrape(&exp.url("/metrics"));
    assert_eq!(up(&f), 1.0, "after the key is gone: {}", exp.logs());
    assert_eq!(
        f["redis_key_size"].value(&[("db", "db0"), ("key", "counter")]),
        Some(1.0)
    );
}

#[test]
fn redis_rediss_with_another_ca_is_up_zero_unless_verification_is_skipped() {
    let server = TlsRedis::start("rediss-server");
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = testkit::postgres::certificates(other.path(), "rediss-other");

    let exp = exporter(&[&ca_flag(&other_ca)], &[("REDIS_ADDR", &server.url())]);
    for _ in 0..2 {
        let (_, f) = scrape(&exp.url("/metrics"));
        assert_eq!(up(&f), 0.0, "{}", exp.logs());
        health_answers(&exp);
    }
    assert!(!exp.logs().contains("panicked"), "{}", exp.logs());

    // The same wrong CA with --skip-tls-verification: the handshake no longer checks who the
    // server is, and the scrape goes through.
    let skipping = exporter(
        &[&ca_flag(&other_ca), "--skip-tls-verification"],
        &[("REDIS_ADDR", &server.url())],
    );
    let (_, f) = scrape(&skipping.url("/metrics"));
    assert_eq!(up(&f), 1.0, "{}", skipping.logs());
}
