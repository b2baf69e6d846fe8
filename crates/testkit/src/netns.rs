//! Services in a network namespace of their own whose TCP buffers are a few KiB (root,
//! `unshare`, `nsenter`, `curl`). On the host's loopback a client that never reads absorbs
//! megabytes before a server's write blocks; here a few frames fill the buffers, so write
//! deadlines and slow-client limits are reached within seconds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait;

/// Loopback up, TCP send and receive buffers of 4-8 KiB.
const SETUP: &str = "ip link set lo up && \
    sysctl -qw net.ipv4.tcp_wmem='4096 8192 8192' net.ipv4.tcp_rmem='4096 8192 8192'";

/// One program started in the namespace, with its arguments.
#[derive(Debug, Clone)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<String>,
}

impl Program {
    pub fn new(path: impl Into<PathBuf>, args: &[String]) -> Self {
        Self {
            path: path.into(),
            args: args.to_vec(),
        }
    }
}

/// A namespace holding a main program (the process `unshare` started, whose lifetime is the
/// namespace's) and helpers started in its background. Everything is stopped on drop.
pub struct SmallBufferNetns {
    main: Child,
    log: PathBuf,
    /// Where the shell wrote each background program's pid.
    pid_files: Vec<PathBuf>,
}

impl SmallBufferNetns {
    /// Starts `background` programs, then `main`, in a new namespace; their standard error goes
    /// to one log ([`Self::logs`]). Panics saying what is missing without root or `unshare`.
    pub fn start(name: &str, background: &[Program], main: &Program) -> Self {
        let ok = Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test needs root and unshare(1) to make a network namespace"
        );
        let stem = format!("{name}-netns-{}", std::process::id());
        let log = std::env::temp_dir().join(format!("{stem}.log"));
        let pid_files: Vec<PathBuf> = (0..background.len())
            .map(|i| std::env::temp_dir().join(format!("{stem}-{i}.pid")))
            .collect();
        // The buffers are set before anything starts; each background program's own pid is kept.
        let mut script = format!("{SETUP} || exit 1; ");
        for (program, pid_file) in background.iter().zip(&pid_files) {
            script.push_str(&format!(
                "{} & echo $! > {}; ",
                shell_words(program),
                quote(&pid_file.to_string_lossy())
            ));
        }
        script.push_str("exec \"$0\" \"$@\"");
        let main = Command::new("unshare")
            .args(["-n", "sh", "-c", &script])
            .arg(&main.path)
            .args(&main.args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the namespace's log"))
            .spawn()
            .expect("start unshare");
        Self {
            main,
            log,
            pid_files,
        }
    }

    /// The main program's pid (its `/proc/<pid>/fd` and `/proc/<pid>/net/tcp` are the
    /// namespace's).
    pub fn pid(&self) -> u32 {
        self.main.id()
    }

    /// What every program in the namespace wrote to standard error.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/proc/{}/ns/net", self.pid()))
            .arg(program);
        command
    }

    /// `curl -s -m 5 ARGS` inside the namespace; its standard output.
    pub fn curl(&self, args: &[&str]) -> String {
        let out = self
            .command("curl")
            .args(["-s", "-m", "5"])
            .args(args)
            .output()
            .expect("run nsenter curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The HTTP status of a GET of `url` inside the namespace (`000` when nothing answered).
    pub fn status(&self, url: &str) -> String {
        self.curl(&["-o", "/dev/null", "-w", "%{http_code}", url])
    }

    /// Waits until `url` answers 200 inside the namespace; panics with the log otherwise.
    pub fn wait_ready(&self, url: &str, limit: Duration) {
        let ready = wait::until(&format!("{url} to answer 200"), limit, || {
            let status = self.status(url);
            wait::check(status == "200", || format!("status {status}"))
        });
        if let Err(timeout) = ready {
            panic!("{timeout}; log:\n{}", self.logs());
        }
    }

    /// Waits until `check` accepts the body of `url` (its `Err` says what is wrong with it);
    /// panics with the last complaint and the log otherwise.
    pub fn wait_body(
        &self,
        what: &str,
        url: &str,
        limit: Duration,
        check: impl Fn(&str) -> Result<(), String>,
    ) {
        if let Err(timeout) = wait::until(what, limit, || check(&self.curl(&[url]))) {
            panic!("{timeout}\nlog:\n{}", self.logs());
        }
    }

    /// A client in the namespace that sends `GET path` to `127.0.0.1:port` and never reads a
    /// byte of the answer (until killed).
    pub fn silent_client(&self, port: u16, path: &str) -> Child {
        self.command("bash")
            .args([
                "-c",
                &format!(
                    "exec 3<>/dev/tcp/127.0.0.1/{port}; \
                     printf 'GET {path} HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n\\r\\n' >&3; exec sleep 600"
                ),
            ])
            .spawn()
            .expect("start a silent client")
    }
}

impl Drop for SmallBufferNetns {
    fn drop(&mut self) {
        for pid_file in &self.pid_files {
            if let Ok(pid) = std::fs::read_to_string(pid_file) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
            let _ = std::fs::remove_file(pid_file);
        }
        let _ = self.main.kill();
        let _ = self.main.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn shell_words(program: &Program) -> String {
    std::iter::once(program.path.to_string_lossy().into_owned())
        .chain(program.args.iter().cloned())
        .map(|w| quote(&w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` single-quoted for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_sh() {
        let program = Program::new("/bin/x y", &["a'b".into(), "--f=1 2".into()]);
        assert_eq!(shell_words(&program), r"'/bin/x y' 'a'\''b' '--f=1 2'");
    }
}
