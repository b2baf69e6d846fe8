//! `bench soak`: every clustermon service under its real traffic for a long time, reporting
//! RSS, open file descriptors and threads at the start (after a warm-up) and at the end.
//!
//! Traffic, per service and paced to `--rate` requests a second: scrapes of the exporters'
//! `/metrics`; docker-api's and the dashboard's API calls as the page makes them; event-stream
//! clients joining, reading a few events and leaving (on docker-api and through the dashboard);
//! containers starting and stopping on the engine all along. The backends are real: a private
//! PostgreSQL cluster, a private Redis, this machine's Docker engine. A benchmark: it asserts
//! nothing and prints figures (goal: RSS growth under 5 %, no fd or thread growth).
//!
//! `cargo build --release -p host-exporter -p pg-exporter -p redis-exporter -p container-exporter
//!  -p docker-api -p dashboard -p bench && target/release/bench soak [--minutes 30] [--rate 50]`
//!
//! `--only docker-api` (repeatable) soaks some services alone; `--sample-seconds 60` prints RSS
//! (and its anonymous and file-backed parts), fds and threads of each one every so often (and
//! docker-api's `docker_api_history_bytes`), to tell a leak (growing all along) from a warm-up
//! (growing to a plateau). `crates/bench/tools/malloc_stats.c`, preloaded, adds glibc's malloc
//! statistics of docker-api (see its header).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::docker::Container;
use testkit::postgres::PgCluster;
use testkit::{free_port, ServiceProcess};

use crate::our_binary;

struct Options {
    minutes: u64,
    rate: u64,
    warmup_seconds: u64,
    /// Services to soak; empty: all six.
    only: Vec<String>,
    /// Print a line of figures this often (0: only start and end).
    sample_seconds: u64,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options {
        minutes: 30,
        rate: 50,
        warmup_seconds: 60,
        only: Vec::new(),
        sample_seconds: 0,
    };
    let mut args = args;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        if flag == "--only" {
            options.only.push(value);
            continue;
        }
        let value: u64 = value
            .parse()
            .with_context(|| format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--minutes" => options.minutes = value,
            "--rate" => options.rate = value.max(1),
            "--warmup-seconds" => options.warmup_seconds = value,
            "--sample-seconds" => options.sample_seconds = value,
            other => bail!(
                "unknown flag {other} (soak takes --minutes, --rate, --warmup-seconds, --only, \
                 --sample-seconds)"
            ),
        }
    }
    Ok(options)
}

/// One service under soak: its process, the paths its traffic cycles through, and counters.
struct Soaked {
    name: &'static str,
    process: ServiceProcess,
    paths: Vec<&'static str>,
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Resource figures of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Resources {
    rss_kib: u64,
    /// The part of RSS that is anonymous memory (heap, arenas, stacks) and the part that is
    /// file-backed (the binary's code and libc pages): a heap that grows and code paths touched
    /// for the first time look alike in RSS alone.
    anon_kib: u64,
    file_kib: u64,
    fds: u64,
    threads: u64,
}

fn resources(pid: u32) -> Resources {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Resources {
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
        fds,
        threads: field("Threads:"),
    }
}

pub fn main(args: impl Iterator<Item = String>) -> Result<()> {
    let options = parse(args)?;
    let work = tempfile::tempdir().context("temporary directory")?;
    eprintln!("soak: starting PostgreSQL, Redis and the six services");
    let pg = PgCluster::start();
    let redis_port = free_port();
    let _redis = testkit::redis::start_redis(redis_port, work.path(), &[]);
    let services = start_services(&pg, redis_port, &options.only)?;
    if services.is_empty() {
        bail!("--only names none of the six services");
    }
    let services = Arc::new(services);

    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for index in 0..services.len() {
        let services = services.clone();
        let stop = stop.clone();
        let rate = options.rate;
        threads.push(std::thread::spawn(move || {
            drive(&services[index], rate, &stop)
        }));
    }
    let streams_done = Arc::new(AtomicU64::new(0));
    for name in ["docker-api", "dashboard"] {
        let Some(port) = services
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.process.port)
        else {
            continue;
        };
        let stop = stop.clone();
        let done = streams_done.clone();
        threads.push(std::thread::spawn(move || {
            stream_clients(port, &stop, &done)
        }));
    }
    let churned = Arc::new(AtomicU64::new(0));
    {
        let stop = stop.clone();
        let churned = churned.clone();
        threads.push(std::thread::spawn(move || container_churn(&stop, &churned)));
    }

