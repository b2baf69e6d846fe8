//! `node_xfs_*{device}` from `/sys/fs/xfs/<device>/stats/stats`: extent allocation, block
//! mapping and directory operation counters. Hosts without XFS report nothing.

use metrics_core::MetricSet;

use super::{list_dir, read, CollectorError, Host};

/// `(index in the stats line, metric, help)`.
type Field = (usize, &'static str, &'static str);

/// `(stats line, fields)`.
const FIELDS: &[(&str, &[Field])] = &[
    ("extent_alloc", &[
        (0, "node_xfs_extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
        (1, "node_xfs_extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."),
        (2, "node_xfs_extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."),
        (3, "node_xfs_extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."),
    ]),
    ("bmbt", &[
        (0, "node_xfs_block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."),
        (1, "node_xfs_block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."),
        (2, "node_xfs_block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
        (3, "node_xfs_block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
    ]),
    ("dir", &[
        (0, "node_xfs_directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
        (1, "node_xfs_directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
        (2, "node_xfs_directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem."),
        (3, "node_xfs_directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem."),
    ]),
    ("rw", &[
        (0, "node_xfs_read_calls_total", "Number of read(2) system calls made to files in a filesystem."),
        (1, "node_xfs_write_calls_total", "Number of write(2) system calls made to files in a filesystem."),
    ]),
];

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let devices = match list_dir(&ctx.sys("fs/xfs")) {
        Ok(d) => d,
        Err(CollectorError::NoData(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    for (device, dir) in devices {
        let stats = dir.join("stats/stats");
        if device == "stats" || !stats.is_file() {
            continue;
        }
        let text = read(&stats)?;
        let lines = super::nfs::parse(&text).map_err(|why| CollectorError::parse(&stats, why))?;
        for (key, fields) in FIELDS {
            let Some((_, values)) = lines.iter().find(|(k, _)| k == key) else {
                continue;
            };
            for (i, metric, help) in *fields {
                if let Some(v) = values.get(*i) {
                    out.counter(metric, help, &[("device", &device)], *v);
                }
            }
        }
    }
    Ok(())
}
