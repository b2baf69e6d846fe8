//! Running a service binary (ours or an upstream one) for a test, and finding the tools tests need.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
///
/// A port is handed out at most once per test process: tests run in parallel, and the kernel
/// may give a port back to the next `bind(0)` once its listener is closed, so two services of
/// one test binary could otherwise be told the same port (the second then fails to bind while
/// its test talks to the first).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind an ephemeral port on 127.0.0.1");
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The path of `command`, or a panic saying which Debian package to install.
pub fn require_command(command: &str, package: &str) -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()]);
    for dir in candidates {
        let path = dir.join(command);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "this test needs `{command}`, which is not installed: run `apt-get install {package}` \
         (or `bash scripts/install-test-deps`)"
    )
}

/// A running service process, killed when dropped. Its stderr goes to a file that
/// [`ServiceProcess::logs`] reads, so tests can assert on log lines.
pub struct ServiceProcess {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
}

impl ServiceProcess {
    /// Starts `program args...` and waits until it accepts TCP connections on `port`.
    pub fn start(program: impl Into<PathBuf>, args: &[String], port: u16) -> Self {
        Self::start_with_env(program, args, &[], port)
    }

    pub fn start_with_env(
        program: impl Into<PathBuf>,
        args: &[String],
        env: &[(&str, &str)],
        port: u16,
    ) -> Self {
        let program = program.into();
        let log = std::env::temp_dir().join(format!(
            "clustermon-test-{}-{}-{port}.log",
            program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log).expect("create log file");
        let child = Command::new(&program)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let mut process = Self { child, port, log };
        process.wait_listening(Duration::from_secs(30));
        process
    }

    fn wait_listening(&mut self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "process exited early with {status}; its log:\n{}",
                    self.logs()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "nothing listened on port {} within {limit:?}; log:\n{}",
            self.port,
            self.logs()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the process wrote to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
