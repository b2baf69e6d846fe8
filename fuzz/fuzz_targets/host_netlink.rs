//! host-exporter's rtnetlink link dump (the netdev and netclass collectors): datagrams as the
//! kernel sends them, decoded by hand. The request's sequence number is taken from the first
//! message so that the fuzzer reaches the link decoder. Properties: nothing panics, and
//! hardware addresses format as sysfs shows them (two hex digits a byte, colon separated).
#![no_main]

use host_exporter_src::collector::netlink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let seq = data
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(1);
    let mut links = Vec::new();
    let _ = netlink::parse_datagram(data, seq, &mut links);
    for link in &links {
        let _ = link.operstate_name();
        let _ = link.device_flags();
        for bytes in [&link.address, &link.broadcast].into_iter().flatten() {
            let shown = netlink::format_hwaddr(bytes);
            let expected = (bytes.len() * 3).saturating_sub(1);
            assert_eq!(shown.len(), expected, "{bytes:?} -> {shown:?}");
        }
    }
    // A message body on its own, as parse_datagram hands it over.
    let _ = netlink::parse_link(data);
});
