//! The page in real headless Chromium (Debian's `chromium` and `chromium-driver`, over WebDriver),
//! against the real docker-api binary and the real Docker engine: what a person sees.
//!
//! `DASHBOARD_SCREENSHOT=path` makes `page_shows_containers_health_and_live_cpu` save a
//! screenshot of the page with live data there, after `DASHBOARD_SCREENSHOT_WAIT` seconds
//! (default 8) of graphs (`scripts/screenshot-dashboard`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{start_dashboard, start_docker_api, start_docker_api_with, Browser, Stack, CELL};
use serde_json::{json, Value};
use testkit::docker::{require_docker, Container};

const SECONDS_10: Duration = Duration::from_secs(10);

async fn cell_is(browser: &Browser, name: &str, col: &str, want: &str, limit: Duration) {
    let script = format!("{CELL} ; ");
    let check = format!(
        "const text = (function() {{ {script} }}).apply(null, arguments); return text === arguments[2] ? text : null;"
    );
    browser
        .wait_for(
            &format!("{name}'s {col} = {want}"),
            limit,
            &check,
            vec![json!(name), json!(col), json!(want)],
        )
        .await;
}

/// Waits until container `name`'s CPU cell reads at least `min` %, and returns it.
async fn cpu_at_least(browser: &Browser, name: &str, min: f64, limit: Duration) -> f64 {
    let script = "const tr = document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]'); \
         const td = tr && tr.querySelector('td[data-col=cpu]'); \
         const v = td && td.dataset.value ? parseFloat(td.dataset.value) : null; \
         return v !== null && v >= arguments[1] ? v : null;";
    browser
        .wait_for(
            &format!("{name}'s CPU >= {min} %"),
            limit,
            script,
            vec![json!(name), json!(min)],
        )
        .await
        .as_f64()
        .unwrap()
}

