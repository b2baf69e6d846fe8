//! `node_nvme_info{device,firmware_revision,model,serial,state}` from `/sys/class/nvme/<ctrl>/`:
//! one series per NVMe controller, value 1. Hosts without NVMe report no data, as
//! node_exporter does.

use std::path::Path;

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

/// One controller's identity and state (`live`, `resetting`, `dead`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub device: String,
    pub firmware_revision: String,
    pub model: String,
    pub serial: String,
    pub state: String,
}

/// Reads a controller's directory; sysfs pads model and serial with spaces, which go. An
/// attribute the kernel does not offer reads as empty rather than hiding the controller.
pub fn read_controller(device: &str, dir: &Path) -> Controller {
    let attr = |name: &str| read_attr(&dir.join(name)).unwrap_or_default();
    Controller {
        device: device.to_string(),
        firmware_revision: attr("firmware_rev"),
        model: attr("model"),
        serial: attr("serial"),
        state: attr("state"),
    }
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    for (name, dir) in list_dir(&ctx.sys("class/nvme"))? {
        let c = read_controller(&name, &dir);
        out.gauge(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            &[
                ("device", c.device.as_str()),
                ("firmware_revision", c.firmware_revision.as_str()),
                ("model", c.model.as_str()),
                ("serial", c.serial.as_str()),
                ("state", c.state.as_str()),
            ],
            1.0,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    /// `/sys/class/nvme` as the kernel lays it out: one directory per controller with its
    /// attributes, plus a namespace subdirectory that is not a controller attribute.
    fn sysfs_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let controllers = [
            (
                "nvme0",
                "1B2QEXM7",
                "Samsung SSD 970 EVO Plus 1TB           ",
                "S4EWNX0R123456A     ",
                "live",
            ),
            (
                "nvme1",
                "GPJ99E",
                "WD_BLACK SN850X 2000GB",
                "23160M800001",
                "resetting",
            ),
        ];
        for (name, firmware, model, serial, state) in controllers {
            let ctrl = dir.path().join("class/nvme").join(name);
            std::fs::create_dir_all(ctrl.join(format!("{name}n1"))).unwrap();
            for (attr, value) in [
                ("firmware_rev", firmware),
                ("model", model),
                ("serial", serial),
                ("state", state),
                ("cntlid", "4"),
            ] {
                std::fs::write(ctrl.join(attr), format!("{value}\n")).unwrap();
            }
        }
        dir
    }

    fn collect_from(sysfs: &Path) -> Result<MetricSet, CollectorError> {
        fixtures::collect_once(collect, &fixtures::sysfs_context(sysfs))
    }

    #[test]
    fn one_info_series_per_controller_with_trimmed_attributes() {
        let tree = sysfs_tree();
        let set = collect_from(tree.path()).unwrap();
        assert_eq!(set.sample_count("node_nvme_info"), 2);
        let labels = [
            ("device", "nvme0"),
            ("firmware_revision", "1B2QEXM7"),
            ("model", "Samsung SSD 970 EVO Plus 1TB"),
            ("serial", "S4EWNX0R123456A"),
            ("state", "live"),
        ];
        assert_eq!(set.value("node_nvme_info", &labels), Some(1.0));
        assert_eq!(
            set.value(
                "node_nvme_info",
                &[("device", "nvme1"), ("state", "resetting")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn a_host_without_nvme_has_no_data() {
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect_from(empty.path()),
            Err(CollectorError::NoData(_))
        ));
    }
}
