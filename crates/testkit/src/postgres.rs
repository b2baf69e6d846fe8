//! A private PostgreSQL cluster for a test or a benchmark: `initdb` in a temp dir, `postgres` on a
//! free port (TCP on 127.0.0.1, unix socket in the temp dir), a password-authenticated monitoring
//! user, and `pg_ctl stop` on drop. Debian's PostgreSQL binaries are used; PostgreSQL refuses to
//! run as root, so as root everything runs as the `postgres` system user through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const MONITOR_USER: &str = "monitor";
/// Plain characters: postgres_exporter 0.11 rejects passwords with spaces or quotes.
pub const MONITOR_PASSWORD: &str = "m0n-itor_pw";
const SUPERUSER_PASSWORD: &str = "super-secret";

pub struct PgCluster {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

impl PgCluster {
    /// initdb, start, and create the `monitor` user (member of `pg_monitor`).
    pub fn start() -> Self {
        let cluster = Self::empty();
        let pwfile = cluster.dir.path().join("pw");
        cluster.write_owned(&pwfile, SUPERUSER_PASSWORD);
        let data = cluster.data_dir();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.append_own_settings();
        cluster.start_server();
        cluster.psql(
            "postgres",
            &format!(
                "CREATE ROLE {MONITOR_USER} LOGIN PASSWORD '{}' IN ROLE pg_monitor",
                MONITOR_PASSWORD.replace('\'', "''")
            ),
        );
        cluster
    }

    /// A streaming-replication standby of `primary` (pg_basebackup -R), started.
    pub fn standby_of(primary: &PgCluster) -> Self {
        let cluster = Self::empty();
        let data = cluster.data_dir();
        let passfile = cluster.dir.path().join("pgpass");
        cluster.write_owned(
            &passfile,
            &format!(
                "127.0.0.1:{}:*:postgres:{SUPERUSER_PASSWORD}\n",
                primary.port
            ),
        );
        let mut args = vec![
            "env".to_string(),
            format!("PGPASSFILE={}", passfile.display()),
            self_bin(&cluster.bin, "pg_basebackup"),
        ];
        args.extend(
            [
                "-D",
                &data.display().to_string(),
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ]
            .iter()
            .map(|a| a.to_string()),
        );
        let out = cluster.run_raw(&args);
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.append_own_settings();
        cluster.start_server();
        cluster
    }

    fn empty() -> Self {
        let bin = find_bin_dir();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("clustermon-pg-")
            .tempdir()
            .unwrap();
        if as_postgres {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "chown: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Self {
            port: crate::free_port(),
            dir,
            bin,
            as_postgres,
        }
    }

    fn write_owned(&self, path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        let mut perms = std::fs::metadata(path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(path, perms).unwrap();
        if self.as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(path)
                .output()
                .unwrap();
        }
    }

    /// Port, sockets and test-friendly settings, after whatever initdb or a base backup wrote.
    fn append_own_settings(&self) {
        let conf = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_connections = 50\nshared_buffers = 16MB\n",
            self.port,
            self.dir.path().display()
        );
        let conf_path = self.data_dir().join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).unwrap();
    }

    /// Turns TLS on with a fresh certificate (for 127.0.0.1 and localhost, signed by a fresh CA)
    /// and allows only TLS connections over TCP; returns the CA certificate. Needs `openssl`.
    pub fn enable_tls(&self) -> PathBuf {
        let (ca, cert, key) = certificates(self.dir.path(), "pg");
        if self.as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&cert)
                .arg(&key)
                .output()
                .unwrap();
        }
        let conf = format!(
            "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            cert.display(),
            key.display()
        );
        let conf_path = self.data_dir().join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).unwrap();
        std::fs::write(
            self.data_dir().join("pg_hba.conf"),
            "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        self.stop_server();
        self.start_server();
        ca
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `postgresql://monitor:...@127.0.0.1:PORT/db?sslmode=disable`, password percent-encoded.
    pub fn uri(&self, db: &str) -> String {
        format!(
            "postgresql://{MONITOR_USER}:{}@127.0.0.1:{}/{db}?sslmode=disable",
            encode(MONITOR_PASSWORD),
            self.port
        )
    }

    pub fn uri_with_password(&self, db: &str, password: &str) -> String {
        format!(
            "postgresql://{MONITOR_USER}:{}@127.0.0.1:{}/{db}?sslmode=disable",
            encode(password),
            self.port
        )
    }

    /// Starts (again) the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let log = self.dir.path().join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: sessions are closed).
    pub fn stop_server(&self) {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL as the superuser over the unix socket; panics on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.psql_output(db, sql);
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs a script of several statements as the superuser, each in its own transaction (so
    /// `CREATE DATABASE` may be among them); panics on the first failure.
    pub fn psql_script(&self, db: &str, script: &str) {
        use std::io::Write;
        let mut child = self
            .psql_command(db)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "psql script on {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `psql` connected as the superuser over TCP, before its own options.
    fn psql_command(&self, db: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .env("PGPASSWORD", SUPERUSER_PASSWORD);
        command
    }

    fn psql_output(&self, db: &str, sql: &str) -> Output {
        self.psql_command(db)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-c", sql])
            .output()
            .unwrap()
    }

    /// A `psql` session kept open (for open transactions and held locks); killed on drop.
    pub fn hold(&self, db: &str, sql: &str) -> HeldSession {
        let mut child = self
            .psql_command(db)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql}").unwrap();
        stdin.flush().unwrap();
        HeldSession { child }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut all = vec![self_bin(&self.bin, program)];
        all.extend(args.iter().map(|a| a.to_string()));
        self.run_raw(&all)
    }

    /// Runs a command line, as the `postgres` user when we are root.
    fn run_raw(&self, argv: &[String]) -> Output {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(argv);
            c
        } else {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        };
        cmd.current_dir(self.dir.path()).output().unwrap()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

pub struct HeldSession {
    child: std::process::Child,
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// With `openssl`: a certificate authority and a server certificate it signed, valid for
/// 127.0.0.1 and localhost. Returns (CA certificate, server certificate, server key).
pub fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    certificates_for(dir, name, "DNS:localhost,IP:127.0.0.1")
}

/// [`certificates`] with the server certificate valid for `subject_alt_names` alone (openssl's
/// form: `DNS:cluster-docker-api,IP:10.0.0.2`).
pub fn certificates_for(
    dir: &Path,
    name: &str,
    subject_alt_names: &str,
) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = crate::require_command("openssl", "openssl");
    let path = |suffix: &str| dir.join(format!("{name}-{suffix}"));
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (ca_key, ca_crt) = (path("ca.key"), path("ca.crt"));
    let (key, csr, crt, ext) = (
        path("server.key"),
        path("server.csr"),
        path("server.crt"),
        path("ext.cnf"),
    );
    std::fs::write(
        &ext,
        format!("subjectAltName={subject_alt_names}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    let s = |p: &PathBuf| p.display().to_string();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}-ca"),
        "-keyout",
        &s(&ca_key),
        "-out",
        &s(&ca_crt),
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca_crt),
        "-CAkey",
        &s(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&crt),
    ]);
    let mut perms = std::fs::metadata(&key).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&key, perms).unwrap();
    (ca_crt, crt, key)
}

fn self_bin(bin: &Path, program: &str) -> String {
    bin.join(program).display().to_string()
}

fn find_bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").is_file());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "this needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb): \
             run `apt-get install postgresql` (or `bash scripts/install-test-deps`)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
