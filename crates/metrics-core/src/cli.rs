//! Command-line parsing shared by every binary: common flags, `--help` with defaults, the
//! `healthcheck` subcommand, and turning what was given into config overrides.
//!
//! A flag's clap id is its config key (`web.listen_address`), so one generic loop maps flags and
//! their environment variables onto the typed config. An id starting with `!` sets its key to
//! `false` (the `--no-collector.X` form).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::{self, ConfigError, Override, ServiceConfig};
use crate::Service;

/// What the binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    /// Call our own `/health` and exit 0 or 1 (so images need no curl).
    Healthcheck,
}

/// A parsed command line: the layered config, the mode, and the raw matches for anything a
/// service wants to read itself.
#[derive(Debug)]
pub struct Invocation<C> {
    pub config: C,
    pub mode: Mode,
    pub matches: ArgMatches,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Usage(#[from] clap::Error),
    #[error(transparent)]
    Config(#[from] Box<ConfigError>),
}

/// Parses `std::env::args`, printing a clear message and exiting with code 2 on a bad flag,
/// value or config key (0 for `--help` and `--version`).
pub fn parse_args<C: ServiceConfig>(service: &Service, args: Vec<Arg>) -> Invocation<C> {
    match try_parse_from(service, args, std::env::args_os()) {
        Ok(inv) => inv,
        Err(CliError::Usage(e)) => e.exit(),
        Err(CliError::Config(e)) => {
            eprintln!("{}: error: {e}", service.name);
            std::process::exit(2);
        }
    }
}

/// The testable core of [`parse_args`].
pub fn try_parse_from<C, I, T>(
    service: &Service,
    args: Vec<Arg>,
    argv: I,
) -> Result<Invocation<C>, CliError>
where
    C: ServiceConfig,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = command::<C>(service, args);
    let matches = command.clone().try_get_matches_from(argv)?;
    let overrides = flag_overrides(&command, &matches);
    let file = matches.get_one::<PathBuf>("config.file").cloned();
    let config =
        config::load::<C>(service.env_prefix, file.as_deref(), &overrides).map_err(Box::new)?;
    let mode = match matches.subcommand_name() {
        Some("healthcheck") => Mode::Healthcheck,
        _ => Mode::Serve,
    };
    Ok(Invocation {
        config,
        mode,
        matches,
    })
}

/// The clap command: common flags, the service's own, defaults appended to each help line.
pub fn command<C: ServiceConfig>(service: &Service, args: Vec<Arg>) -> Command {
    let defaults = config::flatten_defaults::<C>();
    let env = |suffix: &str| format!("{}_{suffix}", service.env_prefix);
    let common = vec![
        Arg::new("config.file")
            .long("config.file")
            .env(env("CONFIG_FILE"))
            .value_name("PATH")
            .value_parser(clap::value_parser!(PathBuf))
            .help("YAML, TOML or JSON file with settings; flags and environment override it"),
        Arg::new("web.listen_address")
            .long("web.listen-address")
            .env(env("WEB_LISTEN_ADDRESS"))
            .value_name("ADDR")
            .help("Address on which to expose metrics and the web interface"),
        Arg::new("web.telemetry_path")
            .long("web.telemetry-path")
            .env(env("WEB_TELEMETRY_PATH"))
            .value_name("PATH")
            .help("Path under which to expose metrics"),
        Arg::new("web.scrape_timeout")
            .long("web.scrape-timeout")
            .value_name("DURATION")
            .help("Longest time one scrape may take (Prometheus' own timeout header lowers it)"),
        Arg::new("web.config_file")
            .long("web.config.file")
            .env(env("WEB_CONFIG_FILE"))
            .value_name("PATH")
            .help("Exporter-toolkit web configuration file: TLS, client certificates, basic auth, headers"),
        Arg::new("web.max_requests")
            .long("web.max-requests")
            .env(env("WEB_MAX_REQUESTS"))
            .value_name("N")
            .value_parser(clap::value_parser!(u32))
            .help(
                "Requests served at once on the metric paths; more get 503 at once (0: no limit)",
            ),
        Arg::new("web.write_timeout")
            .long("web.write-timeout")
            .value_name("DURATION")
            .help("A connection whose client takes no data for this long is closed (0s: never)"),
        Arg::new("web.request_header_timeout")
            .long("web.request-header-timeout")
            .value_name("DURATION")
            .help("Time a client has to send a request's head; slower ones get 408 and are closed"),
        Arg::new("web.idle_timeout")
            .long("web.idle-timeout")
            .value_name("DURATION")
            .help("How long a kept-alive connection may sit idle between requests"),
        Arg::new("log.level")
            .long("log.level")
            .env(env("LOG_LEVEL"))
            .value_parser(["debug", "info", "warn", "error"])
            .help("Only log messages with the given severity or above"),
        Arg::new("log.format")
            .long("log.format")
            .env(env("LOG_FORMAT"))
            .value_parser(["logfmt", "json"])
            .help("Output format of log messages"),
    ];
    // Environment values are never shown: any of them may hold a password (a DSN, a Redis URL).
    let all = common.into_iter().chain(args).map(|arg| {
        let arg = arg.hide_env_values(true);
        let key = arg.get_id().as_str().to_string();
        match defaults.iter().find(|(k, _)| *k == key) {
            Some((_, v)) if !v.is_empty() && arg.get_action().takes_values() => {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [default: {v}]"))
            }
            _ => arg,
        }
    });
    Command::new(service.name)
        .version(service.version)
        .about(service.about)
        .after_help(format!(
            "Every setting can also be set in the config file, or as {}_<SECTION>__<KEY> in the environment \
             (e.g. {}_WEB__LISTEN_ADDRESS).",
            service.env_prefix, service.env_prefix
        ))
        .args(all)
        .subcommand(
            Command::new("healthcheck")
                .about("Call this service's own /health and exit 0 when it is healthy, 1 when not"),
        )
}

/// `--collector.NAME` / `--no-collector.NAME` pairs, as node_exporter has them. Each sets
/// `{key_prefix}.NAME` in the config to true or false.
pub fn toggle_args(key_prefix: &str, flag_prefix: &str, names: &[(&str, bool)]) -> Vec<Arg> {
    let mut out = Vec::with_capacity(names.len() * 2);
    for (name, enabled) in names {
        let on = format!("{key_prefix}.{name}");
        let off = format!("!{on}");
        let state = if *enabled { "enabled" } else { "disabled" };
        out.push(
            Arg::new(on.clone())
                .long(format!("{flag_prefix}.{name}"))
                .action(ArgAction::SetTrue)
                .conflicts_with(off.clone())
                .help(format!("Enable the {name} collector (default: {state})")),
        );
        out.push(
            Arg::new(off)
                .long(format!("no-{flag_prefix}.{name}"))
                .action(ArgAction::SetTrue)
                .help(format!("Disable the {name} collector")),
        );
    }
    out
}

fn flag_overrides(command: &Command, matches: &ArgMatches) -> Vec<(String, Override)> {
    let mut out = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "config.file" {
            continue;
        }
        match matches.value_source(id) {
            Some(ValueSource::CommandLine) | Some(ValueSource::EnvVariable) => {}
            _ => continue,
        }
        let (key, negate) = match id.strip_prefix('!') {
            Some(rest) => (rest, true),
            None => (id, false),
        };
        let key = key.replace('-', "_");
        let value = match arg.get_action() {
            ArgAction::SetTrue => {
                if !matches.get_flag(id) {
                    continue;
                }
                Override::One((!negate).to_string())
            }
            ArgAction::SetFalse => Override::One(matches.get_flag(id).to_string()),
            action => {
                let values: Vec<String> = matches
                    .get_raw(id)
                    .into_iter()
                    .flatten()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                let many = matches!(action, ArgAction::Append)
                    || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
                match (many, values.len()) {
                    (false, 1) => Override::One(values.into_iter().next().unwrap_or_default()),
                    _ => Override::Many(values),
                }
            }
        };
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LogConfig, LogLevel, WebConfig};
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        web: WebConfig,
        log: LogConfig,
        collectors: BTreeMap<String, bool>,
        targets: Vec<String>,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                web: WebConfig::on_port(9999),
                log: LogConfig::default(),
                collectors: [("cpu".to_string(), true), ("wifi".to_string(), false)].into(),
                targets: vec![],
            }
        }
    }

    impl ServiceConfig for Sample {
        fn web(&self) -> &WebConfig {
            &self.web
        }
        fn log(&self) -> &LogConfig {
            &self.log
        }
    }

    const SVC: Service = Service {
        name: "sample-exporter",
        about: "test",
        version: "0.0.0",
        env_prefix: "CMTEST_CLI",
    };

    fn args() -> Vec<Arg> {
        let mut a = toggle_args("collectors", "collector", &[("cpu", true), ("wifi", false)]);
        a.push(Arg::new("targets").long("target").action(ArgAction::Append));
        a
    }

    fn parse(argv: &[&str]) -> Result<Invocation<Sample>, CliError> {
        try_parse_from(
            &SVC,
            args(),
            std::iter::once("sample-exporter").chain(argv.iter().copied()),
        )
    }

    #[test]
    fn flags_override_defaults_and_toggles_work_both_ways() {
        let inv = parse(&[
            "--web.listen-address=127.0.0.1:1234",
            "--no-collector.cpu",
            "--collector.wifi",
            "--log.level=debug",
            "--target",
            "a",
            "--target",
            "b",
        ])
        .unwrap();
        assert_eq!(inv.config.web.listen_address, "127.0.0.1:1234");
        assert!(!inv.config.collectors["cpu"]);
        assert!(inv.config.collectors["wifi"]);
        assert_eq!(inv.config.log.level, LogLevel::Debug);
        assert_eq!(inv.config.targets, vec!["a", "b"]);
        assert_eq!(inv.mode, Mode::Serve);
    }

    #[test]
    fn unknown_flag_is_a_usage_error_with_exit_code_2() {
        let err = parse(&["--web.listen-adress=:1"]).unwrap_err();
        match err {
            CliError::Usage(e) => assert_eq!(e.exit_code(), 2),
            other => panic!("expected a usage error, got {other}"),
        }
    }

    #[test]
    fn enabling_and_disabling_the_same_collector_conflicts() {
        assert!(parse(&["--collector.cpu", "--no-collector.cpu"]).is_err());
    }

    #[test]
    fn healthcheck_subcommand_is_recognised() {
        let inv = parse(&["--web.listen-address=:4321", "healthcheck"]).unwrap();
        assert_eq!(inv.mode, Mode::Healthcheck);
        assert_eq!(
            inv.config.web.local_url("/health").unwrap(),
            "http://127.0.0.1:4321/health"
        );
    }

    #[test]
    fn help_shows_defaults_from_the_config_struct() {
        let help = command::<Sample>(&SVC, args())
            .render_long_help()
            .to_string();
        assert!(help.contains("[default: :9999]"), "{help}");
        assert!(help.contains("--no-collector.cpu"), "{help}");
    }
}
