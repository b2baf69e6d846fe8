//! One exporter-toolkit web configuration file, given to today's node_exporter (1.9.0) and to
//! host-exporter: both must answer the same requests the same way (curl as the client):
//! basic auth, TLS, client certificates, TLS versions and response headers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{free_port, require_command, workspace::workspace_binary, ServiceProcess};

const USER: &str = "prometheus";
const PASSWORD: &str = "s3cret/with spaces,and@signs";

/// What a client saw: curl's exit code (0: an HTTP exchange happened) and the status.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    transport_ok: bool,
    status: u16,
}

struct Request<'a> {
    scheme: &'a str,
    user: Option<(&'a str, &'a str)>,
    extra: Vec<String>,
}

fn curl(port: u16, request: &Request<'_>, headers_out: Option<&Path>) -> Outcome {
    let curl = require_command("curl", "curl");
    let mut cmd = Command::new(curl);
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
    ]);
    if let Some(path) = headers_out {
        cmd.arg("-D").arg(path);
    }
    if let Some((user, password)) = request.user {
        cmd.arg("-u").arg(format!("{user}:{password}"));
    }
    cmd.args(&request.extra);
    cmd.arg(format!("{}://localhost:{port}/metrics", request.scheme));
    let out = cmd.output().expect("run curl");
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Outcome {
        transport_ok: out.status.success(),
        status,
    }
}

struct Pair {
    upstream: ServiceProcess,
    ours: ServiceProcess,
}

fn start_both(web_config: &Path) -> Pair {
    let (node_exporter, version) = common::current_node_exporter();
    println!("upstream: {version}");
    let ours_bin = workspace_binary("host-exporter", "host-exporter").unwrap();
    let start = |program: &PathBuf, prefix: &str| {
        let port = free_port();
        let args = vec![
            format!("{prefix}web.listen-address=127.0.0.1:{port}"),
            format!("{prefix}web.config.file={}", web_config.display()),
        ];
        ServiceProcess::start(program, &args, port)
    };
    Pair {
        upstream: start(&node_exporter, "--"),
        ours: start(&ours_bin, "--"),
    }
}

/// Asks both the same thing; they must agree, and agree with `expected`.
fn same(pair: &Pair, what: &str, request: &Request<'_>, expected: &Outcome) {
    let theirs = curl(pair.upstream.port, request, None);
    let ours = curl(pair.ours.port, request, None);
    assert_eq!(
        theirs, *expected,
        "{what}: node_exporter did not answer as expected (the test's premise is wrong)"
    );
    assert_eq!(
        ours, theirs,
        "{what}: host-exporter differs from node_exporter"
    );
}

fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn ok() -> Outcome {
    Outcome {
        transport_ok: true,
        status: 200,
    }
}

fn unauthorized() -> Outcome {
    Outcome {
        transport_ok: true,
        status: 401,
    }
}

fn no_exchange() -> Outcome {
    Outcome {
        transport_ok: false,
        status: 0,
    }
}

#[test]
fn basic_auth_answers_like_node_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        format!(
            "basic_auth_users:\n  {USER}: '{}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n",
            bcrypt_hash(PASSWORD)
        ),
    )
    .unwrap();
    let pair = start_both(&file);
    let plain = |user| Request {
        scheme: "http",
        user,
        extra: vec![],
    };
    same(&pair, "no credentials", &plain(None), &unauthorized());
    same(
        &pair,
        "wrong password",
        &plain(Some((USER, "nope"))),
        &unauthorized(),
    );
    same(
        &pair,
        "unknown user",
        &plain(Some(("mallory", PASSWORD))),
        &unauthorized(),
    );
    same(
        &pair,
        "right password",
        &plain(Some((USER, PASSWORD))),
        &ok(),
    );
    // The same headers on both, on a 401 as on a 200.
    for who in [&pair.upstream, &pair.ours] {
        let headers = dir.path().join(format!("headers-{}", who.port));
        curl(who.port, &plain(None), Some(&headers));
        let text = std::fs::read_to_string(&headers).unwrap().to_lowercase();
        assert!(text.contains("www-authenticate: basic"), "{text}");
        assert!(text.contains("x-frame-options: deny"), "{text}");
        assert!(text.contains("x-content-type-options: nosniff"), "{text}");
    }
}

