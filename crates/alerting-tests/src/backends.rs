//! Private instances of what our exporters watch, for one test each: `redis-server` and a
//! PostgreSQL cluster from Debian's packages on free loopback ports, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{free_port, require_command, ServiceProcess};

/// `redis-server` on `port` (loopback only, no persistence) with `extra` arguments, its working
/// directory `dir`.
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

/// A throwaway PostgreSQL cluster (Debian's binaries, trust authentication on 127.0.0.1 only),
/// run as the `postgres` user through `runuser` when the test runs as root (PostgreSQL refuses
/// root); stopped on drop.
pub struct PgCluster {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PgCluster {
    /// initdb and start; panics saying what to install when PostgreSQL is missing.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").is_file())
                    .max()
            })
            .unwrap_or_else(|| {
                panic!("this test needs PostgreSQL: run `apt-get install postgresql`")
            });
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        if as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status();
            assert!(
                chown.is_ok_and(|s| s.success()),
                "chown the cluster directory to postgres"
            );
        }
        let cluster = Self {
            port: free_port(),
            bin,
            data: dir.path().join("data"),
            as_postgres,
            _dir: dir,
        };
        let data = cluster.data.display().to_string();
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
        let socket_dir = dir_of(&cluster.data);
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={socket_dir}",
            cluster.port
        );
        let log = format!("{data}/log");
        cluster.run(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-w", "-l", &log, "start"],
        );
        cluster
    }

    /// A connection URI for the superuser (no password: trust on loopback).
    pub fn uri(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn dir_of(path: &Path) -> String {
    path.parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
