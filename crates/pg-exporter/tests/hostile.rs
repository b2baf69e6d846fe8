//! pg-exporter against hostile requests and awkward secrets: `/probe` naming files, TLS settings,
//! credentials or servers that are not allowed; passwords full of URL delimiters; `--help` with
//! secrets in the environment. Against a real PostgreSQL and fake servers that record what
//! reaches them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{query_encode, start_ours, OURS};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::http::get_with;
use testkit::postgres::{PgCluster, MONITOR_PASSWORD, MONITOR_USER};
use testkit::{get, parse_exposition, Response, ServiceProcess};

fn pg_up(body: &str) -> Option<f64> {
    parse_exposition(body)
        .unwrap()
        .get("pg_up")
        .and_then(|f| f.value(&[]))
}

/// `/health` answers 200 within a second.
fn assert_health_answers(ours: &ServiceProcess) {
    let r = get_with(&ours.url("/health"), &[], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("/health did not answer within 1 s: {e}"));
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The answer to a target that is not allowed: 403 with a message saying so.
fn assert_not_allowed(r: &Response, what: &str) {
    assert!(
        r.body.contains("target not allowed"),
        "{what}: {} {}",
        r.status,
        r.body
    );
    assert_eq!(r.status, 403, "{what}: {}", r.body);
}

fn refused(ours: &ServiceProcess, reason: &str) -> f64 {
    let body = get(&ours.url("/metrics")).body;
    parse_exposition(&body)
        .unwrap()
        .get("pg_exporter_requests_refused_total")
        .and_then(|f| f.value(&[("reason", reason)]))
        .unwrap_or(0.0)
}

/// A fake PostgreSQL on loopback that records what every connection sends and asks for a
/// cleartext password (so that a client that trusts it hands the password over).
struct Recorder {
    port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let log = log.clone();
                std::thread::spawn(move || {
                    let index = {
                        let mut all = log.lock().unwrap();
                        all.push(Vec::new());
                        all.len() - 1
                    };
                    stream
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    let mut buf = [0u8; 4096];
                    let mut asked = false;
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        log.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                        if !asked {
                            // AuthenticationCleartextPassword.
                            let _ = stream.write_all(b"R\0\0\0\x08\0\0\0\x03");
                            asked = true;
                        }
                    }
                });
            }
        });
        Self { port, received }
    }

    fn connections(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn everything(&self) -> String {
        let all = self.received.lock().unwrap();
        String::from_utf8_lossy(&all.concat()).into_owned()
    }
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("pg-exporter.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn auth_module_config(dir: &Path) -> String {
    write_config(
        dir,
        &format!(
            "auth_modules:\n  mon:\n    type: userpass\n    userpass:\n      username: {MONITOR_USER}\n      password: {MONITOR_PASSWORD}\n    options:\n      sslmode: disable\n"
        ),
    )
}

#[test]
fn postgres_probe_naming_a_file_is_refused_at_once_and_health_keeps_answering() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let ours = start_ours(&[], &[("DATA_SOURCE_NAME", &pg.uri("postgres"))]);
    let server = format!("127.0.0.1:{}", pg.port);
    let mut refusals = 0;
    for file in ["/dev/zero", "/dev/urandom", fifo.to_str().unwrap()] {
        for target in [
            format!("{server}/postgres?sslmode=verify-ca&sslrootcert={file}"),
            format!("postgresql://{server}/postgres?sslcert={file}&sslkey={file}"),
            format!(
                "host=127.0.0.1 port={} dbname=postgres sslmode=verify-full sslrootcert={file}",
                pg.port
            ),
            format!("{server}/postgres?passfile={file}"),
        ] {
            let url = ours.url(&format!("/probe?target={}", query_encode(&target)));
            let r = get_with(&url, &[], Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{target}: no answer: {e}\n{}", ours.logs()));
            assert_eq!(r.status, 400, "{target}: {}", r.body);
            assert!(r.body.contains("may not name files"), "{}", r.body);
            refusals += 1;
            assert_health_answers(&ours);
        }
    }
    assert_eq!(refused(&ours, "probe_file_parameter"), f64::from(refusals));
    // TLS settings other than files, and credentials, come from the configuration too.
    for (target, reason) in [
        (
            format!("{server}/postgres?sslmode=disable"),
            "probe_tls_parameter",
        ),
        (pg.uri("postgres"), "probe_credentials"),
    ] {
        let r = get(&ours.url(&format!("/probe?target={}", query_encode(&target))));
        assert_eq!(r.status, 400, "{target}: {}", r.body);
        assert_eq!(refused(&ours, reason), 1.0, "{reason}");
    }
    // Still serving, and the configured server is still scraped.
    assert_health_answers(&ours);
    assert_eq!(pg_up(&get(&ours.url("/metrics")).body), Some(1.0));
}

#[test]
fn postgres_configured_root_certificate_that_is_a_device_fifo_or_huge_gives_pg_up_zero() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let huge = dir.path().join("huge.pem");
    std::fs::write(&huge, vec![b'A'; 2 << 20]).unwrap();
    for (file, why) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (huge.to_str().unwrap(), "larger than"),
    ] {
        let dsn = pg.uri("postgres").replace(
            "sslmode=disable",
            &format!("sslmode=verify-ca&sslrootcert={file}"),
        );
        let ours = start_ours(&["--web.scrape-timeout=3s"], &[("DATA_SOURCE_NAME", &dsn)]);
        let r = get_with(&ours.url("/metrics"), &[], Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{file}: /metrics did not answer: {e}"));
        assert_eq!(pg_up(&r.body), Some(0.0), "{file}");
        assert_health_answers(&ours);
        let logs = ours.logs();
        assert!(
            logs.contains("sslrootcert") && logs.contains(why),
            "{file}: {logs}"
        );
    }
}

