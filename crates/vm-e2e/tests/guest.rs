//! container-exporter and docker-api on a real cgroup v2 host: the Debian 13 guest of
//! `scripts/vm-host` (systemd cgroup driver, overlay2, Docker 26). Both run there as containers
//! built here (`scripts/build-images --profile dev`) with the guest's `/sys`, `/proc` and Docker
//! socket mounted, and are checked against the guest's own `docker stats`, `docker inspect` and
//! the containers' cgroup v2 files. Compiled in only when `CLUSTERMON_VM_DOCKER_HOST` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(vm_guest), allow(dead_code, unused_imports))]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vm_e2e::{close, scrape, value, Guest, GuestContainer};

/// Guest ports (forwarded by `scripts/vm-host`) the services publish on.
const EXPORTER_PORT: u16 = 8080;
const DOCKER_API_PORT: u16 = 8081;
const MIB: f64 = 1024.0 * 1024.0;

/// What every check shares: the services and two test containers, started once.
struct Setup {
    guest: &'static Guest,
    exporter: String,
    docker_api: String,
    /// `--cpus 0.5`, spinning.
    burner: GuestContainer,
    /// `-m 64m`, 24 MiB written to its writable layer (page cache), then idle.
    writer: GuestContainer,
    _services: [GuestContainer; 2],
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let guest = Guest::get();
        guest.remove_leftovers();
        guest.test_image();
        let [exporter_image, _] = guest.service_images();
        let exporter = GuestContainer::run_image(
            guest,
            "cm-vm-container-exporter",
            &[
                "--user=0",
                "--pid=host",
                "-p",
                &format!("{EXPORTER_PORT}:8080"),
                "-v",
                "/sys:/host/sys:ro",
                "-v",
                "/proc:/host/proc:ro",
                "-v",
                "/:/rootfs:ro",
                "-v",
                "/var/run/docker.sock:/var/run/docker.sock:ro",
                &exporter_image,
                "--path.sysfs=/host/sys",
                "--path.procfs=/host/proc",
                "--path.rootfs=/rootfs",
                "--housekeeping_interval=5s",
            ],
        );
        let docker_api = guest.start_docker_api(DOCKER_API_PORT);
        let burner = GuestContainer::run(guest, &["--cpus", "0.5"], "while :; do :; done");
        let writer = GuestContainer::run(
            guest,
            &["-m", "64m"],
            "dd if=/dev/zero of=/blob bs=1M count=24 2>/dev/null && sync && touch /ready; exec sleep 3600",
        );
        guest.wait_for("the writer's 24 MiB", Duration::from_secs(240), || {
            writer.exec("test -e /ready && echo yes || true").contains("yes").then_some(())
        });
        let setup = Setup {
            guest,
            exporter: guest.forward(EXPORTER_PORT).to_string(),
            docker_api: guest.forward(DOCKER_API_PORT).to_string(),
            burner,
            writer,
            _services: [exporter, docker_api],
        };
        for c in [&setup.burner, &setup.writer] {
            setup.exporter_sees(&c.name, Duration::from_secs(240));
        }
        setup
    })
}

impl Setup {
    fn here(&self) -> String {
        self.guest.describe()
    }

    fn scrape(&self) -> BTreeMap<String, testkit::Family> {
        scrape(&self.exporter)
            .unwrap_or_else(|e| panic!("{}: scraping container-exporter: {e}", self.here()))
    }

    /// A scrape whose collection starts after this call: a scrape joins a collection already
    /// in flight (single-flight; the other tests scrape at the same time), which may have read
    /// its files before the caller's own first read. The second of two scrapes starts after
    /// the first ended, so any collection it joins began after this call.
    fn scrape_started_now(&self) -> BTreeMap<String, testkit::Family> {
        self.scrape();
        self.scrape()
    }

    /// Waits until container-exporter exports the container `name`.
    fn exporter_sees(&self, name: &str, limit: Duration) -> BTreeMap<String, testkit::Family> {
        self.guest.wait_for(
            &format!("container-exporter to export {name}"),
            limit,
            || {
                let families = scrape(&self.exporter).ok()?;
                value(&families, "container_last_seen", &[("name", name)])?;
                Some(families)
            },
        )
    }

