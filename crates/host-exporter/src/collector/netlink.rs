//! One rtnetlink `RTM_GETLINK` dump: every interface's flags, state, MTU, addresses and 64-bit
//! counters in a single request, instead of ~25 sysfs files per interface.
//!
//! The messages are decoded by hand, reading only the attributes we export: a general netlink
//! library decodes every attribute of every link (per-protocol configuration tables included),
//! which cost more CPU than the whole rest of a scrape. The socket is kept open between scrapes.

use std::os::fd::OwnedFd;
use std::sync::Mutex;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use super::CollectorError;

/// `IFF_*` bits that `RTM_GETLINK` reports from the link's live state rather than from the
/// device's flags word, which is what sysfs `flags` shows.
pub const IFF_PROMISC: u32 = 0x100;
pub const IFF_ALLMULTI: u32 = 0x200;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_LOWER_UP: u32 = 0x1_0000;
pub const IFF_DORMANT: u32 = 0x2_0000;
pub const IFF_UP: u32 = 0x1;

/// The 64-bit counters node_exporter's netdev collector exports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub rx_fifo_errors: u64,
    pub rx_frame_errors: u64,
    pub rx_compressed: u64,
    pub multicast: u64,
    pub rx_nohandler: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    pub tx_fifo_errors: u64,
    pub collisions: u64,
    pub tx_carrier_errors: u64,
    pub tx_compressed: u64,
}

/// One interface as the dump describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `ARPHRD_*` (sysfs `type`).
    pub link_type: u16,
    /// `IFF_*` as netlink reports them (with RUNNING/LOWER_UP/DORMANT from the live state).
    pub flags: u32,
    pub operstate: u8,
    pub carrier: Option<u8>,
    pub carrier_changes: Option<u32>,
    pub carrier_up_count: Option<u32>,
    pub carrier_down_count: Option<u32>,
    pub mtu: Option<u32>,
    pub txqlen: Option<u32>,
    pub group: Option<u32>,
    pub link_mode: u8,
    /// `IFLA_LINK`; absent when the interface is its own link.
    pub iflink: Option<u32>,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
    pub ifalias: Option<String>,
    pub promiscuity: Option<u32>,
    pub allmulti: Option<u32>,
    pub counters: Option<Counters>,
}

impl Link {
    /// The flags word sysfs shows: netlink's, less the live-state bits, with PROMISC/ALLMULTI
    /// set from their reference counts as the kernel does for `dev->flags`.
    pub fn device_flags(&self) -> u32 {
        let mut flags = self.flags & !(IFF_RUNNING | IFF_LOWER_UP | IFF_DORMANT);
        if let Some(p) = self.promiscuity {
            flags = (flags & !IFF_PROMISC) | if p > 0 { IFF_PROMISC } else { 0 };
        }
        if let Some(a) = self.allmulti {
            flags = (flags & !IFF_ALLMULTI) | if a > 0 { IFF_ALLMULTI } else { 0 };
        }
        flags
    }

    /// Whether the device is open (`netif_running`): sysfs answers `carrier`, `dormant`, `speed`
    /// and `duplex` only then.
    pub fn is_running(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Whether an administrator set the interface up (`ip link set up`), whatever its carrier:
    /// node_exporter's `adminstate` label.
    pub fn adminstate_name(&self) -> &'static str {
        if self.is_running() {
            "up"
        } else {
            "down"
        }
    }

    /// sysfs `operstate` text.
    pub fn operstate_name(&self) -> &'static str {
        match self.operstate {
            1 => "notpresent",
            2 => "down",
            3 => "lowerlayerdown",
            4 => "testing",
            5 => "dormant",
            6 => "up",
            _ => "unknown",
        }
    }
}

/// Formats a hardware address as sysfs does (`02:42:5b:f4:09:f6`).
pub fn format_hwaddr(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}

const NLMSG_HEADER: usize = 16;
const IFINFO: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;

