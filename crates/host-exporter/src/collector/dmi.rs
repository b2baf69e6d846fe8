//! `node_dmi_info` from `/sys/class/dmi/id`: one series labelled with the readable DMI fields.

use metrics_core::MetricSet;

use super::{read_attr, CollectorError, Host};

/// `(label, sysfs file)`.
const FIELDS: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let dir = ctx.sys("class/dmi/id");
    if !dir.is_dir() {
        return Err(CollectorError::NoData(format!(
            "{} does not exist",
            dir.display()
        )));
    }
    let values: Vec<(&str, String)> = FIELDS
        .iter()
        .filter_map(|(label, file)| read_attr(&dir.join(file)).map(|v| (*label, v)))
        .collect();
    let labels: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    out.gauge(
        "node_dmi_info",
        "A metric with a constant '1' value labeled by the readable DMI fields of /sys/class/dmi/id.",
        &labels,
        1.0,
    );
    Ok(())
}
