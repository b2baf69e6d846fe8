//! container-exporter at scale: no cAdvisor runs here, so this measures our exporter against the
//! issue's absolute targets and the Docker daemon against itself. For each container count (in
//! ascending order, containers added between sizes) it measures the daemon's CPU with nothing
//! scraping, then starts a fresh container-exporter and scrapes it like Prometheus (gzip, one
//! scrape every interval) for the window, and reports: our CPU as % of one core, RSS (peak and
//! last), scrape latency (p50/p99/max over the window's scrapes and over a burst of
//! back-to-back scrapes), series and body size, and the daemon's CPU with and without us.
//!
//! `cargo run --release -p bench -- containers [--containers 25,200] [--seconds 300]
//!  [--interval 10] [--baseline-seconds 60]`

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::docker::Container;
use testkit::{free_port, ServiceProcess};

use super::{clock_ticks, cpu_ticks, our_binary, rss_kib};

struct Options {
    sizes: Vec<usize>,
    seconds: u64,
    interval: u64,
    baseline_seconds: u64,
    burst: usize,
}

/// What one container count gave.
struct Figures {
    containers: usize,
    cpu_percent: f64,
    rss_peak_kib: f64,
    rss_last_kib: f64,
    window_latency: Latency,
    burst_latency: Latency,
    series: usize,
    body_bytes: usize,
    /// Containers in the exporter's output: ours plus any others on the engine.
    seen: usize,
    daemon_idle_percent: f64,
    daemon_scraped_percent: f64,
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub fn main(args: impl Iterator<Item = String>) -> Result<()> {
    let options = parse(args)?;
    testkit::docker::require_docker();
    let image = testkit::docker::test_image();
    let exporter = our_binary("container-exporter")?;
    let mut running: Vec<Container> = Vec::new();
    let mut results = Vec::new();
    for &size in &options.sizes {
        eprintln!("starting containers up to {size} (image {image})");
        while running.len() < size {
            running.push(Container::run(&[], "sleep 86400"));
        }
        results.push(measure(&options, &exporter, size)?);
    }
    print!("{}", render(&options, &results));
    Ok(())
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options {
        sizes: vec![25, 200],
        seconds: 300,
        interval: 10,
        baseline_seconds: 60,
        burst: 100,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number = || -> Result<u64> {
            value
                .parse()
                .with_context(|| format!("{flag} needs a number, got {value:?}"))
        };
        match flag.as_str() {
            "--containers" => {
                let mut sizes = value
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("--containers takes counts like 25,200: {value:?}"))?;
                sizes.sort_unstable();
                options.sizes = sizes;
            }
            "--seconds" => options.seconds = number()?,
            "--interval" => options.interval = number()?.max(1),
            "--baseline-seconds" => options.baseline_seconds = number()?,
            "--burst" => options.burst = number()? as usize,
            other => bail!("unknown flag {other}"),
        }
    }
    if options.sizes.is_empty() {
        bail!("--containers needs at least one count");
    }
    Ok(options)
}

