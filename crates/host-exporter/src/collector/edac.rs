//! `node_edac_*`: memory controller error counts from `/sys/devices/system/edac/mc`.

use metrics_core::MetricSet;

use super::{list_dir, read_attr, CollectorError, Host};

fn count(dir: &std::path::Path, attr: &str) -> Option<f64> {
    read_attr(&dir.join(attr)).and_then(|v| v.parse().ok())
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let controllers = match list_dir(&ctx.sys("devices/system/edac/mc")) {
        Ok(c) => c,
        // No EDAC driver: nothing to report, and not an error (as in node_exporter).
        Err(CollectorError::NoData(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    for (name, dir) in controllers {
        let Some(controller) = name.strip_prefix("mc") else {
            continue;
        };
        let l = [("controller", controller)];
        let pairs = [
            (
                "node_edac_correctable_errors_total",
                "Total correctable memory errors.",
                "ce_count",
            ),
            (
                "node_edac_uncorrectable_errors_total",
                "Total uncorrectable memory errors.",
                "ue_count",
            ),
            (
                "node_edac_csrow_correctable_errors_total",
                "Total correctable memory errors for this csrow.",
                "ce_noinfo_count",
            ),
            (
                "node_edac_csrow_uncorrectable_errors_total",
                "Total uncorrectable memory errors for this csrow.",
                "ue_noinfo_count",
            ),
        ];
        for (i, (metric, help, attr)) in pairs.iter().enumerate() {
            let Some(v) = count(&dir, attr) else { continue };
            if i < 2 {
                out.counter(metric, help, &l, v);
            } else {
                out.counter(
                    metric,
                    help,
                    &[("controller", controller), ("csrow", "unknown")],
                    v,
                );
            }
        }
        for (row, row_dir) in list_dir(&dir)? {
            let Some(csrow) = row.strip_prefix("csrow") else {
                continue;
            };
            let l = [("controller", controller), ("csrow", csrow)];
            if let Some(v) = count(&row_dir, "ce_count") {
                out.counter(
                    "node_edac_csrow_correctable_errors_total",
                    "Total correctable memory errors for this csrow.",
                    &l,
                    v,
                );
            }
            if let Some(v) = count(&row_dir, "ue_count") {
                out.counter(
                    "node_edac_csrow_uncorrectable_errors_total",
                    "Total uncorrectable memory errors for this csrow.",
                    &l,
                    v,
                );
            }
        }
    }
    Ok(())
}
