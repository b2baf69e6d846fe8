//! `node_md_*` from `/proc/mdstat`: software RAID arrays, their state, disks and sync progress.

use metrics_core::MetricSet;

use super::{CollectorError, Host};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MdArray {
    pub name: String,
    /// `active`, `inactive`, `recovering`, `resync` or `check`.
    pub state: String,
    pub disks_required: u64,
    pub disks_active: u64,
    pub disks_failed: u64,
    pub disks_spare: u64,
    pub blocks: u64,
    pub blocks_synced: u64,
}

pub fn parse(text: &str) -> Result<Vec<MdArray>, String> {
    let mut arrays: Vec<MdArray> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some((name, rest)) = line.split_once(" : ") {
            if !name.starts_with("md") {
                continue;
            }
            let mut fields = rest.split_ascii_whitespace();
            let state = fields.next().unwrap_or("");
            let mut array = MdArray {
                name: name.trim().to_string(),
                state: if state.starts_with("inactive") {
                    "inactive"
                } else {
                    "active"
                }
                .to_string(),
                ..MdArray::default()
            };
            for device in fields.filter(|f| f.contains('[')) {
                if device.ends_with("(F)") {
                    array.disks_failed += 1;
                } else if device.ends_with("(S)") {
                    array.disks_spare += 1;
                }
            }
            arrays.push(array);
            continue;
        }
        let Some(array) = arrays.last_mut() else {
            continue;
        };
        if let Some(blocks) = trimmed.split_once(" blocks").map(|(b, _)| b) {
            array.blocks = blocks
                .split_ascii_whitespace()
                .next()
                .unwrap_or("0")
                .parse()
                .map_err(|e| format!("{}: blocks: {e}", array.name))?;
            array.blocks_synced = array.blocks;
            if let Some(counts) = trimmed
                .split('[')
                .find_map(|p| p.split_once(']').map(|(c, _)| c))
                .filter(|c| c.contains('/'))
            {
                let (total, active) = counts.split_once('/').unwrap_or(("0", "0"));
                array.disks_required = total.parse().unwrap_or(0);
                array.disks_active = active.parse().unwrap_or(0);
            } else {
                // RAID0/linear: no [n/m]; every non-failed, non-spare member is active.
                array.disks_active = 0;
            }
        } else if let Some(kind) = ["recovery", "resync", "check", "reshape"]
            .into_iter()
            .find(|k| trimmed.contains(&format!("{k} =")))
        {
            array.state = match kind {
                "recovery" => "recovering",
                "reshape" => "recovering",
                k => k,
            }
            .to_string();
            if let Some(synced) = trimmed
                .split_once('(')
                .and_then(|(_, r)| r.split_once('/'))
                .and_then(|(s, _)| s.parse::<u64>().ok())
            {
                array.blocks_synced = synced;
            }
        }
    }
    Ok(arrays)
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("mdstat");
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            CollectorError::NoData("no /proc/mdstat (md driver not loaded)".into())
        }
        _ => CollectorError::Read {
            path: path.clone(),
            source,
        },
    })?;
    for a in parse(&text).map_err(|why| CollectorError::parse(&path, why))? {
        let dev = [("device", a.name.as_str())];
        out.gauge(
            "node_md_disks_required",
            "Total number of disks of device.",
            &dev,
            a.disks_required as f64,
        );
        for (state, n) in [
            ("active", a.disks_active),
            ("failed", a.disks_failed),
            ("spare", a.disks_spare),
        ] {
            out.gauge(
                "node_md_disks",
                "Number of active/failed/spare disks of device.",
                &[("device", &a.name), ("state", state)],
                n as f64,
            );
        }
        for state in ["active", "inactive", "recovering", "resync", "check"] {
            let v = if a.state == state { 1.0 } else { 0.0 };
            out.gauge(
                "node_md_state",
                "Indicates the state of md-device.",
                &[("device", &a.name), ("state", state)],
                v,
            );
        }
        out.gauge(
            "node_md_blocks",
            "Total number of blocks on device.",
            &dev,
            a.blocks as f64,
        );
        out.gauge(
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
            &dev,
            a.blocks_synced as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_active_resyncing_and_degraded_arrays() {
        let arrays = parse(&fixtures::read("proc/mdstat")).unwrap();
        assert_eq!(arrays.len(), 3);
        let md0 = &arrays[0];
        assert_eq!((md0.name.as_str(), md0.state.as_str()), ("md0", "active"));
        assert_eq!(
            (md0.disks_required, md0.disks_active, md0.blocks),
            (2, 2, 1048512)
        );
        let md1 = &arrays[1];
        assert_eq!(md1.state, "resync");
        assert_eq!(md1.blocks_synced, 132224);
        let md2 = &arrays[2];
        assert_eq!(
            (md2.disks_active, md2.disks_failed, md2.disks_spare),
            (1, 1, 1)
        );
    }
}