fn measure(options: &Options, exporter: &Path, size: usize) -> Result<Figures> {
    // Let the engine settle after starting containers, then its CPU with nobody scraping.
    std::thread::sleep(Duration::from_secs(5));
    eprintln!(
        "{size} containers: daemon CPU with nothing scraping, {} s",
        options.baseline_seconds
    );
    let daemon_idle_percent = daemon_cpu_percent(Duration::from_secs(options.baseline_seconds))?;

    let port = free_port();
    let process = ServiceProcess::start(
        exporter,
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        port,
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_for_containers(&url, size)?;

    eprintln!(
        "{size} containers: scraping every {} s for {} s",
        options.interval, options.seconds
    );
    let clk = clock_ticks();
    let daemon_before = daemon_ticks()?;
    let ours_before = cpu_ticks(process.pid())?;
    let started = Instant::now();
    let window = Duration::from_secs(options.seconds);
    let mut latencies = Vec::new();
    let mut rss_peak_kib: f64 = 0.0;
    let mut next = Instant::now();
    while started.elapsed() < window {
        latencies.push(timed_scrape(&url)?.0);
        rss_peak_kib = rss_peak_kib.max(rss_kib(process.pid())?);
        next += Duration::from_secs(options.interval);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait.min(window.saturating_sub(started.elapsed())));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ours_ticks = cpu_ticks(process.pid())? - ours_before;
    let daemon_scraped = daemon_ticks()? - daemon_before;
    let rss_last_kib = rss_kib(process.pid())?;

    let mut burst = Vec::with_capacity(options.burst);
    for _ in 0..options.burst {
        burst.push(timed_scrape(&url)?.0);
    }
    rss_peak_kib = rss_peak_kib.max(rss_kib(process.pid())?);
    let body = plain_scrape(&url)?;
    Ok(Figures {
        containers: size,
        cpu_percent: ours_ticks as f64 / clk / elapsed * 100.0,
        rss_peak_kib,
        rss_last_kib,
        window_latency: Latency::of(&mut latencies),
        burst_latency: Latency::of(&mut burst),
        series: body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count(),
        body_bytes: body.len(),
        seen: count_containers(&body),
        daemon_idle_percent,
        daemon_scraped_percent: daemon_scraped as f64 / clk / elapsed * 100.0,
    })
}

/// Waits (up to two minutes) until the exporter lists at least `size` containers.
fn wait_for_containers(url: &str, size: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body = plain_scrape(url)?;
        let prefix = format!("name=\"cm-test-{}-", std::process::id());
        let seen = body
            .lines()
            .filter(|l| l.starts_with("container_last_seen{") && l.contains(&prefix))
            .count();
        if seen >= size {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("container-exporter lists {seen} containers, expected at least {size}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Named containers in a scrape (the root cgroup `id="/"` has no name).
fn count_containers(body: &str) -> usize {
    body.lines()
        .filter(|l| l.starts_with("container_last_seen{") && l.contains("name=\""))
        .count()
}

/// One scrape as Prometheus sends it; returns its latency in milliseconds.
fn timed_scrape(url: &str) -> Result<(f64, usize)> {
    let started = Instant::now();
    let r = testkit::http::get_with(url, &[("Accept-Encoding", "gzip")], Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if r.status != 200 {
        bail!("container-exporter answered {}", r.status);
    }
    Ok((ms, r.body.len()))
}

fn plain_scrape(url: &str) -> Result<String> {
    let r =
        testkit::http::get_with(url, &[], Duration::from_secs(30)).map_err(anyhow::Error::msg)?;
    if r.status != 200 {
        bail!("container-exporter answered {}: {}", r.status, r.body);
    }
    Ok(r.body)
}

/// The host engine's CPU, as % of one core, over `window`.
fn daemon_cpu_percent(window: Duration) -> Result<f64> {
    let before = daemon_ticks()?;
    let started = Instant::now();
    std::thread::sleep(window);
    let ticks = daemon_ticks()? - before;
    Ok(ticks as f64 / clock_ticks() / started.elapsed().as_secs_f64() * 100.0)
}

/// CPU ticks of the host's Docker engine: dockerd (from its pid file), its containerd, and the
/// runc shims of the host's containers (they read cgroups for the daemon's stats). Engines in
/// other network namespaces (the swarm test's) have their own pid files and are not counted.
fn daemon_ticks() -> Result<u64> {
    let dockerd: u32 = std::fs::read_to_string("/var/run/docker.pid")
        .context("read /var/run/docker.pid (is the host's dockerd running?)")?
        .trim()
        .parse()
        .context("parse /var/run/docker.pid")?;
    let mut total = cpu_ticks(dockerd)?;
    for entry in std::fs::read_dir("/proc").context("list /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if is_engine_helper(pid, dockerd) {
            // A process that exits between listing and reading counts nothing.
            total += cpu_ticks(pid).unwrap_or(0);
        }
    }
    Ok(total)
}

/// dockerd's own containerd (its child), or a shim serving the host engine's containerd.
fn is_engine_helper(pid: u32, dockerd: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let comm = stat
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map_or("", |(comm, _)| comm);
    let parent = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    match comm {
        "containerd" => parent == Some(dockerd),
        "containerd-shim" => std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("/var/run/docker/containerd/"))
            .unwrap_or(false),
        _ => false,
    }
}

impl Latency {
    fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if values.is_empty() {
                f64::NAN
            } else {
                values[((values.len() - 1) as f64 * q).round() as usize]
            }
        };
        Self {
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            max_ms: pick(1.0),
        }
    }
}

/// A report row: its name and how to read it off one size's figures.
type Row = (&'static str, fn(&Figures) -> f64);

fn render(options: &Options, results: &[Figures]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## container-exporter at scale\n\n{} s window per size, one gzip scrape every {} s (as Prometheus), then {} back-to-back scrapes; daemon = dockerd + containerd + the host's runc shims, idle measured over {} s before the exporter starts.\n",
        options.seconds, options.interval, options.burst, options.baseline_seconds
    );
    let header: Vec<String> = results
        .iter()
        .map(|r| format!("{} containers", r.containers))
        .collect();
    let _ = writeln!(
        out,
        "| figure | {} | growth per container |",
        header.join(" | ")
    );
    let _ = writeln!(out, "|---|{}---:|", "---:|".repeat(results.len()));
    let rows: [Row; 13] = [
        ("containers in the output (ours + others)", |r| {
            r.seen as f64
        }),
        ("our CPU (% of one core)", |r| r.cpu_percent),
        ("RSS peak (MB)", |r| r.rss_peak_kib * 1024.0 / 1e6),
        ("RSS last (MB)", |r| r.rss_last_kib * 1024.0 / 1e6),
        ("scrape p50, every interval (ms)", |r| {
            r.window_latency.p50_ms
        }),
        ("scrape p99, every interval (ms)", |r| {
            r.window_latency.p99_ms
        }),
        ("scrape max, every interval (ms)", |r| {
            r.window_latency.max_ms
        }),
        ("scrape p50, back to back (ms)", |r| r.burst_latency.p50_ms),
        ("scrape p99, back to back (ms)", |r| r.burst_latency.p99_ms),
        ("series", |r| r.series as f64),
        ("body (KB, uncompressed)", |r| r.body_bytes as f64 / 1e3),
        ("daemon CPU, nothing scraping (% of one core)", |r| {
            r.daemon_idle_percent
        }),
        ("daemon CPU, while we are scraped (% of one core)", |r| {
            r.daemon_scraped_percent
        }),
    ];
    for (name, get) in rows {
        let cells: Vec<String> = results.iter().map(|r| format!("{:.3}", get(r))).collect();
        let growth = match (results.first(), results.last()) {
            (Some(a), Some(b)) if b.containers > a.containers => format!(
                "{:.4}",
                (get(b) - get(a)) / (b.containers - a.containers) as f64
            ),
            _ => "-".into(),
        };
        let _ = writeln!(out, "| {name} | {} | {growth} |", cells.join(" | "));
    }
    out
}