    std::thread::sleep(Duration::from_secs(options.warmup_seconds));
    let start: Vec<Resources> = services
        .iter()
        .map(|s| resources(s.process.pid()))
        .collect();
    let t0 = Instant::now();
    let mut peak = start.clone();
    let total = Duration::from_secs(options.minutes * 60);
    let mut last_sample = Instant::now();
    print_samples(&services, 0);
    while t0.elapsed() < total {
        std::thread::sleep(Duration::from_secs(10));
        for (i, s) in services.iter().enumerate() {
            let now = resources(s.process.pid());
            peak[i].rss_kib = peak[i].rss_kib.max(now.rss_kib);
            peak[i].fds = peak[i].fds.max(now.fds);
            peak[i].threads = peak[i].threads.max(now.threads);
        }
        if options.sample_seconds > 0
            && last_sample.elapsed() >= Duration::from_secs(options.sample_seconds)
        {
            last_sample = Instant::now();
            print_samples(&services, t0.elapsed().as_secs());
        }
    }
    let end: Vec<Resources> = services
        .iter()
        .map(|s| resources(s.process.pid()))
        .collect();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    print!(
        "{}",
        report(
            &options,
            &services,
            &start,
            &end,
            &peak,
            streams_done.load(Ordering::SeqCst),
            churned.load(Ordering::SeqCst)
        )
    );
    Ok(())
}

/// One line per service: elapsed seconds, RSS, fds, threads, and docker-api's history bytes.
fn print_samples(services: &[Soaked], elapsed: u64) {
    for s in services {
        let r = resources(s.process.pid());
        let history = if s.name == "docker-api" {
            gauge(&s.process.url("/metrics"), "docker_api_history_bytes")
                .map_or_else(|| "?".into(), |v| format!("{v:.0}"))
        } else {
            "-".into()
        };
        println!(
            "sample {elapsed:>5} s {:<18} rss_kib {:>6} (anon {:>6} file {:>6}) fds {:>3} threads {:>2} history_bytes {history}",
            s.name, r.rss_kib, r.anon_kib, r.file_kib, r.fds, r.threads
        );
    }
}

