//! The secure-by-default stack (issue 19), for `tests/stack.rs`: every HTTP endpoint refuses a
//! request without or with wrong credentials (401), a TLS port refuses plain HTTP, `docker
//! inspect` shows the split networks, non-root users, mounted secrets and limits, and pg-exporter
//! logs in as a pg_monitor member that is not a superuser.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use stack_e2e::{Client, Credentials};

/// One HTTP endpoint of the stack, served over TLS.
pub struct Endpoint {
    pub name: String,
    /// An `https://` URL that answers 200 to the right credentials.
    pub url: String,
}

/// Right credentials: 200; none or a wrong password: 401; plain HTTP to the TLS port: no answer
/// that serves or asks for credentials.
pub fn assert_endpoints_refuse_strangers(endpoints: &[Endpoint], client: &Client) {
    let wrong = client.with_auth(Some(Credentials {
        user: "prometheus".into(),
        password: "not-the-password".into(),
    }));
    let nobody = client.with_auth(None);
    for e in endpoints {
        assert!(e.url.starts_with("https://"), "{}: {}", e.name, e.url);
        let ok = client
            .get(&e.url)
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(
            ok.status, 200,
            "{} with the right password: {}",
            e.name, ok.body
        );
        for (who, c) in [("no credentials", &nobody), ("a wrong password", &wrong)] {
            let r = c
                .get(&e.url)
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
            assert_eq!(r.status, 401, "{} with {who}: {}", e.name, r.body);
            assert!(
                !r.body.contains("# TYPE") && !r.body.contains("\"status\":\"success\""),
                "{} with {who} leaks its content: {}",
                e.name,
                r.body
            );
        }
        let plain = e.url.replacen("https://", "http://", 1);
        match Client::plain().get(&plain) {
            // Go's servers answer 400 "client sent an HTTP request to an HTTPS server".
            Ok(r) => assert!(
                r.status == 400,
                "{}: plain HTTP to the TLS port answered {}: {}",
                e.name,
                r.status,
                r.body
            ),
            Err(err) => eprintln!("{}: plain HTTP to the TLS port fails: {err}", e.name),
        }
    }
}

/// The networks a container is on, without the project prefix.
pub fn networks(container: &Value, project: &str) -> BTreeSet<String> {
    container["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(|n| {
            n.strip_prefix(&format!("{project}_"))
                .unwrap_or(n)
                .to_string()
        })
        .collect()
}

/// The container paths of a container's bind mounts, with their sources.
pub fn mounts(container: &Value) -> Vec<(String, String, bool)> {
    container["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["Destination"].as_str().unwrap_or_default().to_string(),
                m["Source"].as_str().unwrap_or_default().to_string(),
                m["RW"].as_bool().unwrap_or(true),
            )
        })
        .collect()
}

/// `psql` as the superuser inside the PostgreSQL container; the output's trimmed text.
pub fn psql(postgres_container: &str, sql: &str) -> String {
    let out = Command::new("docker")
        .args([
            "exec",
            postgres_container,
            "psql",
            "-X",
            "-tA",
            "-U",
            "cluster_user",
            "-d",
            "cluster_db",
            "-c",
            sql,
        ])
        .output()
        .expect("run docker exec psql");
    super::assert_success(&format!("psql -c {sql:?}"), &out);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
