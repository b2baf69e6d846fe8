//! `testkit::Client::with_server_name`, which the Swarm checks use to reach services by node
//! address while checking their certificates under `cluster-<service>`: a real host-exporter
//! serving TLS with a certificate for localhost and 127.0.0.1 only, reached at 127.0.0.2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::Client;

#[test]
fn a_certificate_is_checked_under_the_given_name_not_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = testkit::postgres::certificates(dir.path(), "server-name");
    // Every loopback address (127.0.0.2 too), TLS only.
    let (_server, port) = testkit::tls::serve_pair(&cert, &key, dir.path(), "0.0.0.0");
    let client = Client::new(&ca, None).unwrap();
    let unnamed = format!("https://127.0.0.2:{port}/health");
    let refused = client.get(&unnamed);
    assert!(
        refused.is_err(),
        "127.0.0.2 is not in the certificate, yet: {refused:?}"
    );
    let named = client.with_server_name("localhost").get(&unnamed).unwrap();
    assert_eq!(named.status, 200, "{}", named.body);
    let wrong = client
        .with_server_name("cluster-other")
        .get(&format!("https://127.0.0.1:{port}/health"));
    assert!(wrong.is_err(), "a name the certificate lacks: {wrong:?}");
}
