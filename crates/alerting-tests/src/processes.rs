//! Real Prometheus and Alertmanager processes (Debian's `prometheus` and
//! `prometheus-alertmanager`) on free loopback ports, with configuration written to a
//! directory the test owns.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_yaml::Value;
use testkit::{free_port, require_command, ServiceProcess};

use crate::paths;

/// Starts Prometheus on `config` with its data in `data_dir`, and waits until it is ready.
pub fn start_prometheus(config: &Path, data_dir: &Path) -> ServiceProcess {
    let binary = require_command("prometheus", "prometheus");
    let port = free_port();
    let process = ServiceProcess::start(
        binary,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data_dir.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        port,
    );
    wait_ready(&process, "/-/ready");
    process
}

/// Starts Alertmanager on `config` with its state in `data_dir` (gossip clustering off, so
/// parallel tests do not meet on port 9094), and waits until it is ready.
pub fn start_alertmanager(config: &Path, data_dir: &Path) -> ServiceProcess {
    let binary = require_command("prometheus-alertmanager", "prometheus-alertmanager");
    let port = free_port();
    let process = ServiceProcess::start(
        binary,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", data_dir.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
        port,
    );
    wait_ready(&process, "/-/ready");
    process
}

fn wait_ready(process: &ServiceProcess, path: &str) {
    let url = process.url(path);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if testkit::http::get_with(&url, &[], Duration::from_secs(2)).is_ok_and(|r| r.status == 200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} was not ready within 30 s; log:\n{}", process.logs());
}

/// Writes into `dir` a copy of `alertmanager/alertmanager.yml` and its templates in which the
/// webhook receiver posts to `webhook_url` and the groups wait and repeat after 1 s instead of
/// tens of seconds; everything else (routes, inhibition, receivers) is the real file's.
/// Returns the config file's path.
pub fn write_fast_alertmanager_config(
    dir: &Path,
    webhook_url: &str,
) -> Result<std::path::PathBuf, String> {
    let text = std::fs::read_to_string(paths::alertmanager_config())
        .map_err(|e| format!("read alertmanager.yml: {e}"))?;
    let mut config: Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let mut webhooks = 0;
    for receiver in config["receivers"].as_sequence_mut().into_iter().flatten() {
        for hook in receiver["webhook_configs"]
            .as_sequence_mut()
            .into_iter()
            .flatten()
        {
            hook["url"] = webhook_url.into();
            webhooks += 1;
        }
    }
    if webhooks == 0 {
        return Err("alertmanager.yml has no webhook receiver".into());
    }
    speed_up(&mut config["route"]);
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).map_err(|e| e.to_string())?;
    for template in paths::files_with_extension(&paths::alertmanager_templates_dir(), "tmpl") {
        if let Some(name) = template.file_name() {
            std::fs::copy(&template, templates.join(name)).map_err(|e| e.to_string())?;
        }
    }
    let path = dir.join("alertmanager.yml");
    let text = serde_yaml::to_string(&config).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn speed_up(route: &mut Value) {
    if let Some(map) = route.as_mapping_mut() {
        for key in ["group_wait", "group_interval"] {
            map.insert(key.into(), "1s".into());
        }
    }
    for child in route["routes"].as_sequence_mut().into_iter().flatten() {
        speed_up(child);
    }
}