/// The last y of chart `canvas_id` (Chart.js keeps each chart by its canvas).
const LAST_Y: &str =
    "const c = Chart.getChart(arguments[0]); const d = c && c.data.datasets[0].data; \
     return d && d.length ? d[d.length - 1].y : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_containers_health_and_live_cpu() {
    require_docker();
    let healthy = Container::run(
        &[
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        "sleep 300",
    );
    let unhealthy = Container::run(
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        "sleep 300",
    );
    let to_stop = Container::run(&[], "sleep 300");
    let stack = Stack::start();
    let browser = Browser::start(1400, 1500).await;
    browser
        .client
        .goto(&stack.dashboard.url("/"))
        .await
        .unwrap();
    // A marker that survives only if the page is never reloaded.
    browser
        .js("window.__notReloaded = true; return true;", vec![])
        .await;

    cell_is(&browser, &healthy.name, "state", "running", SECONDS_10).await;
    cell_is(&browser, &unhealthy.name, "state", "running", SECONDS_10).await;
    cell_is(&browser, &healthy.name, "health", "healthy", SECONDS_10).await;
    cell_is(&browser, &unhealthy.name, "health", "unhealthy", SECONDS_10).await;
    browser
        .wait_for(
            "the header's unhealthy count",
            SECONDS_10,
            "const n = parseInt(document.getElementById('sum-unhealthy').textContent, 10); return n >= 1 ? n : null;",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "docker-api and daemon status up",
            SECONDS_10,
            "return document.getElementById('docker-api-status').textContent === 'docker-api: up' && \
             document.getElementById('daemon-status').textContent.startsWith('Docker: up');",
            vec![],
        )
        .await;

    // A busy container: its CPU figure and graph rise within a few seconds, without a reload.
    let burner = Container::run(&[], "while :; do :; done");
    let cpu = cpu_at_least(&browser, &burner.name, 20.0, SECONDS_10).await;
    assert!(cpu <= 205.0, "{cpu}");
    browser
        .wait_for(
            "the cluster CPU graph rises",
            SECONDS_10,
            &format!("{LAST_Y} "),
            vec![json!("chart-cluster-cpu")],
        )
        .await;
    let cluster_cpu = browser
        .wait_for(
            "the cluster CPU graph above 20 %",
            SECONDS_10,
            &format!("const y = (function() {{ {LAST_Y} }}).apply(null, arguments); return y >= 20 ? y : null;"),
            vec![json!("chart-cluster-cpu")],
        )
        .await;
    assert!(cluster_cpu.as_f64().unwrap() >= 20.0);

    // Keyboard: focus the burner's row and press Enter: its graphs open and show the load.
    let row = browser
        .client
        .find(fantoccini::Locator::Css(&format!(
            "#container-table tbody tr[data-name=\"{}\"]",
            burner.name
        )))
        .await
        .unwrap();
    assert_eq!(row.attr("tabindex").await.unwrap().as_deref(), Some("0"));
    browser
        .js(
            "document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]').focus(); return true;",
            vec![json!(burner.name)],
        )
        .await;
    let focused = browser.client.active_element().await.unwrap();
    focused.send_keys("\u{E007}").await.unwrap();
    browser
        .wait_for(
            "the detail panel for the burner",
            SECONDS_10,
            "const d = document.getElementById('detail'); return !d.hidden && document.getElementById('detail-title').textContent.startsWith(arguments[0]);",
            vec![json!(burner.name)],
        )
        .await;
    browser
        .wait_for(
            "the burner's CPU graph above 20 %",
            SECONDS_10,
            &format!("const y = (function() {{ {LAST_Y} }}).apply(null, arguments); return y >= 20 ? y : null;"),
            vec![json!("chart-container-cpu")],
        )
        .await;

    // Sorting by CPU puts the burner first (grouping off: other compose projects on this host
    // would come first); the filter narrows to one name.
    browser
        .js(
            "const g = document.getElementById('group-toggle'); if (g.checked) g.click(); \
             document.querySelector('th[data-col=cpu] button').click(); return true;",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "the burner first when sorted by CPU",
            SECONDS_10,
            "const first = document.querySelector('#container-table tbody tr'); return first && first.dataset.name === arguments[0];",
            vec![json!(burner.name)],
        )
        .await;
    let filter = browser
        .client
        .find(fantoccini::Locator::Id("filter"))
        .await
        .unwrap();
    filter.send_keys(&healthy.name).await.unwrap();
    let shown = browser
        .wait_for(
            "only the filtered container",
            SECONDS_10,
            "const rows = [...document.querySelectorAll('#container-table tbody tr')].map(r => r.dataset.name); return rows.length === 1 ? rows : null;",
            vec![],
        )
        .await;
    assert_eq!(shown, json!([healthy.name]));
    filter.clear().await.unwrap();
    browser
        .js("const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); return true;", vec![])
        .await;

    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        // Let the graphs gather more points for the picture.
        let wait = std::env::var("DASHBOARD_SCREENSHOT_WAIT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        browser
            .js(
                "document.activeElement.blur(); window.scrollTo(0, 0); return true;",
                vec![],
            )
            .await;
        let png = browser.client.screenshot().await.unwrap();
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot saved to {path}");
    }

    // A stopped container changes state without a reload.
    let stopped = std::process::Command::new("docker")
        .args(["stop", "-t", "0", &to_stop.id])
        .output()
        .unwrap();
    assert!(stopped.status.success(), "docker stop: {stopped:?}");
    // First docker-api's own list (what the page can know), then the page, without a reload.
    let direct = stack.docker_api.url("/api/containers?all=true");
    let start = std::time::Instant::now();
    loop {
        let body: Value = serde_json::from_str(&testkit::get(&direct).body).unwrap();
        let state = body["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == to_stop.name.as_str())
            .map(|c| c["state"].clone());
        if state == Some(json!("exited")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "docker-api still lists the stopped container as {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    cell_is(&browser, &to_stop.name, "state", "exited", SECONDS_10).await;
    assert_eq!(
        browser
            .js("return window.__notReloaded === true;", vec![])
            .await,
        Value::Bool(true),
        "the page reloaded"
    );
    // The node column and filter show exactly when docker-api's containers carry a node.
    let nodes = browser
        .js(
            "const any = window.clustermon.state.containers.some(c => typeof c.node === 'string' && c.node !== ''); \
             const shown = !document.getElementById('node-filter-label').hidden && !document.querySelector('th[data-col=node]').hidden; \
             const cells = document.querySelectorAll('#container-table tbody td[data-col=node]').length; \
             return {any: any, shown: shown, cells: cells, rows: document.querySelectorAll('#container-table tbody tr').length};",
            vec![],
        )
        .await;
    assert_eq!(nodes["any"], nodes["shown"], "{nodes}");
    if nodes["any"] == true {
        assert_eq!(nodes["cells"], nodes["rows"], "{nodes}");
    }
    let errors = browser
        .js("return window.clustermon.state.errors;", vec![])
        .await;
    assert_eq!(errors, json!([]), "errors on the page");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_shows_while_docker_api_is_down_and_clears_on_restart() {
    require_docker();
    let mut stack = Stack::start();
    let browser = Browser::start(1200, 900).await;
    browser
        .client
        .goto(&stack.dashboard.url("/"))
        .await
        .unwrap();
    browser
        .wait_for(
            "live data",
            SECONDS_10,
            "return document.getElementById('sum-running').textContent !== '–' && document.getElementById('banner').hidden;",
            vec![],
        )
        .await;

    let _ = stack.docker_api.child.kill();
    let _ = stack.docker_api.child.wait();
    let text = browser
        .wait_for(
            "the outage banner",
            SECONDS_10,
            "const b = document.getElementById('banner'); return !b.hidden && b.offsetHeight > 0 ? b.textContent : null;",
            vec![],
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("docker-api is unreachable"), "{text}");
    assert!(text.contains("retrying"), "{text}");

    // Same port: the page finds it again by itself (backoff is at most 8 s).
    stack.docker_api = start_docker_api(stack.docker_api_port);
    browser
        .wait_for(
            "the banner cleared after docker-api came back",
            Duration::from_secs(20),
            "return document.getElementById('banner').hidden && document.getElementById('docker-api-status').textContent === 'docker-api: up';",
            vec![],
        )
        .await;
    // And live data flows again: a fresh sample updates the header.
    let before = browser
        .js(
            "return document.getElementById('updated').textContent;",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "a new sample after the restart",
            SECONDS_10,
            "return document.getElementById('updated').textContent !== arguments[0];",
            vec![before],
        )
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_width_has_no_horizontal_scroll_and_stacks_the_graphs() {
    require_docker();
    let stack = Stack::start();
    let browser = Browser::phone(390, 844).await;
    browser
        .client
        .goto(&stack.dashboard.url("/"))
        .await
        .unwrap();
    browser
        .wait_for(
            "live data",
            SECONDS_10,
            "return document.getElementById('sum-running').textContent !== '–';",
            vec![],
        )
        .await;
    let layout = browser
        .js(
            "const de = document.documentElement; \
             const charts = [...document.querySelectorAll('section.charts .chart')].map(c => c.getBoundingClientRect()); \
             return {scroll: de.scrollWidth, width: window.innerWidth, \
                     stacked: charts.length === 2 && charts[1].top >= charts[0].bottom, \
                     imageHidden: getComputedStyle(document.querySelector('th[data-col=image]')).display === 'none'};",
            vec![],
        )
        .await;
    assert!(
        layout["scroll"].as_f64().unwrap() <= layout["width"].as_f64().unwrap(),
        "page wider than the phone: {layout}"
    );
    assert_eq!(layout["stacked"], true, "{layout}");
    assert_eq!(layout["imageHidden"], true, "{layout}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_shows_each_node_and_a_node_row_filters_the_table() {
    require_docker();
    let _container = Container::run(&[], "sleep 300");
    // Two docker-api "nodes" asking each other (both read this engine), and a peer address
    // where nothing listens: the page must list it as unreachable.
    let (a, b, dead) = (
        testkit::free_port(),
        testkit::free_port(),
        testkit::free_port(),
    );
    let peers = |other: u16| {
        vec![
            format!("--cluster.peers=127.0.0.1:{other}"),
            format!("--cluster.peers=127.0.0.1:{dead}"),
        ]
    };
    let mut flags_a = peers(b);
    flags_a.push("--node.name=node-a".into());
    let mut flags_b = peers(a);
    flags_b.push("--node.name=node-b".into());
    let _node_a = start_docker_api_with(a, &flags_a);
    let _node_b = start_docker_api_with(b, &flags_b);
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{a}"), &[]);
    let browser = Browser::start(1200, 900).await;
    browser.client.goto(&dashboard.url("/")).await.unwrap();

    let rows = browser
        .wait_for(
            "the nodes panel with node-a and node-b up and one unreachable",
            Duration::from_secs(20),
            "const s = document.getElementById('nodes'); if (s.hidden) return null; \
             const rows = [...document.querySelectorAll('#node-table tbody tr')].map(tr => \
               [tr.dataset.node, tr.querySelector('.badge').textContent]); \
             const up = rows.filter(r => r[1] === 'up').map(r => r[0]).sort().join(','); \
             const down = rows.filter(r => r[1] === 'unreachable').length; \
             return up === 'node-a,node-b' && down === 1 ? rows : null;",
            vec![],
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");

    // Selecting node-b's row (keyboard) narrows the table to node-b's containers; again clears.
    let visible_nodes =
        "return [...document.querySelectorAll('#container-table tbody tr[data-id]')] \
         .map(tr => tr.querySelector('td[data-col=node]').textContent);";
    browser
        .js(
            "const tr = document.querySelector('#node-table tbody tr[data-node=\"node-b\"]'); \
             tr.focus(); tr.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));",
            vec![],
        )
        .await;
    let only_b = browser
        .wait_for(
            "only node-b's containers",
            SECONDS_10,
            &format!(
                "const n = (function() {{ {visible_nodes} }})(); \
                 return n.length > 0 && n.every(x => x === 'node-b') ? n : null;"
            ),
            vec![],
        )
        .await;
    assert!(!only_b.as_array().unwrap().is_empty());
    assert_eq!(
        browser
            .js(
                "return document.getElementById('node-filter').value;",
                vec![]
            )
            .await,
        json!("node-b"),
        "the node filter follows the selected node"
    );
    browser
        .js(
            "const tr = document.querySelector('#node-table tbody tr[data-node=\"node-b\"]'); \
             tr.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "both nodes' containers again",
            SECONDS_10,
            &format!(
                "const n = (function() {{ {visible_nodes} }})(); \
                 return n.includes('node-a') && n.includes('node-b') ? true : null;"
            ),
            vec![],
        )
        .await;
    browser.close().await;
}

/// Opens container `name`'s graphs from the keyboard (focus its row, Enter). The table is
/// redrawn at each sample, so a row focused just before a redraw may be gone when the key
/// arrives (a stale element): then the row is focused again, a few times at most.
async fn open_with_keyboard(browser: &Browser, name: &str) {
    let mut attempts = 0;
    loop {
        browser
            .js(
                "const tr = document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]'); \
                 tr.focus(); return true;",
                vec![json!(name)],
            )
            .await;
        let pressed = match browser.client.active_element().await {
            Ok(row) => row.send_keys("\u{E007}").await,
            Err(e) => Err(e),
        };
        match pressed {
            Ok(()) => break,
            Err(e) if attempts < 5 => {
                attempts += 1;
                eprintln!("Enter on {name}'s row: {e}; focusing it again");
            }
            Err(e) => panic!("Enter on {name}'s row: {e}"),
        }
    }
    browser
        .wait_for(
            "the detail panel",
            SECONDS_10,
            "return !document.getElementById('detail').hidden && document.getElementById('detail-title').textContent.startsWith(arguments[0]);",
            vec![json!(name)],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_view_sums_a_compose_project_and_folds_from_the_keyboard() {
    require_docker();
    let project = format!("cm-proj-{}", std::process::id());
    let label = format!("com.docker.compose.project={project}");
    let web = Container::run(&["--label", &label], "while :; do :; done");
    let db = Container::run(
        &["--label", &label, "--memory", "64m", "--cpus", "0.5"],
        "sleep 300",
    );
    let stopped = Container::create(&["--label", &label], "sleep 300");
    let stack = Stack::start();
    let browser = Browser::start(1400, 1500).await;
    browser
        .client
        .goto(&stack.dashboard.url("/"))
        .await
        .unwrap();
    let group = format!("project {project}");
    // The header: 2 of 3 running, the burner's CPU in the sum.
    let sums = browser
        .wait_for(
            "the project's header with 2 / 3 running and its CPU",
            SECONDS_10,
            "const tr = document.querySelector('#container-table tbody tr.group-row[data-group=\"' + arguments[0] + '\"]'); \
             const s = tr && tr.querySelector('.group-sums'); \
             return s && s.dataset.running === '2' && s.dataset.total === '3' && parseFloat(s.dataset.cpu) >= 20 \
               ? {text: s.textContent, memory: parseFloat(s.dataset.memory)} : null;",
            vec![json!(group)],
        )
        .await;
    assert!(
        sums["text"].as_str().unwrap().starts_with("2 / 3 running"),
        "{sums}"
    );
    assert!(sums["memory"].as_f64().unwrap() > 0.0, "{sums}");
    // The group's rows follow its header.
    let members = browser
        .js(
            "const rows = [...document.querySelectorAll('#container-table tbody tr')]; \
             const i = rows.findIndex(r => r.dataset.group === arguments[0]); \
             const out = []; for (let j = i + 1; j < rows.length && !rows[j].classList.contains('group-row'); j++) out.push(rows[j].dataset.name); \
             return out.sort();",
            vec![json!(group)],
        )
        .await;
    let mut want = vec![web.name.clone(), db.name.clone(), stopped.name.clone()];
    want.sort();
    assert_eq!(members, json!(want));

    // Fold with the keyboard (Tab lands on the header's button; Enter presses it).
    let toggle = format!("#container-table tbody tr.group-row[data-group=\"{group}\"] button");
    browser
        .js(
            "document.querySelector(arguments[0]).focus(); return true;",
            vec![json!(toggle)],
        )
        .await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    browser
        .wait_for(
            "the project folded",
            SECONDS_10,
            "const b = document.querySelector(arguments[0]); \
             return b && b.getAttribute('aria-expanded') === 'false' && document.activeElement === b && \
               !document.querySelector('#container-table tbody tr[data-name=\"' + arguments[1] + '\"]');",
            vec![json!(toggle), json!(web.name)],
        )
        .await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    cell_is(&browser, &web.name, "state", "running", SECONDS_10).await;

    // The limited container's memory graph carries its 64 MiB limit; the disk graph its two rates.
    open_with_keyboard(&browser, &db.name).await;
    let limit = browser
        .wait_for(
            "the 64 MiB limit line",
            SECONDS_10,
            "const c = Chart.getChart('chart-container-memory'); const l = c.data.datasets[1]; \
             return l.data.length >= 2 && l.borderDash.length > 0 ? l.data.map(p => p.y) : null;",
            vec![],
        )
        .await;
    assert!(
        limit.as_array().unwrap().iter().all(|y| y == 64.0),
        "{limit}"
    );
    // Its CPU graph carries the --cpus 0.5 limit as 50 % (100 % is one core, as its CPU figure),
    // from docker-api's figures: this dashboard has no Prometheus.
    let cpu_limit = browser
        .wait_for(
            "the 50 % CPU limit line",
            SECONDS_10,
            "const c = Chart.getChart('chart-container-cpu'); const l = c.data.datasets[1]; \
             return l.data.length >= 2 && l.borderDash.length > 0 ? l.data.map(p => p.y) : null;",
            vec![],
        )
        .await;
    assert!(
        cpu_limit.as_array().unwrap().iter().all(|y| y == 50.0),
        "{cpu_limit}"
    );
    let disk = browser
        .js(
            "return Chart.getChart('chart-container-disk').data.datasets.map(d => d.label);",
            vec![],
        )
        .await;
    assert_eq!(disk, json!(["read", "write"]));
    // No Grafana URL configured: no link.
    assert_eq!(
        browser
            .js(
                "return document.getElementById('detail-grafana').hidden;",
                vec![]
            )
            .await,
        json!(true)
    );
    let errors = browser
        .js("return window.clustermon.state.errors;", vec![])
        .await;
    assert_eq!(errors, json!([]), "errors on the page");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_list_shows_a_die_with_its_exit_code_a_restart_health_and_an_oom_kill() {
    require_docker();
    let stack = Stack::start();
    // Its main process is OOM-killed after a while (48 MiB in 16 MiB without swap); another
    // is killed with SIGKILL: both exit 137, only the first is an OOM kill.
    let oom = Container::run(
        &["-m", "16m", "--memory-swap", "16m"],
        "sleep 8; exec dd if=/dev/zero of=/dev/null bs=48M count=1",
    );
    let killed = Container::run(&[], "sleep 300");
    // Healthy, then it exits 3 and Docker restarts it once. Ten seconds a run, so that its
    // first health check (an exec, slow on a loaded machine) passes before it exits.
    let flaky = Container::run(
        &[
            "--restart",
            "on-failure:1",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ],
        "sleep 10; exit 3",
    );
    let browser = Browser::start(1400, 1500).await;
    browser
        .client
        .goto(&stack.dashboard.url("/"))
        .await
        .unwrap();
    cell_is(&browser, &flaky.name, "state", "running", SECONDS_10).await;
    open_with_keyboard(&browser, &flaky.name).await;
    let events = browser
        .wait_for(
            "die (exit code 3), restart #1 and healthy in the event list",
            Duration::from_secs(60),
            "const items = [...document.querySelectorAll('#detail-events li')].map(li => \
               li.dataset.kind + ':' + li.querySelector('.detail').textContent); \
             return items.includes('die:exit code 3') && items.includes('restart:restart #1') && \
               items.includes('health:healthy') ? items : null;",
            vec![],
        )
        .await;
    // Newest first: Docker restarted it once after its first exit (seen as the restart), and
    // its second exit is the last word; a stopped container's health is not news.
    let items: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let position = |what: &str| items.iter().position(|i| *i == what).unwrap();
    assert!(
        position("die:exit code 3") < position("restart:restart #1"),
        "{items:?}"
    );
    assert!(
        !items[..position("die:exit code 3")]
            .iter()
            .any(|i| i.starts_with("health:")),
        "{items:?}"
    );
    // The same list from the endpoint, by name.
    let body = common::json_body(&testkit::get(
        &stack
            .dashboard
            .url(&format!("/events/containers/{}", flaky.name)),
    ));
    assert!(body["events"].as_array().unwrap().len() >= 3, "{body}");

    // The OOM-killed container's list says so, in words, and not as a plain death.
    cell_is(&browser, &killed.name, "state", "running", SECONDS_10).await;
    let kill = std::process::Command::new("docker")
        .args(["kill", "-s", "KILL", &killed.id])
        .status()
        .unwrap();
    assert!(kill.success(), "docker kill -s KILL: {kill}");
    open_with_keyboard(&browser, &oom.name).await;
    let events = browser
        .wait_for(
            "the OOM kill in the event list",
            Duration::from_secs(60),
            "const items = [...document.querySelectorAll('#detail-events li')].map(li => \
               li.dataset.kind + ':' + li.querySelector('.badge').textContent + ':' + \
               li.querySelector('.detail').textContent); \
             return items.includes('oom:OOM killed:exit code 137') ? items : null;",
            vec![],
        )
        .await;
    assert!(
        !events
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("die:")),
        "{events}"
    );
    // The one killed with SIGKILL died with the same code, and is no OOM kill.
    let path = format!("/events/containers/{}", killed.name);
    let kinds = testkit::wait::expect("the SIGKILL'd container's death", SECONDS_10, || {
        let body = common::json_body(&testkit::get(&stack.dashboard.url(&path)));
        let kinds: Vec<String> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}:{}",
                    e["kind"].as_str().unwrap(),
                    e["detail"].as_str().unwrap()
                )
            })
            .collect();
        testkit::wait::check(kinds.iter().any(|k| k.starts_with("die:")), || {
            format!("{kinds:?}")
        })
        .map(|()| kinds)
    });
    assert!(
        kinds.contains(&"die:exit code 137".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k.starts_with("oom:")), "{kinds:?}");
    browser.close().await;
}

/// A loopback proxy to docker-api at `upstream` that answers the page's first container list
/// with no containers at all (what docker-api answered for ~2 s after its start before
/// it waited for its first listing: issue #22) and passes everything else through, the event
/// stream included. Returns its port.
async fn proxy_with_a_stale_first_list(upstream: u16) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stale_sent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((mut browser_side, _)) = listener.accept().await {
            let stale_sent = stale_sent.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if browser_side.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                // The page's list (the dashboard's own event log asks without this header).
                let from_page = String::from_utf8_lossy(&head)
                    .to_ascii_lowercase()
                    .contains("accept: application/json");
                if line.starts_with("GET /api/containers?all=true ")
                    && from_page
                    && !stale_sent.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let body = r#"{"node":"stale","count":0,"containers":[]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = browser_side.write_all(answer.as_bytes()).await;
                    return;
                }
                let Ok(mut docker_api) =
                    tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                // One request per connection, so that every request passes the check above.
                head.truncate(head.len() - 2);
                head.extend_from_slice(b"connection: close\r\n\r\n");
                if docker_api.write_all(&head).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut browser_side, &mut docker_api).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_container_list_is_asked_again_within_a_sample() {
    require_docker();
    let running: Vec<Container> = (0..3).map(|_| Container::run(&[], "sleep 300")).collect();
    let docker_api_port = testkit::free_port();
    let _docker_api = start_docker_api(docker_api_port);
    let proxy = proxy_with_a_stale_first_list(docker_api_port).await;
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{proxy}"), &[]);
    let browser = Browser::start(1200, 900).await;
    browser.client.goto(&dashboard.url("/")).await.unwrap();
    for c in &running {
        cell_is(
            &browser,
            &c.name,
            "state",
            "running",
            Duration::from_secs(20),
        )
        .await;
    }
    // The page's first list was empty while the stream counted these containers: the first
    // sample that disagreed made it ask again, so the table trails the stream by at most that
    // one sample (without asking again it waited for its 10 s refresh).
    let seen = browser
        .js(
            "const s = window.clustermon.state; \
             return {relists: s.relists, pairs: arguments[0].map(id => [s.firstInStream.get(id), s.firstInTable.get(id)])};",
            vec![json!(running.iter().map(|c| c.id.clone()).collect::<Vec<_>>())],
        )
        .await;
    assert!(seen["relists"].as_u64().unwrap() >= 1, "{seen}");
    for (pair, c) in seen["pairs"].as_array().unwrap().iter().zip(&running) {
        let (Some(stream), Some(table)) = (pair[0].as_u64(), pair[1].as_u64()) else {
            panic!("{}: {pair}", c.name);
        };
        assert!(
            table <= stream + 1,
            "{} ran in the stream from sample {stream} but in the table only from {table}",
            c.name
        );
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_opened_with_docker_api_starting_shows_every_running_container_within_a_sample() {
    require_docker();
    let running: Vec<Container> = (0..3).map(|_| Container::run(&[], "sleep 300")).collect();
    // docker-api, the dashboard and the page start together: no wait for docker-api's list.
    let port = testkit::free_port();
    let _docker_api = testkit::ServiceProcess::start(
        common::docker_api_binary(),
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--stats.interval=1s".into(),
            "--log.level=warn".into(),
        ],
        port,
    );
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{port}"), &[]);
    let browser = Browser::start(1200, 900).await;
    browser.client.goto(&dashboard.url("/")).await.unwrap();
    for c in &running {
        cell_is(
            &browser,
            &c.name,
            "state",
            "running",
            Duration::from_secs(20),
        )
        .await;
    }
    // For each: the sample in which the stream first carried it, and the sample count when the
    // table first showed it running. The table may trail by at most the one sample whose
    // disagreement made the page ask the list again.
    let seen = browser
        .js(
            "const s = window.clustermon.state; \
             return arguments[0].map(id => [s.firstInStream.get(id), s.firstInTable.get(id)]);",
            vec![json!(running
                .iter()
                .map(|c| c.id.clone())
                .collect::<Vec<_>>())],
        )
        .await;
    for (pair, c) in seen.as_array().unwrap().iter().zip(&running) {
        let (stream, table) = (pair[0].as_u64(), pair[1].as_u64());
        let (Some(stream), Some(table)) = (stream, table) else {
            panic!("{}: stream {stream:?}, table {table:?}", c.name);
        };
        assert!(
            table <= stream + 1,
            "{} ran in the stream from sample {stream} but in the table only from {table}",
            c.name
        );
    }
    // And after that the header and the table agree.
    browser
        .wait_for(
            "the header's running count equal to the table's",
            SECONDS_10,
            "const a = window.clustermon.state.aggregate; \
             const rows = window.clustermon.state.containers.filter(c => c.state === 'running').length; \
             return a && a.running === rows && parseInt(document.getElementById('sum-running').textContent, 10) === rows;",
            vec![],
        )
        .await;
    browser.close().await;
}
