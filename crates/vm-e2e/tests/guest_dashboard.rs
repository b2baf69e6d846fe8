//! The dashboard's page against the cgroup v2 guest (issue #20): docker-api runs in the guest
//! (our image, as in `guest.rs`), the dashboard binary runs here pointed at it through the
//! forwarded port, and headless Chromium (`testkit::browser`) opens the page. The table must
//! list the guest's running containers by name with CPU and memory figures read from the
//! guest's cgroups, and a container stopped in the guest must leave the running set.
//! Compiled in only when `CLUSTERMON_VM_DOCKER_HOST` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(vm_guest), allow(dead_code, unused_imports))]

use std::time::Duration;

use serde_json::{json, Value};
use testkit::browser::{Browser, CELL};
use testkit::{free_port, ServiceProcess};
use vm_e2e::{close, Guest, GuestContainer};

/// The guest port docker-api publishes on (forwarded by `scripts/vm-host`).
const DOCKER_API_PORT: u16 = 8081;
const MIB: f64 = 1024.0 * 1024.0;
/// The guest runs under software emulation: docker-api samples it every 2 s at best.
const GUEST_LIMIT: Duration = Duration::from_secs(240);

/// The dashboard binary (`cargo build -p dashboard`, asked now so it is never stale), listening
/// here and forwarding `/api/*` to `docker_api`.
fn start_dashboard(docker_api: &str) -> ServiceProcess {
    let binary = testkit::workspace::profile_binary("dashboard", "dashboard", "dev")
        .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let args = vec![
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--docker-api.url=http://{docker_api}"),
    ];
    ServiceProcess::start(binary, &args, port)
}

/// The names of the table's rows whose state cell reads `running`.
const RUNNING_ROWS: &str = "return Array.from(document.querySelectorAll('#container-table tbody tr[data-name]')) \
     .filter(tr => { const s = tr.querySelector('td[data-col=state]'); return s && s.textContent === 'running'; }) \
     .map(tr => tr.dataset.name);";

/// `24.3 MiB` (the page's `bytes()`) in bytes.
fn page_bytes(text: &str) -> Option<f64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let factor = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => MIB,
        "GiB" => MIB * 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * factor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
async fn dashboard_page_lists_the_guests_containers_with_cpu_and_memory() {
    let guest = Guest::get();
    guest.remove_leftovers();
    guest.test_image();
    let _docker_api = guest.start_docker_api(DOCKER_API_PORT);
    // A half-CPU burner, and an idle container holding 24 MiB of tmpfs (/dev/shm): charged to
    // its cgroup and never reclaimed, so its memory figure holds still.
    let burner = GuestContainer::run(guest, &["--cpus", "0.5"], "while :; do :; done");
    let holder = GuestContainer::run(
        guest,
        &["-m", "64m"],
        "dd if=/dev/zero of=/dev/shm/blob bs=1M count=24 2>/dev/null && touch /ready; exec sleep 3600",
    );
    guest.wait_for("the holder's 24 MiB", GUEST_LIMIT, || {
        holder
            .exec("test -e /ready && echo yes || true")
            .contains("yes")
            .then_some(())
    });
    let here = guest.describe();
    let dashboard = start_dashboard(guest.forward(DOCKER_API_PORT));
    let browser = Browser::start(1400, 1200).await;
    browser
        .client
        .goto(&dashboard.url("/"))
        .await
        .unwrap_or_else(|e| panic!("{here}: open the dashboard: {e}"));

    // Every container running in the guest (docker-api and the two above) is a running row.
    let running = guest.docker_ok(&["ps", "--format", "{{.Names}}"]);
    let running: Vec<&str> = running.lines().collect();
    let rows = browser
        .wait_for(
            &format!("{here}: the table listing the guest's running containers {running:?}"),
            GUEST_LIMIT,
            &format!(
                "const rows = (function() {{ {RUNNING_ROWS} }})(); \
                 return arguments[0].every(n => rows.includes(n)) ? rows : null;"
            ),
            vec![json!(running)],
        )
        .await;
    eprintln!("running rows: {rows}");

    // The burner's CPU figure, once docker-api has two samples of it.
    let cpu = browser
        .wait_for(
            &format!("{here}: a CPU figure above 5 % for the burner {}", burner.name),
            GUEST_LIMIT,
            "const tr = document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]'); \
             const td = tr && tr.querySelector('td[data-col=cpu]'); \
             const v = td && td.dataset.value ? parseFloat(td.dataset.value) : null; \
             return v !== null && v > 5 ? v : null;",
            vec![json!(burner.name)],
        )
        .await;
    eprintln!("burner's CPU on the page: {cpu} %");

    // The holder's memory cell: `used / limit`, the used part as docker-api counts it from the
    // guest's cgroup (memory.current - inactive_file), the limit its `-m 64m`.
    let memory = browser
        .wait_for(
            &format!("{here}: a memory figure for {}", holder.name),
            GUEST_LIMIT,
            &format!(
                "const t = (function() {{ {CELL} }}).apply(null, arguments); \
                 return t && t.includes(' / ') ? t : null;"
            ),
            vec![json!(holder.name), json!("memory")],
        )
        .await;
    let memory = memory.as_str().unwrap_or_default().to_string();
    let (used, limit) = memory.split_once(" / ").unwrap_or_default();
    let used = page_bytes(used).unwrap_or_else(|| panic!("{here}: memory cell {memory:?}"));
    let current = holder.cgroup_u64("memory.current") as f64;
    let inactive_file = holder.cgroup_key("memory.stat", "inactive_file") as f64;
    eprintln!(
        "holder's memory on the page: {memory:?}; memory.current {current}, inactive_file {inactive_file}"
    );
    assert_eq!(limit, "64.0 MiB", "{here}: the holder's limit on the page");
    assert!(
        used >= 24.0 * MIB,
        "{here}: the holder's 24 MiB of tmpfs are not in its figure on the page: {memory:?}"
    );
    assert!(
        close(used, current - inactive_file, 2.0 * MIB, 0.1),
        "{here}: the page's {memory:?} vs the guest's memory.current - inactive_file {}",
        current - inactive_file
    );

    // Stopped in the guest: the row leaves the running set (it stays listed as exited).
    guest.docker_ok(&["stop", "-t", "1", &holder.id]);
    browser
        .wait_for(
            &format!("{here}: {} to leave the running rows", holder.name),
            GUEST_LIMIT,
            &format!(
                "const rows = (function() {{ {RUNNING_ROWS} }})(); \
                 return !rows.includes(arguments[0]) && rows.includes(arguments[1]) ? rows : null;"
            ),
            vec![json!(holder.name), json!(burner.name)],
        )
        .await;
    let state: Value = browser
        .js(CELL, vec![json!(holder.name), json!("state")])
        .await;
    eprintln!(
        "{}'s state on the page after docker stop: {state}",
        holder.name
    );
    browser.close().await;
}

#[test]
fn page_sizes() {
    assert_eq!(page_bytes("24.3 MiB"), Some(24.3 * MIB));
    assert_eq!(page_bytes("512 B"), Some(512.0));
    assert_eq!(page_bytes("–"), None);
}