const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_IFALIAS: u16 = 20;
const IFLA_STATS64: u16 = 23;
const IFLA_GROUP: u16 = 27;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_CARRIER_UP_COUNT: u16 = 47;
const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
const IFLA_ALLMULTI: u16 = 61;
/// The nested-attribute bit and byte-order bit of `nla_type`.
const NLA_TYPE_MASK: u16 = 0x3fff;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// `struct rtnl_link_stats64`: the fields we export, by their u64 index.
fn parse_stats64(v: &[u8]) -> Option<Counters> {
    let at = |i: usize| u64_at(v, i * 8);
    Some(Counters {
        rx_packets: at(0)?,
        tx_packets: at(1)?,
        rx_bytes: at(2)?,
        tx_bytes: at(3)?,
        rx_errors: at(4)?,
        tx_errors: at(5)?,
        rx_dropped: at(6)?,
        tx_dropped: at(7)?,
        multicast: at(8)?,
        collisions: at(9)?,
        rx_frame_errors: at(13)?,
        rx_fifo_errors: at(14)?,
        tx_carrier_errors: at(17)?,
        tx_fifo_errors: at(18)?,
        rx_compressed: at(21)?,
        tx_compressed: at(22)?,
        // Added in Linux 4.6; older kernels send a shorter struct.
        rx_nohandler: at(23).unwrap_or(0),
    })
}

fn c_string(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// Decodes the body of one `RTM_NEWLINK` message (after the netlink header).
pub fn parse_link(body: &[u8]) -> Option<Link> {
    let mut link = Link {
        link_type: u16_at(body, 2)?,
        index: u32_at(body, 4)?,
        flags: u32_at(body, 8)?,
        ..Link::default()
    };
    let mut at = IFINFO;
    while at + 4 <= body.len() {
        let len = usize::from(u16_at(body, at)?);
        let kind = u16_at(body, at + 2)? & NLA_TYPE_MASK;
        if len < 4 || at + len > body.len() {
            break;
        }
        let v = &body[at + 4..at + len];
        match kind {
            IFLA_IFNAME => link.name = c_string(v),
            IFLA_ADDRESS => link.address = Some(v.to_vec()),
            IFLA_BROADCAST => link.broadcast = Some(v.to_vec()),
            IFLA_IFALIAS => link.ifalias = Some(c_string(v)),
            IFLA_MTU => link.mtu = u32_at(v, 0),
            IFLA_LINK => link.iflink = u32_at(v, 0),
            IFLA_TXQLEN => link.txqlen = u32_at(v, 0),
            IFLA_GROUP => link.group = u32_at(v, 0),
            IFLA_PROMISCUITY => link.promiscuity = u32_at(v, 0),
            IFLA_ALLMULTI => link.allmulti = u32_at(v, 0),
            IFLA_CARRIER_CHANGES => link.carrier_changes = u32_at(v, 0),
            IFLA_CARRIER_UP_COUNT => link.carrier_up_count = u32_at(v, 0),
            IFLA_CARRIER_DOWN_COUNT => link.carrier_down_count = u32_at(v, 0),
            IFLA_OPERSTATE => link.operstate = v.first().copied().unwrap_or(0),
            IFLA_LINKMODE => link.link_mode = v.first().copied().unwrap_or(0),
            IFLA_CARRIER => link.carrier = v.first().copied(),
            IFLA_STATS64 => link.counters = parse_stats64(v),
            _ => {}
        }
        at += align4(len);
    }
    Some(link)
}

/// Parses one datagram of a dump, keeping the links of request `seq`. `Ok(true)` once the
/// closing `NLMSG_DONE` was seen.
pub fn parse_datagram(mut bytes: &[u8], seq: u32, links: &mut Vec<Link>) -> Result<bool, String> {
    while bytes.len() >= NLMSG_HEADER {
        let len = u32_at(bytes, 0).unwrap_or(0) as usize;
        if len < NLMSG_HEADER || len > bytes.len() {
            return Err(format!(
                "truncated netlink message ({len} of {} bytes)",
                bytes.len()
            ));
        }
        let kind = u16_at(bytes, 4).unwrap_or(0);
        let msg_seq = u32_at(bytes, 8).unwrap_or(0);
        let body = &bytes[NLMSG_HEADER..len];
        // Leftovers of an earlier, interrupted dump on the shared socket are skipped.
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let errno = u32_at(body, 0)
                        .map(|e| (e as i32).wrapping_neg())
                        .unwrap_or(0);
                    return Err(format!(
                        "netlink error: {}",
                        std::io::Error::from_raw_os_error(errno)
                    ));
                }
                RTM_NEWLINK => links.extend(parse_link(body)),
                _ => {}
            }
        }
        bytes = bytes.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(false)
}

