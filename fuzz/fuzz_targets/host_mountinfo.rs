//! host-exporter's filesystem collector: `/proc/1/mountinfo` (procfs-core's parser), the mount
//! points decoded from the kernel's octal escapes, and `--path.rootfs` taken off their front.
//! Properties: nothing panics; decoding never lengthens a field and leaves one without
//! backslashes as it is; a stripped mount point is absolute whenever the decoded one was.
#![no_main]

use std::path::Path;

use host_exporter_src::collector::filesystem;
use libfuzzer_sys::fuzz_target;

fn check_unescape(field: &str) -> String {
    let decoded = filesystem::unescape(field);
    assert!(decoded.len() <= field.len(), "{field:?} -> {decoded:?}");
    if !field.contains('\\') {
        assert_eq!(decoded, field);
    }
    decoded
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for field in text.split_ascii_whitespace() {
        check_unescape(field);
    }
    let Ok(entries) = filesystem::parse(text) else {
        return;
    };
    for entry in entries {
        let mountpoint = check_unescape(&entry.mount_point.to_string_lossy());
        for rootfs in ["/", "", "/host", "/host/", "/rootfs/a"] {
            let shown = filesystem::strip_rootfs(Path::new(rootfs), &mountpoint);
            if mountpoint.starts_with('/') {
                assert!(
                    shown.starts_with('/'),
                    "{mountpoint:?} under {rootfs:?}: {shown:?}"
                );
            }
        }
    }
});
