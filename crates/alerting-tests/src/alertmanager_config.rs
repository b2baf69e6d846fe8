//! A copy of `alertmanager/alertmanager.yml` for tests: the webhook receiver posts to the test's
//! receiver and the groups wait and repeat after 1 s. (Prometheus and Alertmanager themselves are
//! started by `testkit::prometheus`.)

use std::path::Path;

use serde_yaml::Value;

use crate::paths;

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