    fn api(&self, path: &str) -> serde_json::Value {
        let url = format!("http://{}{path}", self.docker_api);
        let r = testkit::http::get_with(&url, &[], Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{}: GET {url}: {e}", self.here()));
        assert_eq!(r.status, 200, "{}: GET {url}: {}", self.here(), r.body);
        serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{}: GET {url}: not JSON ({e}): {}", self.here(), r.body))
    }

    /// Waits until docker-api answers `path` with 200 and `pick` finds what is wanted in it.
    fn api_until<T>(
        &self,
        what: &str,
        path: &str,
        mut pick: impl FnMut(&serde_json::Value) -> Option<T>,
    ) -> T {
        let url = format!("http://{}{path}", self.docker_api);
        self.guest.wait_for(what, Duration::from_secs(240), || {
            let r = testkit::http::get_with(&url, &[], Duration::from_secs(30)).ok()?;
            if r.status != 200 {
                return None;
            }
            pick(&serde_json::from_str(&r.body).ok()?)
        })
    }
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn guest_is_cgroup_v2_with_the_systemd_driver_and_overlay2() {
    let facts = Guest::get().facts();
    let line = facts.line("guest");
    assert_eq!(facts.cgroup_version, "2", "{line}: not cgroup v2");
    assert_eq!(
        facts.cgroup_driver, "systemd",
        "{line}: not the systemd driver"
    );
    assert_eq!(facts.storage_driver, "overlay2", "{line}: not overlay2");
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn containers_are_found_named_and_under_their_systemd_scope() {
    let s = setup();
    let families = s.scrape();
    let find = |name: &str| {
        families["container_last_seen"]
            .samples
            .iter()
            .find(|x| x.labels.get("name").map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("{}: {name} not exported", s.here()))
            .labels
            .clone()
    };
    // Every running container, the services themselves included.
    let running = s
        .guest
        .docker_ok(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    for (id, name) in running.lines().filter_map(|l| l.split_once(' ')) {
        let labels = find(name);
        assert_eq!(
            labels.get("id").map(String::as_str),
            Some(format!("/system.slice/docker-{id}.scope").as_str()),
            "{}: {name}'s cgroup (the id label) is not its systemd scope",
            s.here()
        );
    }
    for c in [&s.burner, &s.writer] {
        assert_eq!(
            find(&c.name).get("image").map(String::as_str),
            Some(testkit::docker::TEST_IMAGE),
            "{}: {}'s image label",
            s.here(),
            c.name
        );
    }
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn cpu_of_a_half_cpu_burner_agrees_with_docker_stats() {
    let s = setup();
    let name = s.burner.name.as_str();
    let usage = |f: &BTreeMap<String, testkit::Family>| {
        value(
            f,
            "container_cpu_usage_seconds_total",
            &[("name", name), ("cpu", "total")],
        )
        .unwrap_or_else(|| panic!("{}: no CPU usage for {name}", s.here()))
    };
    // A sampling window of seconds: the guest runs under software emulation. The kernel's own
    // accounting over about the same window (cpu.stat and the guest's uptime) is the first
    // reference, docker stats the second.
    let kernel_before = s.burner.cpu_seconds_and_uptime();
    let (first, t0) = (s.scrape(), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (second, t1) = (s.scrape(), Instant::now());
    let kernel_after = s.burner.cpu_seconds_and_uptime();
    let ours = (usage(&second) - usage(&first)) / (t1 - t0).as_secs_f64() * 100.0;
    let kernel = (kernel_after.0 - kernel_before.0) / (kernel_after.1 - kernel_before.1) * 100.0;
    eprintln!("burner CPU: container-exporter {ours:.1} %, cpu.stat {kernel:.1} %");
    assert!(
        kernel > 5.0,
        "{}: the burner is not burning: cpu.stat {kernel:.1} %",
        s.here()
    );
    assert!(
        close(ours, kernel, 10.0, 0.0),
        "{}: --cpus 0.5 burner: container-exporter {ours:.1} % vs cpu.stat usage_usec over uptime {kernel:.1} %",
        s.here()
    );
    assert!(
        ours <= 60.0,
        "{}: {ours:.1} % is over the 50 % quota",
        s.here()
    );
    if let Some(docker) = s.guest.docker_stats_cpu(&s.burner.id, 3, 50.0) {
        eprintln!("burner CPU: container-exporter {ours:.1} %, docker stats {docker:.1} %");
        assert!(
            close(ours, docker, 15.0, 0.0),
            "{}: --cpus 0.5 burner: container-exporter {ours:.1} % vs docker stats {docker:.1} %",
            s.here()
        );
    }
    // The quota as the kernel holds it (`cpu.max`: "50000 100000").
    let cpu_max = s.burner.cgroup_file("cpu.max");
    assert_eq!(
        cpu_max.split_whitespace().collect::<Vec<_>>(),
        ["50000", "100000"],
        "{}",
        s.here()
    );
    assert_eq!(
        value(&second, "container_spec_cpu_quota", &[("name", name)]),
        Some(50000.0),
        "{}",
        s.here()
    );
    assert_eq!(
        value(&second, "container_spec_cpu_period", &[("name", name)]),
        Some(100000.0),
        "{}",
        s.here()
    );
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn memory_agrees_with_docker_stats_and_the_cgroup_files() {
    let s = setup();
    let c = &s.writer;
    let name = c.name.as_str();
    // The container is idle: its figures hold still between these reads.
    let current = c.cgroup_u64("memory.current") as f64;
    let inactive_file = c.cgroup_key("memory.stat", "inactive_file") as f64;
    let max = c.cgroup_u64("memory.max") as f64;
    let families = s.scrape();
    let docker = s.guest.docker_stats(&c.id);
    let get = |family: &str| {
        value(&families, family, &[("name", name)])
            .unwrap_or_else(|| panic!("{}: no {family} for {name}", s.here()))
    };
    let (usage, working_set, limit) = (
        get("container_memory_usage_bytes"),
        get("container_memory_working_set_bytes"),
        get("container_spec_memory_limit_bytes"),
    );
    eprintln!(
        "writer memory: usage {usage} (memory.current {current}), working set {working_set} \
         (current - inactive_file {}), docker stats used {}, limit {limit}",
        current - inactive_file,
        docker.memory_used_bytes
    );
    assert!(
        current > 16.0 * MIB,
        "{}: the writer's 24 MiB are not in its page cache: {current}",
        s.here()
    );
    assert!(
        close(usage, current, 2.0 * MIB, 0.05),
        "{}: usage {usage} vs memory.current {current}",
        s.here()
    );
    assert!(
        close(working_set, current - inactive_file, 2.0 * MIB, 0.05),
        "{}: working set {working_set} vs memory.current - inactive_file {}",
        s.here(),
        current - inactive_file
    );
    // `docker stats` shows usage - inactive_file (docker CLI on cgroup v2) in 3 digits.
    assert!(
        close(working_set, docker.memory_used_bytes, 2.0 * MIB, 0.1),
        "{}: working set {working_set} vs docker stats {}",
        s.here(),
        docker.memory_used_bytes
    );
    assert_eq!(max, 64.0 * MIB, "{}: memory.max", s.here());
    assert_eq!(
        limit,
        max,
        "{}: container_spec_memory_limit_bytes vs memory.max",
        s.here()
    );
    assert!(
        close(docker.memory_limit_bytes, max, 0.0, 0.01),
        "{}: docker stats limit {}",
        s.here(),
        docker.memory_limit_bytes
    );
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn pressure_families_come_from_the_containers_v2_files() {
    let s = setup();
    let c = &s.burner;
    for resource in ["cpu", "memory", "io"] {
        let file = format!("{resource}.pressure");
        let total = |kind: &str| -> f64 {
            let text = c.cgroup_file(&file);
            let line = text
                .lines()
                .find(|l| l.starts_with(kind))
                .unwrap_or_else(|| panic!("{}: {file} has no {kind} line: {text}", s.here()));
            let micros: f64 = line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("total="))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{}: {file}: {line}", s.here()));
            micros / 1e6
        };
        for (kind, family) in [("some", "waiting"), ("full", "stalled")] {
            let name = format!("container_pressure_{resource}_{family}_seconds_total");
            let before = total(kind);
            let ours = value(&s.scrape_started_now(), &name, &[("name", c.name.as_str())])
                .unwrap_or_else(|| panic!("{}: {name} missing for {}", s.here(), c.name));
            let after = total(kind);
            assert!(
                before - 1e-6 <= ours && ours <= after + 1e-6,
                "{}: {name} = {ours} is not between two reads of {file} ({kind}): {before} and {after}",
                s.here()
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn network_counters_come_from_the_containers_interface() {
    let s = setup();
    let c = &s.writer;
    let read = || c.net_counter("eth0", "rx_bytes") as f64;
    let before = read();
    let ours = value(
        &s.scrape_started_now(),
        "container_network_receive_bytes_total",
        &[("name", c.name.as_str()), ("interface", "eth0")],
    )
    .unwrap_or_else(|| panic!("{}: no eth0 receive bytes for {}", s.here(), c.name));
    let after = read();
    assert!(
        before <= ours && ours <= after,
        "{}: eth0 receive bytes {ours} not between two reads of the kernel's counter: {before} and {after}",
        s.here()
    );
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn writable_layer_size_agrees_with_docker_on_overlay2() {
    let s = setup();
    let c = &s.writer;
    let docker = s.guest.layer_size(&c.id) as f64;
    let ours = s.guest.wait_for(
        "container_fs_usage_bytes of the writer (walked every 5 s)",
        Duration::from_secs(240),
        || {
            value(
                &scrape(&s.exporter).ok()?,
                "container_fs_usage_bytes",
                &[("name", c.name.as_str())],
            )
        },
    );
    eprintln!("writer's layer: container-exporter {ours}, docker SizeRw {docker}");
    assert!(
        docker >= 24.0 * MIB,
        "{}: docker's SizeRw {docker}",
        s.here()
    );
    assert!(
        close(ours, docker, MIB, 0.1),
        "{}: container_fs_usage_bytes {ours} vs docker inspect --size (SizeRw, docker ps -s) {docker}",
        s.here()
    );
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn a_removed_container_vanishes_from_both_services() {
    let s = setup();
    let c = GuestContainer::run(s.guest, &[], "exec sleep 3600");
    s.exporter_sees(&c.name, Duration::from_secs(240));
    s.api_until(
        "docker-api to list the new container",
        "/api/containers",
        |body| listed(body, &c.name).then_some(()),
    );
    c.remove();
    s.guest.wait_for(
        &format!("{} to vanish from container-exporter", c.name),
        Duration::from_secs(240),
        || {
            let families = scrape(&s.exporter).ok()?;
            let gone = value(
                &families,
                "container_last_seen",
                &[("name", c.name.as_str())],
            )
            .is_none();
            gone.then_some(())
        },
    );
    s.api_until(
        "docker-api to drop the removed container",
        "/api/containers",
        |body| (!listed(body, &c.name)).then_some(()),
    );
}

fn listed(body: &serde_json::Value, name: &str) -> bool {
    body["containers"]
        .as_array()
        .is_some_and(|list| list.iter().any(|c| c["name"] == name))
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn docker_api_reads_cgroupfs_on_v2_and_agrees_with_docker_stats() {
    let s = setup();
    let health = s.api("/health");
    assert_eq!(
        health["stats_source"],
        "cgroupfs",
        "{}: docker-api's stats source is not cgroupfs: {health}",
        s.here()
    );
    let containers = s.api("/api/containers");
    for c in [&s.burner, &s.writer] {
        assert!(
            listed(&containers, &c.name),
            "{}: /api/containers lacks {}: {containers}",
            s.here(),
            c.name
        );
    }
    // Memory of the idle writer against its cgroup files.
    let stats = s.api_until(
        "docker-api stats of the writer",
        &format!("/api/containers/{}/stats", s.writer.name),
        |b| b["memory"]["usage_bytes"].as_f64().map(|_| b.clone()),
    );
    let current = s.writer.cgroup_u64("memory.current") as f64;
    let inactive_file = s.writer.cgroup_key("memory.stat", "inactive_file") as f64;
    let used = current - inactive_file;
    let usage = stats["memory"]["usage_bytes"].as_f64().unwrap_or_default();
    let working_set = stats["memory"]["working_set_bytes"]
        .as_f64()
        .unwrap_or_default();
    let limit = stats["memory"]["limit_bytes"].as_f64().unwrap_or_default();
    // docker-api's usage is `docker stats`' figure: usage less inactive file pages.
    assert!(
        close(usage, used, 2.0 * MIB, 0.1),
        "{}: docker-api memory usage {usage} vs memory.current - inactive_file {used}",
        s.here()
    );
    assert!(
        close(working_set, used, 2.0 * MIB, 0.1),
        "{}: docker-api working set {working_set} vs memory.current - inactive_file {used}",
        s.here()
    );
    assert_eq!(limit, 64.0 * MIB, "{}: docker-api memory limit", s.here());
    // CPU of the burner: its CPU time between two reads of the kernel's counter (docker-api
    // samples every 2 s, so its figure may be a few seconds old), and the percent, which needs
    // two samples.
    let path = format!("/api/containers/{}/stats", s.burner.name);
    let ours = s.api_until("docker-api's CPU percent of the burner", &path, |b| {
        b["cpu"]["percent"].as_f64().filter(|p| *p > 0.0)
    });
    let (before, _) = s.burner.cpu_seconds_and_uptime();
    let seconds = s.api(&path)["cpu"]["usage_seconds"]
        .as_f64()
        .unwrap_or_default();
    let (after, _) = s.burner.cpu_seconds_and_uptime();
    assert!(
        before - 5.0 <= seconds && seconds <= after + 1e-3,
        "{}: docker-api's CPU time of the burner {seconds} s is not its cgroup's: cpu.stat read {before} s before and {after} s after",
        s.here()
    );
    // docker-api computes the percent as the docker CLI does, from the guest's /proc/stat: on
    // a busy host both overstate under software emulation (see Guest::docker_stats_cpu).
    match s.guest.docker_stats_cpu(&s.burner.id, 3, 50.0) {
        Some(docker) if ours <= 60.0 => {
            eprintln!("burner CPU: docker-api {ours:.1} %, docker stats {docker:.1} %");
            assert!(
                close(ours, docker, 15.0, 0.0),
                "{}: --cpus 0.5 burner: docker-api {ours:.1} % vs docker stats {docker:.1} %",
                s.here()
            );
        }
        _ => eprintln!(
            "vm-e2e: WARNING: docker-api's {ours:.1} % for the burner not compared: the guest's \
             tick accounting is off on this busy host"
        ),
    }
}

/// One Server-Sent Event of docker-api's stream: its `event:` name and its `data:` as JSON.
struct Sse {
    event: String,
    data: serde_json::Value,
}

/// Reads `/api/stats/stream` of `addr` on a thread of its own (a slow reader would be dropped
/// by the server), sending each event over the channel until the connection ends.
fn open_stream(addr: &str) -> std::sync::mpsc::Receiver<Sse> {
    use std::io::{BufRead, BufReader, Write};
    let mut conn = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connect to docker-api at {addr}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("set a read timeout");
    conn.write_all(
        b"GET /api/stats/stream HTTP/1.1\r\nHost: guest\r\nAccept: text/event-stream\r\n\r\n",
    )
    .expect("send the stream request");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in BufReader::new(conn).lines() {
            let Ok(line) = line else { return };
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let data = serde_json::from_str(data).unwrap_or(serde_json::Value::Null);
                let sent = tx.send(Sse {
                    event: std::mem::take(&mut event),
                    data,
                });
                if sent.is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The next event of the stream for which `pick` gives a value, within `limit`.
fn next_event<T>(
    s: &Setup,
    rx: &std::sync::mpsc::Receiver<Sse>,
    what: &str,
    limit: Duration,
    mut pick: impl FnMut(&Sse) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(e) => {
                if let Some(v) = pick(&e) {
                    return v;
                }
            }
            Err(e) => panic!(
                "{}: docker-api's stream: no {what} within {limit:?} ({e})",
                s.here()
            ),
        }
    }
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn docker_api_streams_the_guests_container_events_and_stats() {
    let s = setup();
    let rx = open_stream(&s.docker_api);
    // A stats event (the aggregate) that lists the burner, read from the guest's cgroupfs.
    next_event(
        s,
        &rx,
        "stats event listing the burner",
        Duration::from_secs(120),
        |e| (e.event == "stats" && e.data.to_string().contains(&s.burner.name)).then_some(()),
    );
    let c = GuestContainer::run(s.guest, &[], "exec sleep 3600");
    let action_of = |e: &Sse, wanted: &str| {
        (e.event == "container" && e.data["name"] == c.name.as_str() && e.data["action"] == wanted)
            .then(|| e.data.clone())
    };
    let started = next_event(
        s,
        &rx,
        &format!("start event of {}", c.name),
        Duration::from_secs(120),
        |e| action_of(e, "start"),
    );
    assert_eq!(started["id"], c.id.as_str(), "{}: {started}", s.here());
    s.guest.docker_ok(&["stop", "-t", "1", &c.id]);
    let stopped = next_event(
        s,
        &rx,
        &format!("stop event of {}", c.name),
        Duration::from_secs(120),
        |e| action_of(e, "stop"),
    );
    assert_eq!(stopped["id"], c.id.as_str(), "{}: {stopped}", s.here());
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn docker_api_history_of_a_guest_container_follows_its_cgroup() {
    let s = setup();
    let path = format!("/api/containers/{}/history?window=15m", s.writer.name);
    let history = s.api_until("three history points of the writer", &path, |b| {
        (b["points"].as_array()?.len() >= 3).then(|| b.clone())
    });
    let here = s.here();
    assert_eq!(history["id"], s.writer.id.as_str(), "{here}: {history}");
    let step = history["step_seconds"].as_f64().unwrap_or_default();
    let points = history["points"].as_array().cloned().unwrap_or_default();
    let ts: Vec<u64> = points.iter().filter_map(|p| p["t"].as_u64()).collect();
    assert_eq!(
        ts.len(),
        points.len(),
        "{here}: a point without t: {history}"
    );
    // One point per sample interval; a round may come late on a guest under emulation.
    assert!(
        ts.windows(2)
            .all(|w| w[0] < w[1] && (w[1] - w[0]) as f64 <= step * 10.0),
        "{here}: history timestamps at a {step} s step: {ts:?}"
    );
    // The idle writer's memory in its latest point, against its cgroup files as docker-api
    // counts it (usage less inactive file pages).
    let latest = points
        .last()
        .and_then(|p| p["memory_bytes"].as_f64())
        .unwrap_or_else(|| panic!("{here}: no memory_bytes in {history}"));
    let used = s.writer.cgroup_u64("memory.current") as f64
        - s.writer.cgroup_key("memory.stat", "inactive_file") as f64;
    assert!(
        close(latest, used, 2.0 * MIB, 0.1),
        "{here}: the writer's latest history point says {latest} bytes, its cgroup {used}"
    );
    // The burner's points show it burning.
    let burner = s.api_until(
        "a history point of the burner with CPU",
        &format!("/api/containers/{}/history?window=15m", s.burner.name),
        |b| {
            b["points"]
                .as_array()?
                .iter()
                .filter_map(|p| p["cpu_percent"].as_f64())
                .any(|p| p > 5.0)
                .then(|| b.clone())
        },
    );
    assert_eq!(burner["id"], s.burner.id.as_str(), "{here}: {burner}");
}
