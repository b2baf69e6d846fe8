//! One rtnetlink `RTM_GETLINK` dump: every interface's flags, state, MTU, addresses and 64-bit
//! counters in a single request, instead of ~25 sysfs files per interface.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage, State};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

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

fn operstate_code(state: &State) -> u8 {
    match state {
        State::Unknown => 0,
        State::NotPresent => 1,
        State::Down => 2,
        State::LowerLayerDown => 3,
        State::Testing => 4,
        State::Dormant => 5,
        State::Up => 6,
        State::Other(n) => *n,
        _ => 0,
    }
}

pub fn link_from_message(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        link_type: u16::from(msg.header.link_layer_type),
        flags: msg.header.flags.bits(),
        ..Link::default()
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::OperState(s) => link.operstate = operstate_code(&s),
            LinkAttribute::Carrier(c) => link.carrier = Some(c),
            LinkAttribute::CarrierChanges(c) => link.carrier_changes = Some(c),
            LinkAttribute::CarrierUpCount(c) => link.carrier_up_count = Some(c),
            LinkAttribute::CarrierDownCount(c) => link.carrier_down_count = Some(c),
            LinkAttribute::Mtu(m) => link.mtu = Some(m),
            LinkAttribute::TxQueueLen(q) => link.txqlen = Some(q),
            LinkAttribute::Group(g) => link.group = Some(g),
            LinkAttribute::Mode(m) => link.link_mode = u8::from(m),
            LinkAttribute::Link(l) => link.iflink = Some(l),
            LinkAttribute::Address(a) => link.address = Some(a),
            LinkAttribute::Broadcast(b) => link.broadcast = Some(b),
            LinkAttribute::IfAlias(a) => link.ifalias = Some(a),
            LinkAttribute::Promiscuity(p) => link.promiscuity = Some(p),
            LinkAttribute::AllMulticast(a) => link.allmulti = Some(a),
            LinkAttribute::Stats64(s) => {
                link.counters = Some(Counters {
                    rx_bytes: s.rx_bytes,
                    rx_packets: s.rx_packets,
                    rx_errors: s.rx_errors,
                    rx_dropped: s.rx_dropped,
                    rx_fifo_errors: s.rx_fifo_errors,
                    rx_frame_errors: s.rx_frame_errors,
                    rx_compressed: s.rx_compressed,
                    multicast: s.multicast,
                    rx_nohandler: s.rx_nohandler,
                    tx_bytes: s.tx_bytes,
                    tx_packets: s.tx_packets,
                    tx_errors: s.tx_errors,
                    tx_dropped: s.tx_dropped,
                    tx_fifo_errors: s.tx_fifo_errors,
                    collisions: s.collisions,
                    tx_carrier_errors: s.tx_carrier_errors,
                    tx_compressed: s.tx_compressed,
                })
            }
            _ => {}
        }
    }
    link
}

/// Parses the datagrams of a dump. `Ok(true)` once the closing `NLMSG_DONE` was seen.
pub fn parse_datagram(mut bytes: &[u8], links: &mut Vec<Link>) -> Result<bool, String> {
    while !bytes.is_empty() {
        let msg =
            NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).map_err(|e| e.to_string())?;
        let len = (msg.header.length as usize).max(16);
        match msg.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) => return Err(format!("netlink error: {e:?}")),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                links.push(link_from_message(link));
            }
            _ => {}
        }
        // Messages are 4-byte aligned within a datagram.
        let advance = (len + 3) & !3;
        bytes = bytes.get(advance..).unwrap_or(&[]);
    }
    Ok(false)
}

/// Asks the kernel for every link in this network namespace.
pub fn dump_links() -> Result<Vec<Link>, CollectorError> {
    let err = |what: &str, source: std::io::Error| CollectorError::Io {
        what: format!("rtnetlink {what}"),
        source,
    };
    let socket = Socket::new(NETLINK_ROUTE).map_err(|e| err("socket", e))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut request = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    request.finalize();
    let mut out = vec![0u8; request.buffer_len()];
    request.serialize(&mut out);
    socket
        .send_to(&out, &SocketAddr::new(0, 0), 0)
        .map_err(|e| err("send", e))?;
    let mut links = Vec::with_capacity(16);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let n = socket.recv(&mut buf, 0).map_err(|e| err("recv", e))?;
        if n == 0 {
            break;
        }
        let done = parse_datagram(&buf, &mut links).map_err(|why| CollectorError::Io {
            what: "rtnetlink dump".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
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
    fn a_live_dump_lists_loopback() {
        let links = dump_links().unwrap();
        let lo = links
            .iter()
            .find(|l| l.name == "lo")
            .expect("lo in the dump");
        assert_eq!(lo.link_type, 772);
        assert!(lo.counters.is_some());
    }
}
