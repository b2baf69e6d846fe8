//! `node_xfs_*{device}` from `/sys/fs/xfs/<device>/stats/stats`: extent allocation, allocation
//! and block-map B-trees, block mapping, directory, inode cache, read/write and vnode counters.
//! Hosts without XFS report nothing.

use metrics_core::MetricSet;

use super::{list_dir, read, CollectorError, Host};

/// `(metric after node_xfs_, help)` for each field of a stats line, in the line's order.
type Fields = &'static [(&'static str, &'static str)];

/// `(stats line, fields)`: node_exporter 1.9's families. A line the kernel does not print
/// exports zeros, as node_exporter does.
const LINES: &[(&str, Fields)] = &[
    ("extent_alloc", &[
        ("extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
        ("extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."),
        ("extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."),
        ("extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."),
    ]),
    ("abt", &[
        ("allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem."),
        ("allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem."),
        ("allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem."),
        ("allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem."),
    ]),
    ("blk_map", &[
        ("block_mapping_reads_total", "Number of block map for read operations for a filesystem."),
        ("block_mapping_writes_total", "Number of block map for write operations for a filesystem."),
        ("block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem."),
        ("block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem."),
        ("block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem."),
        ("block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem."),
        ("block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem."),
    ]),
    ("bmbt", &[
        ("block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."),
        ("block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."),
        ("block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
        ("block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
    ]),
    ("dir", &[
        ("directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
        ("directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
        ("directory_operation_remove_total", "Number of times an existing directory entry was removed for a filesystem."),
        ("directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem."),
    ]),
    ("ig", &[
        ("inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache."),
        ("inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache."),
        ("inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
        ("inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
        ("inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
        ("inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
        ("inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ]),
    // The kernel prints write calls first.
    ("rw", &[
        ("write_calls_total", "Number of write(2) system calls made to files in a filesystem."),
        ("read_calls_total", "Number of read(2) system calls made to files in a filesystem."),
    ]),
    ("vnodes", &[
        ("vnode_active_total", "Number of vnodes not on free lists for a filesystem."),
        ("vnode_allocate_total", "Number of times vn_alloc called for a filesystem."),
        ("vnode_get_total", "Number of times vn_get called for a filesystem."),
        ("vnode_hold_total", "Number of times vn_hold called for a filesystem."),
        ("vnode_release_total", "Number of times vn_rele called for a filesystem."),
        ("vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem."),
        ("vnode_remove_total", "Number of times vn_remove called for a filesystem."),
    ]),
];

/// The values of one device's stats file for each of [`LINES`], checked against the field
/// counts the kernel prints (`vnodes` gained an eighth, unused here).
pub fn parse_stats(text: &str) -> Result<Vec<Vec<f64>>, String> {
    let lines = super::nfs::parse(text)?;
    LINES
        .iter()
        .map(|(key, fields)| {
            let Some((_, values)) = lines.iter().find(|(k, _)| k == key) else {
                return Ok(vec![0.0; fields.len()]);
            };
            let allowed = values.len() == fields.len()
                || (*key == "vnodes" && values.len() == fields.len() + 1);
            if !allowed {
                return Err(format!(
                    "{key}: {} fields, {} expected",
                    values.len(),
                    fields.len()
                ));
            }
            Ok(values[..fields.len()].to_vec())
        })
        .collect()
}

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
        let values = parse_stats(&text).map_err(|why| CollectorError::parse(&stats, why))?;
        for ((_, fields), values) in LINES.iter().zip(&values) {
            for ((metric, help), value) in fields.iter().zip(values) {
                out.counter(
                    &format!("node_xfs_{metric}"),
                    help,
                    &[("device", &device)],
                    *value,
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "extent_alloc 1 2 3 4\nabt 0 0 0 0\nblk_map 1 2 3 4 5 6 7\nbmbt 0 0 0 0\n\
dir 5 6 7 8\nig 1 2 3 4 5 6 7\nrw 107739 94045\nvnodes 1 2 3 4 5 6 7 0\nxpc 399724544 92823103 86219234\n";

    #[test]
    fn rw_is_writes_then_reads() {
        let values = parse_stats(STATS).unwrap();
        let rw = LINES.iter().position(|(k, _)| *k == "rw").unwrap();
        assert_eq!(LINES[rw].1[0].0, "write_calls_total");
        assert_eq!(values[rw], vec![107739.0, 94045.0]);
    }

    #[test]
    fn missing_lines_are_zeros_and_wrong_counts_are_errors() {
        let values = parse_stats("rw 1 2\n").unwrap();
        assert_eq!(values[0], vec![0.0; 4]);
        assert!(parse_stats("rw 1 2 3\n").is_err());
        assert!(parse_stats("vnodes 1 2 3 4 5 6 7 8 9\n").is_err());
        assert!(parse_stats(STATS).is_ok());
    }
}