/// The value of an unlabelled gauge in a Prometheus text page.
fn gauge(url: &str, name: &str) -> Option<f64> {
    let page = testkit::http::get_with(url, &[], Duration::from_secs(10)).ok()?;
    page.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The six services, or those named in `only`.
fn start_services(pg: &PgCluster, redis_port: u16, only: &[String]) -> Result<Vec<Soaked>> {
    let listen = |port: u16| format!("--web.listen-address=127.0.0.1:{port}");
    let mut out = Vec::new();
    let mut start = |name: &'static str,
                     args: Vec<String>,
                     env: Vec<(&str, String)>,
                     port: u16,
                     paths: Vec<&'static str>|
     -> Result<()> {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            return Ok(());
        }
        let program = our_binary(name)?;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = ServiceProcess::start_with_env(program, &args, &env, port);
        out.push(Soaked {
            name,
            process,
            paths,
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        Ok(())
    };
    let port = free_port();
    start(
        "host-exporter",
        vec![listen(port)],
        vec![],
        port,
        vec!["/metrics"],
    )?;
    let port = free_port();
    start(
        "pg-exporter",
        vec![listen(port)],
        vec![("DATA_SOURCE_NAME", pg.uri("postgres"))],
        port,
        vec!["/metrics"],
    )?;
    let port = free_port();
    start(
        "redis-exporter",
        vec![
            listen(port),
            format!("--redis.addr=redis://127.0.0.1:{redis_port}"),
        ],
        vec![],
        port,
        vec!["/metrics"],
    )?;
    let port = free_port();
    start(
        "container-exporter",
        vec![listen(port)],
        vec![],
        port,
        vec!["/metrics"],
    )?;
    let docker_api_port = free_port();
    start(
        "docker-api",
        vec![listen(docker_api_port)],
        vec![],
        docker_api_port,
        vec![
            "/api/containers",
            "/api/stats/aggregate",
            "/api/stats/history",
            "/api/system/info",
            "/metrics",
        ],
    )?;
    let port = free_port();
    start(
        "dashboard",
        vec![
            listen(port),
            format!("--docker-api.url=http://127.0.0.1:{docker_api_port}"),
        ],
        vec![],
        port,
        vec![
            "/",
            "/api/containers",
            "/api/stats/aggregate",
            "/api/stats/history",
        ],
    )?;
    Ok(out)
}

/// Requests to one service at `rate` a second, cycling through its paths, until stopped.
fn drive(service: &Soaked, rate: u64, stop: &AtomicBool) {
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let mut next = Instant::now();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let path = service.paths[n % service.paths.len()];
        n = n.wrapping_add(1);
        let url = service.process.url(path);
        match testkit::http::get_with(
            &url,
            &[("Accept-Encoding", "gzip")],
            Duration::from_secs(15),
        ) {
            Ok(r) if r.status < 400 => service.ok.fetch_add(1, Ordering::Relaxed),
            _ => service.failed.fetch_add(1, Ordering::Relaxed),
        };
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// Event-stream clients joining, reading for a few seconds and leaving, one every second; one
/// in five stops reading without closing (held open 10 s) as a stalled browser tab would.
fn stream_clients(port: u16, stop: &AtomicBool, done: &AtomicU64) {
    let mut held: Vec<(Instant, TcpStream)> = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
            let request = format!(
                "GET /api/stats/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                if n.is_multiple_of(5) {
                    held.push((Instant::now(), stream));
                } else {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        held.retain(|(since, _)| since.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A container started every 5 s and removed 30 s later (six alive at a time).
fn container_churn(stop: &AtomicBool, churned: &AtomicU64) {
    let mut alive: Vec<(Instant, Container)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let c = Container::run(&["--cpus", "0.05"], "while true; do sleep 1; done");
        alive.push((Instant::now(), c));
        churned.fetch_add(1, Ordering::Relaxed);
        alive.retain(|(since, _)| since.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn growth(start: u64, end: u64) -> String {
    if start == 0 {
        return "n/a".into();
    }
    format!(
        "{:+.1} %",
        (end as f64 - start as f64) * 100.0 / start as f64
    )
}

fn report(
    options: &Options,
    services: &[Soaked],
    start: &[Resources],
    end: &[Resources],
    peak: &[Resources],
    streams: u64,
    churned: u64,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "soak: {} min after {} s warm-up, {} requests/s per service, {streams} stream clients \
         read and left, {churned} containers started and removed\n",
        options.minutes, options.warmup_seconds, options.rate
    );
    let _ = writeln!(
        out,
        "| service | requests ok / failed | RSS start -> end (peak) KiB | RSS growth | fds start -> end (peak) | threads start -> end (peak) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (i, s) in services.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} / {} | {} -> {} ({}) | {} | {} -> {} ({}) | {} -> {} ({}) |",
            s.name,
            s.ok.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            start[i].rss_kib,
            end[i].rss_kib,
            peak[i].rss_kib,
            growth(start[i].rss_kib, end[i].rss_kib),
            start[i].fds,
            end[i].fds,
            peak[i].fds,
            start[i].threads,
            end[i].threads,
            peak[i].threads,
        );
    }
    out
}
