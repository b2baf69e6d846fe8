//! The dashboard's login, sessions, public mode and Host allow-list over HTTP, against the real
//! docker-api binary and the real Docker engine, with an exporter-toolkit web configuration
//! file holding a bcrypt user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{start_dashboard, start_docker_api};
use serde_json::Value;
use testkit::docker::{require_docker, Container};
use testkit::http::{form, request};
use testkit::{free_port, ServiceProcess};

const T: Duration = Duration::from_secs(10);
const USER: &str = "admin";
const PASSWORD: &str = "correct horse battery";

/// A web configuration file with one bcrypt user (and TLS when `tls` holds a certificate
/// and key), in `dir`.
fn web_config(dir: &Path, tls: Option<(&Path, &Path)>) -> PathBuf {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let mut text = format!("basic_auth_users:\n  {USER}: '{hash}'\n");
    if let Some((cert, key)) = tls {
        text.push_str(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert.display(),
            key.display()
        ));
    }
    let path = dir.join("web.yml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Setup {
    _docker_api: ServiceProcess,
    dashboard: ServiceProcess,
    _dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Setup {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let config = web_config(dir.path(), None);
    let port = free_port();
    let docker_api = start_docker_api(port);
    let flag = format!("--web.config.file={}", config.display());
    let mut args = vec![flag.as_str()];
    args.extend(extra);
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{port}"), &args);
    Setup {
        _docker_api: docker_api,
        dashboard,
        _dir: dir,
    }
}

impl Setup {
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> testkit::Response {
        request(method, &self.dashboard.url(path), headers, body, T)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nlog:\n{}", self.dashboard.logs()))
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> testkit::Response {
        self.call("GET", path, headers, &[])
    }

    fn login(&self, user: &str, password: &str, headers: &[(&str, &str)]) -> testkit::Response {
        let body = form(&[("user", user), ("password", password)]);
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.call("POST", "/login", &all, body.as_bytes())
    }
}

/// `name=value` of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_string()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn docker_login_sets_a_strict_session_cookie_and_logout_ends_it() {
    let setup = start(&[]);
    // Without a session: pages go to the form, API calls get a JSON 401.
    let page = setup.get("/", &[]);
    assert_eq!(page.status, 303, "{page:?}");
    assert_eq!(page.header("location"), Some("/login"));
    let api = setup.get("/api/containers", &[]);
    assert_eq!(api.status, 401);
    assert_eq!(common::json_body(&api)["status"], 401);
    assert!(api.header("www-authenticate").unwrap().starts_with("Basic"));
    // The page's own fetches must not pop the browser's basic-auth prompt.
    let fetch = setup.get("/api/containers", &[("Sec-Fetch-Site", "same-origin")]);
    assert_eq!(fetch.status, 401);
    assert_eq!(fetch.header("www-authenticate"), None);
    for path in ["/alerts", "/metrics", "/api/stats/aggregate"] {
        assert_eq!(setup.get(path, &[]).status, 401, "{path}");
    }

    let form_page = setup.get("/login", &[]);
    assert_eq!(form_page.status, 200);
    assert!(form_page
        .body
        .contains("<form method=\"post\" action=\"/login\""));
    assert_eq!(setup.get("/login.css", &[]).status, 200);

    let wrong = setup.login(USER, "wrong", &[]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong user name or password"));
    assert_eq!(wrong.header("set-cookie"), None);
    assert_eq!(setup.login("nobody", PASSWORD, &[]).status, 401);
    // A form posted from another site is refused, right password or not.
    let port = setup.dashboard.port;
    let foreign = setup.login(USER, PASSWORD, &[("Origin", "http://evil.example")]);
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.header("set-cookie"), None);

    let origin = format!("http://127.0.0.1:{port}");
    let ok = setup.login(USER, PASSWORD, &[("Origin", &origin)]);
    assert_eq!(ok.status, 303, "{ok:?}");
    assert_eq!(ok.header("location"), Some("/"));
    let set_cookie = ok
        .header("set-cookie")
        .expect("no session cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains("Secure"),
        "Secure over plain HTTP: {set_cookie}"
    );
    let cookie = cookie_pair(&set_cookie);
    let id = cookie.split_once('=').unwrap().1;
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{cookie}"
    );

    // With the session: the page and the API.
    let headers = [("Cookie", cookie.as_str())];
    let page = setup.get("/", &headers);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>clustermon</title>"));
    let list = setup.get("/api/containers", &headers);
    assert_eq!(list.status, 200, "{list:?}");
    assert!(common::json_body(&list)["containers"].is_array());
    // A made-up session id is nobody's.
    let forged = format!("clustermon_session={}", "0".repeat(64));
    assert_eq!(
        setup.get("/api/containers", &[("Cookie", &forged)]).status,
        401
    );

    // Basic auth still works for API clients; a wrong password does not.
    let right = basic(USER, PASSWORD);
    assert_eq!(
        setup
            .get("/api/containers", &[("Authorization", &right)])
            .status,
        200
    );
    let bad = basic(USER, "nope");
    assert_eq!(
        setup
            .get("/api/containers", &[("Authorization", &bad)])
            .status,
        401
    );

    let out = setup.get("/logout", &headers);
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/login"));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(setup.get("/api/containers", &headers).status, 401);
    assert_eq!(setup.get("/", &headers).status, 303);
}

