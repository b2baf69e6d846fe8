//! A private `redis-server` from Debian's package.

use std::path::Path;

use crate::{require_command, ServiceProcess};

/// `redis-server` on `port` (loopback only, no persistence) with `extra` arguments, its working
/// directory `dir`; stopped when the returned process drops.
pub fn start_redis(port: u16, dir: &Path, extra: &[&str]) -> ServiceProcess {
    let redis = require_command("redis-server", "redis-server");
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir.display().to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    ServiceProcess::start(redis, &args, port)
}
