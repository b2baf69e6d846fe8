//! The shared start-up path: exit codes, the healthcheck subcommand on the effective address,
//! and validation, exercised with injected command lines.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::ExitCode;
use std::sync::Arc;

use metrics_core::config::ConfigError;
use metrics_core::{
    Exporter, Failure, Launch, LogConfig, MetricSet, Scrape, ScrapeError, Server, Service,
    ServiceConfig, WebConfig,
};
use serde::{Deserialize, Serialize};

const SERVICE: Service = Service {
    name: "launch-test",
    about: "exercises the shared start-up",
    version: "1.2.3",
    env_prefix: "LAUNCH_TEST",
};

/// `port` moves the listen port like container-exporter's `--port` does.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    web: WebConfig,
    log: LogConfig,
    port: u16,
    limit: u32,
}

impl ServiceConfig for Config {
    fn web(&self) -> &WebConfig {
        &self.web
    }
    fn log(&self) -> &LogConfig {
        &self.log
    }
    fn effective_web(&self) -> WebConfig {
        let mut web = self.web.clone();
        if self.port != 0 {
            web.listen_address = format!("127.0.0.1:{}", self.port);
        }
        web
    }
    fn validate(&self) -> Result<(), ConfigError> {
        if self.limit > 10 {
            return Err(ConfigError::Invalid {
                key: "limit".into(),
                why: "at most 10".into(),
            });
        }
        Ok(())
    }
}

fn args() -> Vec<clap::Arg> {
    vec![
        clap::Arg::new("port").long("port").value_name("PORT"),
        clap::Arg::new("limit").long("limit").value_name("N"),
    ]
}

struct Nothing;
impl Exporter for Nothing {
    async fn collect(&self, _: &Scrape) -> Result<MetricSet, ScrapeError> {
        Ok(MetricSet::new())
    }
}

fn argv(words: &[&str]) -> Vec<std::ffi::OsString> {
    std::iter::once("launch-test")
        .chain(words.iter().copied())
        .map(Into::into)
        .collect()
}

fn never_started(_: Config) -> std::future::Ready<metrics_core::Started> {
    panic!("the service must not be started")
}

#[test]
fn an_invalid_setting_exits_2_before_starting() {
    let code = Launch::new(&SERVICE, args())
        .argv(argv(&["--limit", "11"]))
        .run(never_started);
    assert_eq!(code, ExitCode::from(2));
}

#[test]
fn an_unknown_flag_exits_2() {
    let code = Launch::new(&SERVICE, args())
        .argv(argv(&["--no-such-flag"]))
        .run(never_started);
    assert_eq!(code, ExitCode::from(2));
}

#[test]
fn a_configuration_failure_while_starting_exits_2_and_a_service_failure_1() {
    let code = Launch::new(&SERVICE, args())
        .current_thread()
        .argv(argv(&[]))
        .run(|_: Config| async { Err(Failure::config("backend.url", "not a URL")) });
    assert_eq!(code, ExitCode::from(2));
    let code = Launch::new(&SERVICE, args())
        .argv(argv(&[]))
        .run(|_: Config| async { Err(Failure::service("connect", "refused")) });
    assert_eq!(code, ExitCode::from(1));
}

#[test]
fn healthcheck_calls_the_effective_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let web = WebConfig {
        listen_address: format!("127.0.0.1:{port}"),
        ..WebConfig::default()
    };
    let server = runtime.block_on(async {
        Server::new(SERVICE, web, Arc::new(Nothing))
            .start()
            .unwrap()
    });
    let handle = server.handle();
    runtime.spawn(server.run());
    // The raw listen address stays the default (:8000); only the effective one reaches the server.
    let code = Launch::new(&SERVICE, args())
        .argv(argv(&["--port", &port.to_string(), "healthcheck"]))
        .run(never_started);
    assert_eq!(code, ExitCode::SUCCESS);
    runtime.block_on(handle.stop(false));
    let code = Launch::new(&SERVICE, args())
        .argv(argv(&["--port", &port.to_string(), "healthcheck"]))
        .run(never_started);
    assert_eq!(code, ExitCode::FAILURE);
}