#[test]
fn postgres_probe_reaches_only_allowed_targets_and_sends_nothing_elsewhere() {
    let pg = PgCluster::start();
    let stranger = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    let config = auth_module_config(dir.path());
    // Default: the configured data source only.
    let ours = start_ours(
        &["--config.file", &config],
        &[("DATA_SOURCE_NAME", &pg.uri("postgres"))],
    );
    for target in [
        format!("127.0.0.1:{}", stranger.port),
        format!("127.0.0.1:{}/postgres", stranger.port),
        format!("localhost:{}", stranger.port),
        format!("host=127.0.0.1 port={} dbname=postgres", stranger.port),
        format!("postgresql://127.0.0.1:{}/postgres", stranger.port),
    ] {
        for module in ["", "&auth_module=mon"] {
            let url = ours.url(&format!("/probe?target={}{module}", query_encode(&target)));
            let r = get_with(&url, &[], Duration::from_secs(5)).unwrap();
            assert_not_allowed(&r, &format!("{target}{module}"));
        }
    }
    assert_eq!(refused(&ours, "probe_target_not_allowed"), 10.0);
    // The configured server is allowed, with the data source's own credentials...
    let server = format!("127.0.0.1:{}", pg.port);
    let r = get(&ours.url(&format!(
        "/probe?target={}",
        query_encode(&format!("{server}/postgres"))
    )));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pg_up(&r.body), Some(1.0), "{}", ours.logs());
    // ...or an auth module's (upstream's request shape).
    let r = get(&ours.url(&format!("/probe?target={server}&auth_module=mon")));
    assert_eq!(pg_up(&r.body), Some(1.0), "{}", ours.logs());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stranger.connections(),
        0,
        "a disallowed target was contacted: {:?}",
        stranger.everything()
    );
}

#[test]
fn postgres_auth_module_credentials_reach_only_allowed_targets() {
    let pg = PgCluster::start();
    let allowed_fake = Recorder::start();
    let stranger = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    // The allow-list in the config file this time (the flag and its variable elsewhere).
    let config = write_config(
        dir.path(),
        &format!(
            "probe:\n  allowed_targets: [\"127.0.0.1:{}\", \"127.0.0.1:{}\"]\n{}",
            pg.port,
            allowed_fake.port,
            std::fs::read_to_string(auth_module_config(dir.path())).unwrap()
        ),
    );
    // No data source: /probe is what this exporter is for.
    let ours = start_ours(&["--config.file", &config, "--web.scrape-timeout=3s"], &[]);
    let probe = |port: u16| {
        get_with(
            &ours.url(&format!(
                "/probe?target=127.0.0.1%3A{port}%2Fpostgres&auth_module=mon"
            )),
            &[],
            Duration::from_secs(5),
        )
        .unwrap()
    };
    assert_not_allowed(&probe(stranger.port), "a stranger");
    let r = probe(pg.port);
    assert_eq!(pg_up(&r.body), Some(1.0), "{}", ours.logs());
    // An allowed server gets the module's credentials (this one asks for the password in clear).
    let r = probe(allowed_fake.port);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pg_up(&r.body), Some(0.0));
    let seen = allowed_fake.everything();
    assert!(
        seen.contains(MONITOR_USER) && seen.contains(MONITOR_PASSWORD),
        "the allowed fake server did not get the module's credentials: {seen:?}"
    );
    assert_not_allowed(&probe(stranger.port), "a stranger");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stranger.connections(),
        0,
        "credentials went to a disallowed target: {:?}",
        stranger.everything()
    );
}