#[test]
fn tls_and_client_certificates_answer_like_node_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = testkit::postgres::certificates(dir.path(), "server");
    let (client_ca, client_cert, client_key) =
        testkit::postgres::certificates(dir.path(), "client");
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n\
             basic_auth_users:\n  {USER}: '{}'\n",
            cert.display(),
            key.display(),
            client_ca.display(),
            bcrypt_hash(PASSWORD)
        ),
    )
    .unwrap();
    let pair = start_both(&file);
    let s = |p: &PathBuf| p.display().to_string();
    let tls = |user, with_cert: bool| {
        let mut extra = vec!["--cacert".to_string(), s(&ca)];
        if with_cert {
            extra.extend([
                "--cert".into(),
                s(&client_cert),
                "--key".into(),
                s(&client_key),
            ]);
        }
        Request {
            scheme: "https",
            user,
            extra,
        }
    };
    same(
        &pair,
        "TLS, client certificate, password",
        &tls(Some((USER, PASSWORD)), true),
        &ok(),
    );
    same(
        &pair,
        "TLS, client certificate, no password",
        &tls(None, true),
        &unauthorized(),
    );
    same(
        &pair,
        "TLS without a client certificate",
        &tls(Some((USER, PASSWORD)), false),
        &no_exchange(),
    );
    // A client certificate from another CA (the server's) is refused in the handshake.
    let foreign = Request {
        scheme: "https",
        user: Some((USER, PASSWORD)),
        extra: vec![
            "--cacert".into(),
            s(&ca),
            "--cert".into(),
            s(&cert),
            "--key".into(),
            s(&key),
        ],
    };
    same(
        &pair,
        "client certificate of an unknown CA",
        &foreign,
        &no_exchange(),
    );
    // Plain HTTP to the TLS port gets no metrics from either (Go answers 400, we close).
    for who in [&pair.upstream, &pair.ours] {
        let plain = curl(
            who.port,
            &Request {
                scheme: "http",
                user: Some((USER, PASSWORD)),
                extra: vec![],
            },
            None,
        );
        assert_ne!(plain.status, 200, "plain HTTP to a TLS port got metrics");
    }
}

#[test]
fn tls_versions_answer_like_node_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = testkit::postgres::certificates(dir.path(), "server");
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  min_version: TLS13\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let pair = start_both(&file);
    let with = |args: &[&str]| Request {
        scheme: "https",
        user: None,
        extra: ["--cacert", &ca.display().to_string()]
            .iter()
            .map(|a| a.to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .collect(),
    };
    same(&pair, "TLS 1.3 client", &with(&["--tlsv1.3"]), &ok());
    same(
        &pair,
        "TLS 1.2 only client",
        &with(&["--tls-max", "1.2"]),
        &no_exchange(),
    );
    // A client that does not trust the server's CA fails on both sides alike.
    let untrusted = Request {
        scheme: "https",
        user: None,
        extra: vec![],
    };
    same(
        &pair,
        "untrusted server certificate",
        &untrusted,
        &no_exchange(),
    );
}

#[test]
fn an_unknown_key_stops_the_start_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        "basic_auth_users: {}\ntls_server_confg:\n  cert_file: x\n",
    )
    .unwrap();
    let ours = workspace_binary("host-exporter", "host-exporter").unwrap();
    let out = Command::new(ours)
        .args([
            format!("--web.listen-address=127.0.0.1:{}", free_port()),
            format!("--web.config.file={}", file.display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls_server_confg"), "{stderr}");
}
