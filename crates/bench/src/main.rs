//! Runs one of clustermon's exporters and the upstream tool it replaces side by side, in
//! alternating rounds, and prints CPU per scrape, latency under load, memory, body size and
//! series count with the ratios (ours / upstream). A benchmark, not a test: it asserts nothing.
//!
//! `cargo run --release -p bench -- host [--rounds 3] [--scrapes 200] [--load-seconds 5]
//!   [--web-config none|tls-auth] [--bcrypt-cost 10] [--connections kept,new] [--idle-seconds 30]`
//!   (see [`tls`])
//! `cargo run --release -p bench -- containers [--containers 25,200] [--seconds 300]` (see [`containers`])
//! `cargo run --release -p bench -- pg [--databases 5] [--tables 10] ...` (see [`pg`])
//! `cargo run --release -p bench -- soak [--minutes 30] [--rate 50]` (see [`soak`])

mod containers;
mod pg;
mod soak;
mod tls;

use std::any::Any;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use testkit::{free_port, require_command, ServiceProcess};
use tls::{Reuse, Scraper, WebConfig};

/// One exporter under test: how to start it, and where to scrape it.
struct Contender {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    path: String,
    port: u16,
}

/// What the contenders read (a Redis server, a PostgreSQL cluster, files), kept until the end.
type Backends = Vec<Box<dyn Any>>;

/// Figures for one contender, summed over rounds.
#[derive(Default, Clone)]
struct Figures {
    /// A new connection (and, with TLS, a full handshake) per scrape.
    cpu_ms_per_scrape: Vec<f64>,
    /// One connection kept open for the round's scrapes, as Prometheus scrapes.
    cpu_ms_kept: Vec<f64>,
    /// The process's first request after its start, measured once: a new connection, and with
    /// basic auth the one bcrypt check before the result is cached.
    first_cpu_ms: f64,
    first_wall_ms: f64,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    rss_kib: Vec<f64>,
    body_bytes: usize,
    series: usize,
}

struct Options {
    target: String,
    rounds: usize,
    scrapes: usize,
    load_seconds: u64,
    /// `pg` only: databases to create, and tables spread over them.
    databases: usize,
    tables: usize,
    /// wrk's per-request timeout: its default (2 s) except for `pg`, whose upstream takes
    /// seconds per scrape at scale (a timed-out request has no latency to report).
    wrk_timeout_seconds: u64,
    /// Which upstream build to set beside ours.
    upstream: Upstream,
    /// `none` or `tls-auth` (`host` only): one web configuration file for both contenders.
    web_config: String,
    /// The cost of the basic-auth user's bcrypt hash in that file.
    bcrypt_cost: u32,
    /// The connection reuse the sequential CPU scrapes are measured with.
    connections: Vec<Reuse>,
    /// With kept connections: how long a kept connection is left idle, as between two
    /// Prometheus scrapes, to see whether the contender still has it open (0: not checked).
    idle_seconds: u64,
}

/// The upstream exporter builds a run can compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// Debian 12's packages (node_exporter 1.5.0, postgres_exporter 0.11.1, redis_exporter 1.45.0).
    Debian12,
    /// Debian 13's builds of today's releases (node_exporter 1.9.0, postgres_exporter 0.17.1,
    /// redis_exporter 1.69.0), unpacked by `scripts/install-upstream-current`.
    Current,
}

impl Upstream {
    /// The program of Debian package `package` (`prometheus-node-exporter`, ...) for this build.
    fn program(self, package: &str) -> Result<PathBuf> {
        match self {
            Upstream::Debian12 => Ok(require_command(package, package)),
            Upstream::Current => {
                testkit::upstream::current_program(package).map_err(anyhow::Error::msg)
            }
        }
    }
}

/// `label` with the version `program --version` reports, e.g. `node_exporter 1.9.0`.
fn versioned_label(label: &str, program: &std::path::Path) -> String {
    let version = Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            // `node_exporter, version 1.9.0 ...`; redis_exporter logs `... Exporter 1.69.0-1 ...`.
            let words: Vec<&str> = text.split_whitespace().collect();
            let after_version = words
                .iter()
                .skip_while(|w| **w != "version")
                .nth(1)
                .copied();
            let first_number = || {
                words.iter().copied().find(|w| {
                    w.split('.').count() >= 3 && w.starts_with(|c: char| c.is_ascii_digit())
                })
            };
            after_version
                .or_else(first_number)
                .map(|v| v.trim_start_matches('v').to_string())
        });
    match version {
        Some(v) => format!("{label} {v}"),
        None => label.to_string(),
    }
}

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("containers") {
        return containers::main(std::env::args().skip(2));
    }
    if std::env::args().nth(1).as_deref() == Some("soak") {
        return soak::main(std::env::args().skip(2));
    }
    let options = parse_options()?;
    let web_config = WebConfig::new(&options.web_config, options.bcrypt_cost)?;
    let (mut ours, mut upstream, _backends) = contenders(&options)?;
    if let Some(flag) = web_config.flag() {
        ours.args.push(flag.clone());
        upstream.args.push(flag);
    }
    let report = run(&options, &web_config, ours, upstream)?;
    print!("{report}");
    Ok(())
}

