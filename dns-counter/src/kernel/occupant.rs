//! Which XDP program an interface holds, for the error that says why ours cannot be attached:
//! the interface's `IFLA_XDP` attribute (RTM_GETLINK over rtnetlink), and the program's name.

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{
    RouteNetlinkMessage,
    link::{LinkAttribute, LinkMessage, LinkXdp},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// An XDP program attached to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub id: u32,
    /// As the program's loader named it; `None` if it could not be read.
    pub name: Option<String>,
}

impl std::fmt::Display for Occupant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "program {} ({name})", self.id),
            None => write!(f, "program {}", self.id),
        }
    }
}

/// The XDP program attached to interface `index`, if the kernel says.
pub fn xdp_occupant(index: u32) -> Option<Occupant> {
    let id = xdp_program_id(index)?;
    let name = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|program| program.id() == id)
        .and_then(|program| program.name_as_str().map(str::to_owned));
    Some(Occupant { id, name })
}

fn xdp_program_id(index: u32) -> Option<u32> {
    let mut socket = Socket::new(NETLINK_ROUTE).ok()?;
    socket.bind_auto().ok()?;
    socket.connect(&SocketAddr::new(0, 0)).ok()?;
    let mut message = LinkMessage::default();
    message.header.index = index;
    let mut request = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(message)),
    );
    request.header.flags = NLM_F_REQUEST;
    request.header.sequence_number = 1;
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0).ok()?;
    // One link's attributes fit in a page or two.
    let mut reply = vec![0; 64 << 10];
    let len = socket.recv(&mut &mut reply[..], 0).ok()?;
    let reply: NetlinkMessage<RouteNetlinkMessage> =
        NetlinkMessage::deserialize(&reply[..len]).ok()?;
    let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) = reply.payload else {
        return None;
    };
    program_id_of(&link)
}

/// The program id in a link's `IFLA_XDP`, whichever mode holds it.
fn program_id_of(link: &LinkMessage) -> Option<u32> {
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::Xdp(xdp) => xdp.iter().find_map(|entry| match entry {
                LinkXdp::ProgId(id) | LinkXdp::DrvProgId(id) | LinkXdp::SkbProgId(id) => {
                    (*id != 0).then_some(*id)
                }
                _ => None,
            }),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_id_is_read_from_the_xdp_attribute() {
        let mut link = LinkMessage::default();
        assert_eq!(program_id_of(&link), None);
        link.attributes
            .push(LinkAttribute::Xdp(vec![LinkXdp::SkbProgId(42)]));
        assert_eq!(program_id_of(&link), Some(42));
        let occupant = Occupant {
            id: 42,
            name: Some("xdp_filter".into()),
        };
        assert_eq!(occupant.to_string(), "program 42 (xdp_filter)");
    }

    /// Loopback never holds an XDP program here.
    #[test]
    fn an_interface_without_xdp_has_no_occupant() {
        assert_eq!(xdp_occupant(1), None);
    }
}
