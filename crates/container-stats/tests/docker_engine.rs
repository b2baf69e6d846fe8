//! container-stats against the real Docker engine: discovery follows starts, renames, health
//! and stops from events; samples and the docker CLI formulas agree with `docker stats`.
//! Needs Docker; fails with a clear message when the daemon is not reachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use container_stats::{docker_cli, ContainerEvent, Discovery, ReadOptions, Roots, StatsReader};

use testkit::docker::{require_docker, Container, TEST_IMAGE as IMAGE};

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} not seen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn docker_discovery_follows_start_health_rename_and_stop() {
    require_docker();
    let discovery = Discovery::start("unix:///var/run/docker.sock");
    assert!(
        discovery.wait_synced(Duration::from_secs(20)).await,
        "no listing from the daemon"
    );
    let mut events = discovery.subscribe();
    let c = Container::run(
        &[
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--label",
            "app=demo",
        ],
        "sleep 600",
    );
    wait_for("the started container", || discovery.get(&c.id).is_some()).await;
    let info = discovery.get(&c.name).unwrap();
    assert_eq!(info.image, IMAGE);
    assert_eq!(info.labels["app"], "demo");
    assert!(info.pid.is_some());
    assert!(info.started_at.is_some());
    assert!(discovery.get(&c.id[..12]).is_some(), "short ids resolve");
    wait_for("healthy", || {
        discovery
            .get(&c.id)
            .and_then(|i| i.health.clone())
            .as_deref()
            == Some("healthy")
    })
    .await;

    let renamed = format!("{}-renamed", c.name);
    assert!(Command::new("docker")
        .args(["rename", &c.name, &renamed])
        .status()
        .unwrap()
        .success());
    wait_for("the new name", || discovery.get(&renamed).is_some()).await;

    let _ = Command::new("docker").args(["rm", "-f", &c.id]).output();
    wait_for("the stop", || discovery.get(&c.id).is_none()).await;
    let mut saw_start = false;
    let mut saw_stop = false;
    while let Ok(event) = events.try_recv() {
        match event {
            ContainerEvent::Started(i) if i.id == c.id => saw_start = true,
            ContainerEvent::Stopped { id, .. } if id == c.id => saw_stop = true,
            _ => {}
        }
    }
    assert!(saw_start && saw_stop, "start and stop events are passed on");
}

#[tokio::test]
async fn docker_stats_formulas_agree_with_docker_stats() {
    require_docker();
    let burner = Container::run(&["--cpus", "0.5", "-m", "48m"], "while :; do :; done");
    let discovery = Discovery::start("unix:///var/run/docker.sock");
    wait_for("the burner", || discovery.get(&burner.id).is_some()).await;
    let info = discovery.get(&burner.id).unwrap();
    let reader = StatsReader::new(Roots::default(), ReadOptions::default()).unwrap();
    let machine = reader.machine_info();

    let first = reader.read(&info, reader.host_cpu().unwrap()).unwrap();
    let docker = Command::new("docker")
        .args([
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}}|{{.MemUsage}}",
            &burner.name,
        ])
        .output()
        .unwrap();
    let second = reader.read(&info, reader.host_cpu().unwrap()).unwrap();
    let text = String::from_utf8_lossy(&docker.stdout).trim().to_string();
    let (cpu_text, mem_text) = text.split_once('|').unwrap();
    let docker_cpu: f64 = cpu_text.trim_end_matches('%').parse().unwrap();
    let ours = docker_cli::cpu_percent(&first, &second);
    assert!(ours > 0.0 && ours <= 52.0, "{ours}");
    // Our window brackets docker's; on a busy machine the loop may fall short of its quota.
    let tolerance = if ours > 45.0 { 2.0 } else { 8.0 };
    assert!(
        (ours - docker_cpu).abs() < tolerance,
        "ours {ours:.2}% vs docker stats {docker_cpu:.2}%"
    );

    let limit_text = mem_text.split('/').nth(1).unwrap().trim();
    assert_eq!(limit_text, "48MiB");
    assert_eq!(
        docker_cli::memory_limit_bytes(&second.memory, machine.memory_bytes),
        48 * 1024 * 1024
    );
    assert_eq!(second.cpu.quota_us, Some(50_000));
    assert_eq!(second.online_cpus, machine.cpu_cores);
    assert!(
        second.network.iter().any(|i| i.name == "eth0"),
        "the bridge interface is read: {:?}",
        second.network
    );
    // The cgroup is where the container's main process says it is, on either hierarchy.
    assert_eq!(second.cgroup, proc_cgroup(&burner));

    // NET I/O against the container's own view of its interfaces (its /proc/net/dev, read
    // inside it by docker exec), bracketed by two of our samples.
    let (rx0, tx0) = docker_cli::network_bytes(
        &reader
            .read(&info, reader.host_cpu().unwrap())
            .unwrap()
            .network,
    );
    let inside = burner.exec("cat /proc/net/dev");
    let (rx1, tx1) = docker_cli::network_bytes(
        &reader
            .read(&info, reader.host_cpu().unwrap())
            .unwrap()
            .network,
    );
    let (rx, tx) = net_dev_totals(&inside);
    assert!(rx > 0, "the container received nothing? {inside}");
    assert!(rx0 <= rx && rx <= rx1, "{rx0} <= {rx} <= {rx1}");
    assert!(tx0 <= tx && tx <= tx1, "{tx0} <= {tx} <= {tx1}");
}

/// Received and transmitted bytes over every interface but loopback, from `/proc/net/dev` text
/// (parsed here by hand, independently of container-stats).
fn net_dev_totals(text: &str) -> (u64, u64) {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .filter_map(|(_, rest)| {
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (f.len() >= 9).then(|| (f[0], f[8]))
        })
        .fold((0, 0), |(r, t), (a, b)| (r + a, t + b))
}

/// The container's cgroup path from its main process's `/proc/<pid>/cgroup`: the `0::` line
/// on a cgroup2 host, the `cpuacct` line on v1.
fn proc_cgroup(c: &Container) -> String {
    let pid = c.inspect("{{.State.Pid}}");
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").is_file();
    text.lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = if v2 {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|k| k == "cpuacct")
            };
            wanted.then(|| path.to_string())
        })
        .unwrap()
}
