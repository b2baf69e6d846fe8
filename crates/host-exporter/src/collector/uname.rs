//! `node_uname_info` from the `uname` syscall.

use metrics_core::MetricSet;

use super::{CollectorError, Host};

pub fn collect(_ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    let (domainname, machine, nodename, release, sysname, version) = (
        s(u.domainname()),
        s(u.machine()),
        s(u.nodename()),
        s(u.release()),
        s(u.sysname()),
        s(u.version()),
    );
    out.gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        &[
            ("domainname", &domainname),
            ("machine", &machine),
            ("nodename", &nodename),
            ("release", &release),
            ("sysname", &sysname),
            ("version", &version),
        ],
        1.0,
    );
    Ok(())
}