fn parse_options() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        target: args.next().context(
            "usage: bench <host|redis|pg> [--rounds N] [--scrapes N] [--load-seconds N] \
                 [--databases N] [--tables N] [--upstream debian12|current] \
                 [--web-config none|tls-auth] [--bcrypt-cost N] [--connections kept,new] \
                 [--idle-seconds N]",
        )?,
        rounds: 3,
        scrapes: 200,
        load_seconds: 5,
        databases: 5,
        tables: 10,
        wrk_timeout_seconds: 2,
        upstream: Upstream::Debian12,
        web_config: "none".into(),
        // What exporter-toolkit's documentation hashes its example with; the bench wants a
        // cost a deployment would use, so a missing cache would show plainly in CPU per scrape.
        bcrypt_cost: 10,
        connections: vec![Reuse::New],
        // The interval of the `node` job in prometheus/prometheus.yml.
        idle_seconds: 30,
    };
    if options.target == "pg" {
        options.wrk_timeout_seconds = 60;
    }
    // Prometheus keeps its connections; the new-connection figure is the one earlier runs
    // recorded. Only `host` measures both by default: pg's upstream takes seconds a scrape.
    if options.target == "host" {
        options.connections = vec![Reuse::Kept, Reuse::New];
    }
    while let Some(flag) = args.next() {
        let raw = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        if flag == "--upstream" {
            options.upstream = match raw.as_str() {
                "debian12" => Upstream::Debian12,
                "current" => Upstream::Current,
                other => bail!("--upstream {other:?}: debian12 or current"),
            };
            continue;
        }
        if flag == "--web-config" {
            if options.target != "host" && raw != "none" {
                bail!("--web-config {raw}: only `host` is set up for it");
            }
            options.web_config = raw;
            continue;
        }
        if flag == "--connections" {
            options.connections = raw
                .split(',')
                .map(|c| match c {
                    "new" => Ok(Reuse::New),
                    "kept" => Ok(Reuse::Kept),
                    other => bail!("--connections {other:?}: new, kept or new,kept"),
                })
                .collect::<Result<_>>()?;
            continue;
        }
        let value: usize = raw
            .parse()
            .with_context(|| format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--rounds" => options.rounds = value,
            "--scrapes" => options.scrapes = value,
            "--load-seconds" => options.load_seconds = value as u64,
            "--databases" => options.databases = value,
            "--tables" => options.tables = value,
            "--wrk-timeout" => options.wrk_timeout_seconds = value as u64,
            "--idle-seconds" => options.idle_seconds = value as u64,
            "--bcrypt-cost" => {
                options.bcrypt_cost = u32::try_from(value).context("--bcrypt-cost")?;
            }
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(options)
}

/// Our release binary, built by `cargo build --release -p <crate>` beforehand.
fn our_binary(name: &str) -> Result<PathBuf> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let path = target.join("release").join(name);
    if !path.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p {name}` first",
            path.display()
        );
    }
    Ok(path)
}

/// The two contenders, and the backends they read (kept alive for the run).
fn contenders(options: &Options) -> Result<(Contender, Contender, Backends)> {
    match options.target.as_str() {
        "host" => {
            let node_exporter = options.upstream.program("prometheus-node-exporter")?;
            let (a, b) = (free_port(), free_port());
            Ok((
                Contender {
                    label: "host-exporter".into(),
                    program: our_binary("host-exporter")?,
                    args: vec![format!("--web.listen-address=127.0.0.1:{a}")],
                    env: Vec::new(),
                    path: "/metrics".into(),
                    port: a,
                },
                Contender {
                    label: versioned_label("node_exporter", &node_exporter),
                    program: node_exporter,
                    args: vec![format!("--web.listen-address=127.0.0.1:{b}")],
                    env: Vec::new(),
                    path: "/metrics".into(),
                    port: b,
                },
                Vec::new(),
            ))
        }
        "redis" => {
            let redis_exporter = options.upstream.program("prometheus-redis-exporter")?;
            let (a, b) = (free_port(), free_port());
            let dir = tempfile::tempdir().context("a working directory for redis-server")?;
            let backend = testkit::redis::start_redis(free_port(), dir.path(), &[]);
            let redis = format!("redis://127.0.0.1:{}", backend.port);
            Ok((
                Contender {
                    label: "redis-exporter".into(),
                    program: our_binary("redis-exporter")?,
                    args: vec![
                        format!("--web.listen-address=127.0.0.1:{a}"),
                        format!("--redis.addr={redis}"),
                    ],
                    env: Vec::new(),
                    path: "/metrics".into(),
                    port: a,
                },
                Contender {
                    label: versioned_label("redis_exporter", &redis_exporter),
                    program: redis_exporter,
                    args: vec![
                        format!("-web.listen-address=127.0.0.1:{b}"),
                        format!("-redis.addr={redis}"),
                    ],
                    env: Vec::new(),
                    path: "/metrics".into(),
                    port: b,
                },
                vec![Box::new(backend), Box::new(dir)],
            ))
        }
        "pg" => pg::contenders(options.databases, options.tables, options.upstream),
        other => bail!("unknown target {other:?}; known: host, redis, pg"),
    }
}

fn run(
    options: &Options,
    web_config: &WebConfig,
    ours: Contender,
    upstream: Contender,
) -> Result<String> {
    let wrk = require_command("wrk", "wrk");
    let load_before = load_average();
    let contenders = [ours, upstream];
    let mut figures = vec![Figures::default(), Figures::default()];
    let processes: Vec<ServiceProcess> = contenders
        .iter()
        .map(|c| {
            let env: Vec<(&str, &str)> = c
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            ServiceProcess::start_with_env(&c.program, &c.args, &env, c.port)
        })
        .collect();
    // One client per contender and connection reuse: the kept one holds its connection across
    // rounds (wrk's load in between may make a server drop it; the count below tells).
    let mut scrapers: Vec<[Scraper; 2]> = contenders
        .iter()
        .map(|c| {
            [
                web_config.scraper(&c.label, c.port, &c.path),
                web_config.scraper(&c.label, c.port, &c.path),
            ]
        })
        .collect();
    for ((c, p), (f, [fresh, _])) in contenders
        .iter()
        .zip(&processes)
        .zip(figures.iter_mut().zip(scrapers.iter_mut()))
    {
        let (cpu, started) = (cpu_seconds(p.pid())?, std::time::Instant::now());
        scrape_as_prometheus(fresh, Reuse::New)?;
        f.first_wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        f.first_cpu_ms = (cpu_seconds(p.pid())? - cpu) * 1000.0;
        // Warm up (first scrapes fill caches and allocate buffers).
        for _ in 0..5 {
            scrape(fresh)?;
        }
        // The figures are worth nothing if the file's basic auth were not in force.
        if web_config.is_protected() {
            let status = fresh.status_without_credentials()?;
            if status != 401 {
                bail!("{} answered {status} without credentials, not 401", c.label);
            }
        }
    }
    for round in 0..options.rounds {
        // Alternate who goes first, so drift on a shared machine hits both alike.
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for i in order {
            let (c, p, f) = (&contenders[i], &processes[i], &mut figures[i]);
            let [fresh, kept] = &mut scrapers[i];
            for &reuse in &options.connections {
                let scraper = match reuse {
                    Reuse::New => &mut *fresh,
                    Reuse::Kept => &mut *kept,
                };
                // Opens the kept connection outside the measured scrapes.
                scrape_as_prometheus(scraper, reuse)?;
                let before = cpu_seconds(p.pid())?;
                for _ in 0..options.scrapes {
                    scrape_as_prometheus(scraper, reuse)?;
                }
                let ms = (cpu_seconds(p.pid())? - before) * 1000.0 / options.scrapes as f64;
                match reuse {
                    Reuse::New => f.cpu_ms_per_scrape.push(ms),
                    Reuse::Kept => f.cpu_ms_kept.push(ms),
                }
            }
            let (p50, p99) = latency_under_load(&wrk, c, web_config, options)?;
            f.p50_ms.push(p50);
            f.p99_ms.push(p99);
            f.rss_kib.push(rss_kib(p.pid())?);
        }
    }
    for (f, [fresh, _]) in figures.iter_mut().zip(scrapers.iter_mut()) {
        let body = scrape(fresh)?;
        f.body_bytes = body.len();
        f.series = body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
    }
    let mut out = render(options, web_config, &contenders, &figures);
    if options.connections.contains(&Reuse::Kept) {
        let kept_scrapes = options.rounds * (options.scrapes + 1);
        for (c, [fresh, kept]) in contenders.iter().zip(&scrapers) {
            let _ = writeln!(
                out,
                "\n{}: the kept-connection scrapes ({kept_scrapes}) went over {} connection(s){}.",
                c.label,
                kept.connections_opened,
                fresh
                    .negotiated
                    .as_ref()
                    .map(|n| format!("; TLS negotiated: {n}"))
                    .unwrap_or_default()
            );
        }
    }
    if options.connections.contains(&Reuse::Kept) && options.idle_seconds > 0 {
        // Whether the kept-connection figure is what Prometheus gets: it keeps its connection
        // between scrapes, but a server may close one idle for a scrape interval.
        let mut opened = Vec::new();
        for [_, kept] in &mut scrapers {
            scrape_as_prometheus(kept, Reuse::Kept)?;
            opened.push(kept.connections_opened);
        }
        std::thread::sleep(Duration::from_secs(options.idle_seconds));
        for ((c, [_, kept]), before) in contenders.iter().zip(&mut scrapers).zip(opened) {
            scrape_as_prometheus(kept, Reuse::Kept)?;
            let fate = if kept.connections_opened == before {
                "still open: the next scrape reused it"
            } else {
                "closed by the server: the next scrape needed a new connection"
            };
            let _ = writeln!(
                out,
                "\n{}: a kept connection left idle for {} s (a scrape interval) was {fate}.",
                c.label, options.idle_seconds
            );
        }
    }
    let _ = writeln!(
        out,
        "\nLoad average (1 min) {load_before} at the start, {} at the end.",
        load_average()
    );
    Ok(out)
}

/// A scrape as Prometheus sends it (gzip accepted), for the CPU figure.
fn scrape_as_prometheus(scraper: &mut Scraper, reuse: Reuse) -> Result<()> {
    scraper.get(&[("Accept-Encoding", "gzip")], reuse).map(drop)
}

/// A plain scrape (not compressed), for the body size and series count.
fn scrape(scraper: &mut Scraper) -> Result<String> {
    let body = scraper.get(&[], Reuse::New)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// CPU time of a process in seconds: the sum of its threads' on-CPU nanoseconds from
/// `/proc/PID/task/*/schedstat` (the scheduler's own accounting, to the nanosecond; utime and
/// stime count 10 ms ticks, too coarse for a 0.3 ms scrape). The exporters' threads live as long
/// as the process, so none is lost between two readings.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let mut nanos: u64 = 0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).context("list /proc/PID/task")?;
    for task in tasks {
        let path = task
            .context("read /proc/PID/task")?
            .path()
            .join("schedstat");
        // A thread that ended between the listing and the read has nothing left to count.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let on_cpu: u64 = text
            .split_whitespace()
            .next()
            .context("empty schedstat")?
            .parse()
            .with_context(|| format!("{}: not a number", path.display()))?;
        nanos = nanos.saturating_add(on_cpu);
    }
    Ok(nanos as f64 / 1e9)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).context("read /proc/PID/stat")?;
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed stat")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields after the command: state is index 0, utime 11, stime 12.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The 1-minute load average, to say how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn rss_kib(pid: u32) -> Result<f64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/PID/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

/// p50 and p99 in milliseconds from a closed-loop wrk run (4 connections, gzip like Prometheus).
/// wrk keeps its 4 connections for the whole run, so with TLS their handshakes are a few among
/// thousands of requests; it sends the Authorization header with `-H` (it checks no certificate).
fn latency_under_load(
    wrk: &PathBuf,
    c: &Contender,
    web_config: &WebConfig,
    options: &Options,
) -> Result<(f64, f64)> {
    let mut command = Command::new(wrk);
    for (name, value) in web_config.headers() {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    let out = command
        .args([
            "-t1",
            "-c4",
            &format!("-d{}s", options.load_seconds),
            &format!("--timeout={}s", options.wrk_timeout_seconds),
            "--latency",
            "-H",
            "Accept-Encoding: gzip",
        ])
        .arg(web_config.url(c.port, &c.path))
        .output()
        .context("run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(errors) = text.lines().find(|l| l.contains("Socket errors")) {
        eprintln!("{}: wrk reported {}", c.label, errors.trim());
    }
    if let Some(non_2xx) = text.lines().find(|l| l.contains("Non-2xx")) {
        bail!(
            "{}: wrk reported {} (refused credentials?)",
            c.label,
            non_2xx.trim()
        );
    }
    if text.contains(" 0 requests in") {
        eprintln!(
            "{}: no request finished within {} s; give it more --load-seconds",
            c.label, options.load_seconds
        );
        return Ok((f64::NAN, f64::NAN));
    }
    let pick = |pct: &str| -> Result<f64> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(pct))
            .with_context(|| format!("no {pct} line in wrk output:\n{text}"))?;
        parse_wrk_duration(line.split_whitespace().nth(1).unwrap_or(""))
    };
    Ok((pick("50%")?, pick("99%")?))
}

/// wrk prints durations like `812.00us`, `1.43ms`, `2.01s`.
fn parse_wrk_duration(s: &str) -> Result<f64> {
    let (number, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("unknown wrk duration {s:?}")
    };
    Ok(number.parse::<f64>()? * factor)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn render(
    options: &Options,
    web_config: &WebConfig,
    contenders: &[Contender; 2],
    f: &[Figures],
) -> String {
    let mut rows: Vec<(&str, f64, f64)> = Vec::new();
    if options.connections.contains(&Reuse::Kept) {
        rows.push((
            "CPU per scrape, kept connection (ms)",
            median(&f[0].cpu_ms_kept),
            median(&f[1].cpu_ms_kept),
        ));
    }
    if options.connections.contains(&Reuse::New) {
        rows.push((
            "CPU per scrape, new connection each (ms)",
            median(&f[0].cpu_ms_per_scrape),
            median(&f[1].cpu_ms_per_scrape),
        ));
    }
    rows.extend([
        (
            "p50 latency under load (ms)",
            median(&f[0].p50_ms),
            median(&f[1].p50_ms),
        ),
        (
            "p99 latency under load (ms)",
            median(&f[0].p99_ms),
            median(&f[1].p99_ms),
        ),
        (
            "RSS after the round (MiB)",
            median(&f[0].rss_kib) / 1024.0,
            median(&f[1].rss_kib) / 1024.0,
        ),
        (
            "first request after start: CPU (ms, once)",
            f[0].first_cpu_ms,
            f[1].first_cpu_ms,
        ),
        (
            "first request after start: wall (ms, once)",
            f[0].first_wall_ms,
            f[1].first_wall_ms,
        ),
        (
            "body size (KiB, uncompressed)",
            f[0].body_bytes as f64 / 1024.0,
            f[1].body_bytes as f64 / 1024.0,
        ),
        ("series", f[0].series as f64, f[1].series as f64),
    ]);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} vs {}\n\nWire: {}.\n\n{} rounds, alternating; {} sequential scrapes per round for CPU (the process's on-CPU time from schedstat), HTTP/1.1 with gzip accepted, each of: {}; wrk -t1 -c4 (kept connections) for {} s with gzip for latency; medians over rounds.\n",
        contenders[0].label,
        contenders[1].label,
        web_config.describe(),
        options.rounds,
        options.scrapes,
        options
            .connections
            .iter()
            .map(|r| match r {
                Reuse::Kept => "one connection kept open",
                Reuse::New => "a new connection per scrape (Connection: close)",
            })
            .collect::<Vec<_>>()
            .join(", "),
        options.load_seconds
    );
    if options.target == "pg" {
        let _ = writeln!(
            out,
            "PostgreSQL: {} databases `bench_N` besides `postgres`, {} tables in all; both auto-discover databases.\n",
            options.databases, options.tables
        );
    }
    let _ = writeln!(
        out,
        "| figure | {} | {} | ratio |",
        contenders[0].label, contenders[1].label
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (name, ours, theirs) in rows {
        let _ = writeln!(
            out,
            "| {name} | {ours:.3} | {theirs:.3} | {:.2} |",
            ours / theirs
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_durations_convert_to_milliseconds() {
        assert_eq!(parse_wrk_duration("812.00us").unwrap(), 0.812);
        assert_eq!(parse_wrk_duration("1.50ms").unwrap(), 1.5);
        assert_eq!(parse_wrk_duration("2.00s").unwrap(), 2000.0);
        assert!(parse_wrk_duration("5m").is_err());
    }
}
