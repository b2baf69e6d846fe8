//! `node_selinux_*`: whether SELinux is on, and its configured and current modes.

use metrics_core::MetricSet;

use super::{read_attr, CollectorError, Host};

/// The `SELINUX=` mode of `/etc/selinux/config`: 1 enforcing, 0 permissive, -1 disabled.
pub fn config_mode(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("SELINUX="))
        .map(|v| match v.trim() {
            "enforcing" => 1.0,
            "permissive" => 0.0,
            _ => -1.0,
        })
        .next()
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let current = read_attr(&ctx.sys("fs/selinux/enforce"));
    let Some(current) = current.and_then(|v| v.parse::<f64>().ok()) else {
        out.gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            &[],
            0.0,
        );
        return Ok(());
    };
    out.gauge(
        "node_selinux_enabled",
        "SELinux is enabled, 1 is true, 0 is false",
        &[],
        1.0,
    );
    out.gauge(
        "node_selinux_current_mode",
        "SELinux current mode, -1 is disabled, 0 is permissive, 1 is enforcing",
        &[],
        current,
    );
    let config = read_attr(&ctx.root("/etc/selinux/config")).and_then(|t| config_mode(&t));
    out.gauge(
        "node_selinux_config_mode",
        "Configured SELinux enforcement mode, -1 is disabled, 0 is permissive, 1 is enforcing",
        &[],
        config.unwrap_or(-1.0),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_modes() {
        assert_eq!(
            config_mode("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"),
            Some(1.0)
        );
        assert_eq!(config_mode("SELINUX=disabled\n"), Some(-1.0));
        assert_eq!(config_mode(""), None);
    }
}