/// A password holding every URL and list delimiter; each fragment between them is distinctive.
const AWKWARD_PASSWORD: &str = "Zq7/Xk9,Pw3 Lm5@Rt8%Yy";
const FRAGMENTS: [&str; 5] = ["Zq7", "Xk9", "Pw3", "Lm5", "Rt8"];

fn assert_no_password(what: &str, text: &str) {
    for fragment in FRAGMENTS {
        assert!(
            !text.contains(fragment),
            "{what} shows part of the password ({fragment}):\n{text}"
        );
    }
}

#[test]
fn postgres_password_with_delimiters_never_appears_in_errors_logs_or_health() {
    let pg = PgCluster::start();
    // Not valid as a URI ("%Yy"): the start fails, naming the variable and the position.
    let out = std::process::Command::new(OURS)
        .arg("--web.listen-address=127.0.0.1:0")
        .env(
            "DATA_SOURCE_NAME",
            format!(
                "postgresql://{MONITOR_USER}:{AWKWARD_PASSWORD}@127.0.0.1:{}/postgres",
                pg.port
            ),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DATA_SOURCE_NAME") && stderr.contains("at character"),
        "{stderr}"
    );
    assert_no_password("the start error", &stderr);
    assert_no_password("stdout", &String::from_utf8_lossy(&out.stdout));

    // Valid, but the wrong password: quoted in key=value form, and percent-encoded in a URI.
    for dsn in [
        format!(
            "host=127.0.0.1 port={} user={MONITOR_USER} password='{AWKWARD_PASSWORD}' dbname=postgres sslmode=disable",
            pg.port
        ),
        pg.uri_with_password("postgres", AWKWARD_PASSWORD),
    ] {
        let ours = start_ours(&[], &[("DATA_SOURCE_NAME", &dsn)]);
        let metrics = get(&ours.url("/metrics")).body;
        assert_eq!(pg_up(&metrics), Some(0.0), "{}", ours.logs());
        assert_no_password("/metrics", &metrics);
        let health = get(&ours.url("/health")).body;
        assert!(health.contains(&format!("127.0.0.1:{}", pg.port)), "{health}");
        assert_no_password("/health", &health);
        // Probing with the password in the target is refused without repeating it.
        for target in [dsn.clone(), format!("{dsn} port=x{AWKWARD_PASSWORD}")] {
            let r = get(&ours.url(&format!("/probe?target={}", query_encode(&target))));
            assert_eq!(r.status, 400, "{}", r.body);
            assert_no_password("a /probe error", &r.body);
        }
        let r = get(&ours.url(&format!(
            "/probe?target=127.0.0.1%3A{}%2Fpostgres",
            pg.port
        )));
        assert_eq!(pg_up(&r.body), Some(0.0), "{}", r.body);
        assert_no_password("/probe", &r.body);
        let logs = ours.logs();
        assert!(logs.contains("password authentication failed"), "{logs}");
        assert!(logs.contains(":******@127.0.0.1"), "{logs}");
        assert_no_password("the log", &logs);
    }
}

#[test]
fn help_does_not_show_secrets_from_the_environment() {
    let out = std::process::Command::new(OURS)
        .arg("--help")
        .env(
            "DATA_SOURCE_NAME",
            "postgresql://monitor:HelpSecr3t@db:5432/postgres",
        )
        .env("DATA_SOURCE_URI", "db:5432/postgres")
        .env("DATA_SOURCE_USER", "HelpUs3r")
        .env("DATA_SOURCE_PASS", "HelpPassw0rd")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("DATA_SOURCE_NAME"), "{text}");
    for secret in ["HelpSecr3t", "HelpUs3r", "HelpPassw0rd"] {
        assert!(!text.contains(secret), "--help shows {secret}:\n{text}");
    }
}