#[test]
fn docker_login_attempts_are_rate_limited_per_address() {
    let setup = start(&["--dashboard.login-attempts-per-minute=3"]);
    for n in 0..3 {
        assert_eq!(setup.login(USER, "wrong", &[]).status, 401, "attempt {n}");
    }
    // The fourth within the minute is refused before the password is looked at.
    let refused = setup.login(USER, PASSWORD, &[]);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(refused.header("set-cookie"), None);
}

#[test]
fn docker_public_mode_shows_figures_without_labels_and_keeps_the_rest_protected() {
    let labelled = Container::run(
        &["--label", "com.docker.compose.project=cm-public"],
        "sleep 600",
    );
    let setup = start(&["--dashboard.public"]);
    assert_eq!(setup.get("/", &[]).status, 200);
    let wait_listed = |headers: &[(&str, &str)]| -> Value {
        let start = std::time::Instant::now();
        loop {
            let r = setup.get("/api/containers", headers);
            assert_eq!(r.status, 200, "{r:?}");
            let v = common::json_body(&r);
            if v.to_string().contains(&labelled.name) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "container not listed: {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let anonymous = wait_listed(&[]);
    assert!(!anonymous.to_string().contains("\"labels\""), "{anonymous}");
    assert!(!anonymous.to_string().contains("cm-public"), "{anonymous}");
    assert_eq!(setup.get("/api/stats/aggregate", &[]).status, 200);
    // (/health is open from loopback only, for the container health check.)
    for path in [
        "/alerts",
        "/metrics",
        "/api/system/info",
        "/history/cluster",
    ] {
        let r = setup.get(path, &[]);
        assert_eq!(r.status, 401, "{path} is public: {r:?}");
    }
    // Logged in (here by basic auth), the labels are there.
    let right = basic(USER, PASSWORD);
    let full = wait_listed(&[("Authorization", &right)]);
    assert!(full.to_string().contains("cm-public"), "{full}");
    // Public never means writable: other methods stay 405 or 401.
    let post = setup.call("POST", "/api/containers", &[], b"{}");
    assert!(matches!(post.status, 401 | 405), "{post:?}");
}

/// A raw request with a chosen `Host` header.
fn with_host(port: u16, host: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "GET /login.css HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn docker_host_header_allow_list_refuses_rebound_names() {
    let setup = start(&["--web.allowed-hosts=dashboard.example"]);
    let port = setup.dashboard.port;
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("dashboard.example:{port}"),
    ] {
        assert_eq!(with_host(port, &host), 200, "{host}");
    }
    for host in [
        format!("evil.example:{port}"),
        format!("dashboard.example.evil:{port}"),
    ] {
        assert_eq!(with_host(port, &host), 421, "{host}");
    }
}

#[test]
fn docker_login_cookie_is_secure_over_tls() {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = testkit::postgres::certificates(dir.path(), "dashboard");
    let config = web_config(dir.path(), Some((&cert, &key)));
    let port = free_port();
    let _docker_api = start_docker_api(port);
    let flag = format!("--web.config.file={}", config.display());
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{port}"), &[&flag]);
    let client = testkit::client::Client::new(&ca, None).unwrap();
    let url = format!("https://localhost:{}/login", dashboard.port);
    let body = form(&[("user", USER), ("password", PASSWORD)]);
    let ok = client
        .request(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", dashboard.logs()));
    assert_eq!(ok.status, 303, "{ok:?}");
    let set_cookie = ok.header("set-cookie").unwrap();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = cookie_pair(set_cookie);
    let page = client
        .request(
            "GET",
            &format!("https://localhost:{}/", dashboard.port),
            &[("Cookie", &cookie)],
            &[],
        )
        .unwrap();
    assert_eq!(page.status, 200);
}
