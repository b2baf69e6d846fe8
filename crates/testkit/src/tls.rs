//! A service protected as clustermon's are: a test CA, a server certificate for 127.0.0.1 and
//! localhost signed by it, an exporter-toolkit web configuration serving TLS with one bcrypt
//! user, and that user's password file, all in one temporary directory.

use std::path::{Path, PathBuf};

/// The files a protected service and its client are started with.
pub struct ProtectedService {
    /// Holds the files; removed when dropped.
    pub dir: tempfile::TempDir,
    /// The CA certificate the client checks the service with.
    pub ca: PathBuf,
    /// The web configuration for `--web.config.file`.
    pub web_config: PathBuf,
    /// The user's password and a newline.
    pub password_file: PathBuf,
}

impl ProtectedService {
    /// The files for `user` with `password`; `name` prefixes the certificates' file names and
    /// common names (see [`crate::postgres::certificates`], which needs `openssl`).
    pub fn new(name: &str, user: &str, password: &str) -> Self {
        Self::for_names(name, user, password, "DNS:localhost,IP:127.0.0.1")
    }

    /// [`Self::new`] with the server certificate valid for `subject_alt_names` alone (openssl's
    /// form, `DNS:cluster-docker-api`): a service whose clients must check another name than
    /// the address they reach it on.
    pub fn for_names(name: &str, user: &str, password: &str, subject_alt_names: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (ca, cert, key) =
            crate::postgres::certificates_for(dir.path(), name, subject_alt_names);
        // Cost 4, the lowest bcrypt takes: the tests check who gets in, not the hash's strength.
        let hash = bcrypt::hash(password, 4).expect("bcrypt hash");
        let web_config = write(
            dir.path(),
            "web.yml",
            &format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {user}: '{hash}'\n",
                cert.display(),
                key.display()
            ),
        );
        let password_file = write(dir.path(), "password", &format!("{password}\n"));
        Self {
            dir,
            ca,
            web_config,
            password_file,
        }
    }

    /// Writes `contents` to the file `name` in [`Self::dir`] (another password file, say).
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        write(self.dir.path(), name, contents)
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A real host-exporter serving TLS with `cert` and `key` (its web config written in `dir`) on
/// `ip` and a free port: a TLS server to check a certificate pair against. Returns the running
/// process and its port.
pub fn serve_pair(cert: &Path, key: &Path, dir: &Path, ip: &str) -> (crate::ServiceProcess, u16) {
    let web = write(
        dir,
        "serve-pair-web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert.display(),
            key.display()
        ),
    );
    let binary = crate::workspace::workspace_binary("host-exporter", "host-exporter")
        .unwrap_or_else(|e| panic!("host-exporter to serve {}: {e}", cert.display()));
    let port = crate::free_port();
    let server = crate::ServiceProcess::start(
        binary,
        &[
            format!("--web.listen-address={ip}:{port}"),
            format!("--web.config.file={}", web.display()),
        ],
        port,
    );
    (server, port)
}
