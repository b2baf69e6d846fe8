//! How every service starts, in one place: parse flags, environment and config file; answer the
//! `healthcheck` subcommand; set up logging; validate; build the service; serve until SIGTERM or
//! SIGINT; and turn what went wrong into an exit code (2: bad usage or configuration, 1: the
//! service failed). A `main.rs` says only what is its own:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     metrics_core::Launch::new(&SERVICE, config::args()).run(|config: Config| async move {
//!         let exporter = MyExporter::new(&config).map_err(Failure::config)?;
//!         Ok(Server::new(SERVICE, config.effective_web(), Arc::new(exporter)))
//!     })
//! }
//! ```

use std::ffi::OsString;
use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use clap::Arg;

use crate::cli::{self, CliError};
use crate::{logging, RunningServer, Service, ServiceConfig};

/// Why a service could not start or stopped serving.
#[derive(Debug)]
pub enum Failure {
    /// The configuration is unusable (exit code 2, like a bad flag).
    Config(String),
    /// The service failed while starting or serving (exit code 1).
    Service(String),
}

impl Failure {
    /// A configuration error: `what` names the setting, `error` says what is wrong with it.
    pub fn config(what: impl Display, error: impl Display) -> Self {
        Self::Config(format!("{what}: {error}"))
    }

    /// A failure of the running service, with what it was doing.
    pub fn service(what: impl Display, error: impl Display) -> Self {
        Self::Service(format!("{what}: {error}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Service(format!("HTTP server: {e}"))
    }
}

/// What a started service hands back: its server, which `run` serves until a signal.
pub type Started = Result<RunningServer, Failure>;

/// Which tokio runtime drives a service's main task (the HTTP workers have their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    /// One thread: signals and backend connections (most exporters).
    CurrentThread,
    /// A thread per core: services with background work on the main runtime (sampling, streams).
    MultiThread,
}

/// One service's start-up, configured by its `main`.
pub struct Launch {
    service: Service,
    args: Vec<Arg>,
    argv: Option<Vec<OsString>>,
    runtime: Runtime,
}

impl Launch {
    /// A service with its own flags (each flag's id is its config key).
    pub fn new(service: &Service, args: Vec<Arg>) -> Self {
        Self {
            service: *service,
            args,
            argv: None,
            runtime: Runtime::MultiThread,
        }
    }

    /// Drives the main task on one thread.
    pub fn current_thread(mut self) -> Self {
        self.runtime = Runtime::CurrentThread;
        self
    }

    /// The command line to parse instead of the process' own (e.g. upstream's single-dash flags
    /// rewritten to ours).
    pub fn argv(mut self, argv: Vec<OsString>) -> Self {
        self.argv = Some(argv);
        self
    }

    /// Parses, answers `healthcheck`, sets up logging, validates, starts the service with
    /// `start`, serves until SIGTERM or SIGINT, and returns the process' exit code.
    pub fn run<C, F, Fut>(self, start: F) -> ExitCode
    where
        C: ServiceConfig,
        F: FnOnce(C) -> Fut,
        Fut: Future<Output = Started>,
    {
        self.serve(|config: C| async move {
            let server = start(config).await?;
            server.run_until_signal().await.map_err(Failure::from)
        })
    }

    /// As [`Launch::run`], for a service whose `serve` future runs its server itself (with
    /// background work that ends with it) and returns when it stopped.
    pub fn serve<C, F, Fut>(self, serve: F) -> ExitCode
    where
        C: ServiceConfig,
        F: FnOnce(C) -> Fut,
        Fut: Future<Output = Result<(), Failure>>,
    {
        let name = self.service.name;
        let argv = self.argv.unwrap_or_else(|| std::env::args_os().collect());
        let invocation = match cli::try_parse_from::<C, _, _>(&self.service, self.args, argv) {
            Ok(invocation) => invocation,
            Err(CliError::Usage(e)) => {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
            Err(CliError::Config(e)) => return usage_error(name, &e),
        };
        let config = invocation.config;
        if invocation.mode == cli::Mode::Healthcheck {
            return crate::healthcheck::run(&config.effective_web());
        }
        logging::init(config.log());
        if let Err(e) = config.validate() {
            return usage_error(name, &e);
        }
        // Before any thread: glibc's arenas bounded (runs this binary again once when unset).
        if let Err(e) = crate::malloc_arenas::bound() {
            tracing::warn!(error = %e, "going on with glibc's default malloc arenas");
        }
        let runtime = match self.runtime {
            Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build(),
        };
        let runtime = match runtime {
            Ok(r) => r,
            Err(e) => return failed(name, &Failure::service("start the async runtime", e)),
        };
        let outcome = runtime.block_on(serve(config));
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(name, &e),
        }
    }
}

fn usage_error(name: &str, error: &dyn Display) -> ExitCode {
    tracing::error!(error = %error, "invalid configuration");
    eprintln!("{name}: error: {error}");
    ExitCode::from(2)
}

fn failed(name: &str, failure: &Failure) -> ExitCode {
    let (code, message) = match failure {
        Failure::Config(m) => (2, m),
        Failure::Service(m) => (1, m),
    };
    tracing::error!(error = %message, "cannot run");
    eprintln!("{name}: error: {message}");
    ExitCode::from(code)
}