/// An open rtnetlink socket, reused by every scrape.
#[derive(Default)]
pub struct LinkDumper {
    /// The socket, the last sequence number, and the receive buffer (kept: a dump of a few
    /// dozen interfaces is tens of kilobytes).
    socket: Mutex<Option<(OwnedFd, u32, Vec<u8>)>>,
}

impl LinkDumper {
    /// Asks the kernel for every link in this network namespace.
    pub fn dump(&self) -> Result<Vec<Link>, CollectorError> {
        let mut guard = match self.socket.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let err = |what: &str, source: std::io::Error| CollectorError::Io {
            what: format!("rtnetlink {what}"),
            source,
        };
        if guard.is_none() {
            let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None)
                .map_err(|e| err("socket", e.into()))?;
            *guard = Some((fd, 0, vec![0u8; 32 * 1024]));
        }
        let result = match guard.as_mut() {
            Some((fd, seq, buf)) => {
                *seq = seq.wrapping_add(1);
                dump_on(fd, *seq, buf)
            }
            None => Ok(Vec::new()),
        };
        if result.is_err() {
            // Start over with a fresh socket next time.
            *guard = None;
        }
        result.map_err(|(what, source)| err(what, source))
    }
}

fn dump_on(
    fd: &OwnedFd,
    seq: u32,
    buf: &mut [u8],
) -> Result<Vec<Link>, (&'static str, std::io::Error)> {
    let mut request = [0u8; NLMSG_HEADER + IFINFO];
    request[0..4].copy_from_slice(&((NLMSG_HEADER + IFINFO) as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request[8..12].copy_from_slice(&seq.to_ne_bytes());
    // Unbound netlink sockets send to the kernel (port 0) and are bound on first use.
    rustix::net::send(fd, &request, SendFlags::empty()).map_err(|e| ("send", e.into()))?;
    let mut links = Vec::with_capacity(16);
    loop {
        let (n, _) =
            rustix::net::recv(fd, &mut *buf, RecvFlags::empty()).map_err(|e| ("recv", e.into()))?;
        let data = &buf[..n];
        if data.is_empty() {
            break;
        }
        let done = parse_datagram(data, seq, &mut links).map_err(|why| {
            (
                "dump",
                std::io::Error::new(std::io::ErrorKind::InvalidData, why),
            )
        })?;
        if done {
            break;
        }
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_addresses_look_like_sysfs() {
        assert_eq!(
            format_hwaddr(&[0x02, 0x42, 0x5b, 0xf4, 0x09, 0xf6]),
            "02:42:5b:f4:09:f6"
        );
        assert_eq!(format_hwaddr(&[0; 6]), "00:00:00:00:00:00");
    }

    #[test]
    fn device_flags_drop_live_state_bits() {
        let link = Link {
            flags: 0x1003 | IFF_RUNNING | IFF_LOWER_UP,
            promiscuity: Some(0),
            ..Link::default()
        };
        assert_eq!(link.device_flags(), 4099);
        let bridged = Link {
            flags: 0x1003,
            promiscuity: Some(1),
            ..Link::default()
        };
        assert_eq!(bridged.device_flags(), 0x1103);
    }

    #[test]
    fn a_live_dump_lists_loopback_twice_on_one_socket() {
        let dumper = LinkDumper::default();
        for _ in 0..2 {
            let links = dumper.dump().unwrap();
            let lo = links
                .iter()
                .find(|l| l.name == "lo")
                .expect("lo in the dump");
            assert_eq!(lo.link_type, 772);
            assert_eq!(lo.operstate_name(), "unknown");
            assert!(lo.counters.is_some() && lo.mtu.is_some());
        }
    }

    /// A dump captured on a Debian 12 VM: lo, ifb0, ifb1, eth0, docker0 and 25 veths.
    #[test]
    fn parses_a_captured_dump() {
        let bytes = crate::collector::fixtures::bytes("netlink/getlink.bin");
        let mut links = Vec::new();
        let done = parse_datagram(&bytes, 1, &mut links).unwrap();
        assert!(done);
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names[..5], ["lo", "ifb0", "ifb1", "eth0", "docker0"]);
        // Docker containers were running: their veth ends are bridge ports, so promiscuous.
        let veth = links
            .iter()
            .find(|l| l.name.starts_with("veth"))
            .expect("a veth");
        assert_eq!(veth.device_flags() & IFF_PROMISC, IFF_PROMISC);
        let eth0 = &links[3];
        assert_eq!(eth0.operstate_name(), "up");
        assert_eq!(eth0.device_flags(), 4099);
        assert_eq!(eth0.mtu, Some(1400));
        assert_eq!(
            eth0.address.as_deref().map(format_hwaddr).as_deref(),
            Some("02:fc:00:00:00:01")
        );
        assert!(eth0.counters.as_ref().is_some_and(|c| c.rx_bytes > 0));
        let ifb0 = &links[1];
        assert!(!ifb0.is_running());
        assert_eq!(ifb0.adminstate_name(), "down");
        assert_eq!(
            (eth0.adminstate_name(), links[4].adminstate_name()),
            ("up", "up")
        );
        // Loopback is set up but has no operational state of its own: admin state is its flag.
        assert_eq!(
            (links[0].adminstate_name(), links[0].operstate_name()),
            ("up", "unknown")
        );
        assert_eq!(ifb0.txqlen, Some(32));
        // A message of another request is ignored.
        let mut other = Vec::new();
        assert!(!parse_datagram(&bytes, 2, &mut other).unwrap());
        assert!(other.is_empty());
    }

    /// Found by the fuzzer: an error message whose errno is `i32::MIN` overflowed on negation.
    #[test]
    fn an_error_message_with_any_errno_is_an_error_not_a_panic() {
        for errno in [0x8000_0000u32, 0, 1, u32::MAX] {
            let mut msg = Vec::new();
            msg.extend_from_slice(&20u32.to_ne_bytes());
            msg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            msg.extend_from_slice(&0u16.to_ne_bytes());
            msg.extend_from_slice(&7u32.to_ne_bytes());
            msg.extend_from_slice(&0u32.to_ne_bytes());
            msg.extend_from_slice(&errno.to_ne_bytes());
            let why = parse_datagram(&msg, 7, &mut Vec::new()).unwrap_err();
            assert!(why.starts_with("netlink error"), "{why}");
        }
    }

    /// Regenerates the fixture above: `cargo test -p host-exporter -- --ignored capture`.
    #[test]
    #[ignore]
    fn capture_getlink_fixture() {
        let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None).unwrap();
        let mut request = [0u8; 32];
        request[0..4].copy_from_slice(&32u32.to_ne_bytes());
        request[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
        request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        request[8..12].copy_from_slice(&1u32.to_ne_bytes());
        rustix::net::send(&fd, &request, SendFlags::empty()).unwrap();
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()).unwrap();
            all.extend_from_slice(&buf[..n]);
            let mut links = Vec::new();
            if parse_datagram(&buf[..n], 1, &mut links).unwrap() {
                break;
            }
        }
        std::fs::write(crate::collector::fixtures::path("netlink/getlink.bin"), all).unwrap();
    }
}
