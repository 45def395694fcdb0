//! The packet walk: Ethernet → VLAN tags → IPv4/IPv6 → UDP or TCP → DNS header → question.
//! Generic over `Packet`, so the XDP program (bounds checked against `data_end`) and the host
//! (a byte slice) run the same code. Every loop is bounded by a named constant.
//!
//! The walk notes where the IP header's source address lies ([`Question::source`]) and reads it
//! only when asked ([`read_source`]): counting names alone never pays for those loads.

use crate::{
    Reason,
    qname::{NAME_BUF_LEN, NAME_WORDS, fold_and_hash, wire_len},
};

/// VLAN tags followed (802.1Q and 802.1ad).
pub const MAX_VLAN_TAGS: usize = 2;
/// IPv6 extension headers followed before giving up.
pub const MAX_IPV6_EXTENSION_HEADERS: usize = 6;

const ETH_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTIONS: u8 = 60;
const IPV6_HEADER_LEN: usize = 40;
/// Offsets of the source address in the IPv4 and IPv6 headers.
const IPV4_SOURCE: usize = 12;
const IPV6_SOURCE: usize = 8;
const UDP_HEADER_LEN: usize = 8;
const TCP_MIN_HEADER_LEN: usize = 20;
/// DNS over TCP prefixes each message with its length (RFC 1035 4.2.2).
const TCP_LENGTH_PREFIX: usize = 2;
const DNS_HEADER_LEN: usize = 12;
const DNS_FLAG_QR: u16 = 0x8000;
const DNS_OPCODE_QUERY: u16 = 0;

/// Read access to a packet's bytes.
pub trait Packet {
    /// Length of the packet in bytes.
    fn len(&self) -> usize;
    /// The `N` bytes at `offset`, or `None` past the end.
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
    /// Copies up to `max` (≤ 256) bytes at `offset` into `words` (little-endian) and returns how
    /// many it copied; bytes of `words` past that are left as they were.
    fn copy_name(&self, offset: usize, max: usize, words: &mut [u64; NAME_WORDS]) -> usize;

    /// Returns `value` unchanged. The XDP implementation passes it through memory the verifier
    /// cannot see into, so the paths that found names of different lengths merge into one
    /// state instead of each being verified again through the hash.
    #[inline(always)]
    fn opaque(&self, value: usize) -> usize {
        value
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Packet for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.get(offset..offset.checked_add(N)?)?.try_into().ok()
    }

    fn copy_name(&self, offset: usize, max: usize, words: &mut [u64; NAME_WORDS]) -> usize {
        let Some(bytes) = self.get(offset..) else {
            return 0;
        };
        let n = bytes.len().min(max).min(NAME_BUF_LEN);
        for (i, b) in bytes[..n].iter().enumerate() {
            let shift = (i % 8) * 8;
            words[i / 8] = (words[i / 8] & !(0xff << shift)) | ((*b as u64) << shift);
        }
        n
    }
}

/// A query that is counted: its name sits folded to lower case in the caller's word buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// Wire length of the name, terminating zero included.
    pub name_len: usize,
    pub qtype: u16,
    pub hash: u64,
}

#[inline(always)]
fn be16<P: Packet + ?Sized>(p: &P, offset: usize) -> Result<u16, Reason> {
    p.load::<2>(offset)
        .map(u16::from_be_bytes)
        .ok_or(Reason::TruncatedFrame)
}

/// Two bytes at `offset`. The walk never loads a single byte: the verifier cannot use the
/// `ptr >= data_end` form LLVM gives a one-byte bounds check.
#[inline(always)]
fn pair<P: Packet + ?Sized>(p: &P, offset: usize) -> Result<[u8; 2], Reason> {
    p.load::<2>(offset).ok_or(Reason::TruncatedFrame)
}

/// The IP version of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// Bytes in an address.
    pub const fn address_len(self) -> usize {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 16,
        }
    }
}

/// Where a packet's source address lies: its IP version and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceAt {
    pub version: IpVersion,
    pub offset: usize,
}

/// A source address as the IP header gives it: 16 bytes in network order, of which an IPv4
/// address fills the first 4 (the rest are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    pub version: IpVersion,
    pub addr: [u8; 16],
}

/// Where the network header leaves off.
struct Network {
    /// Offset of the transport header.
    transport: usize,
    protocol: u8,
    /// End of the IP packet by its own length fields (Ethernet may pad beyond it).
    end: usize,
    source: SourceAt,
}

#[inline(always)]
fn network<P: Packet + ?Sized>(p: &P) -> Result<Network, Reason> {
    let mut offset = ETH_HEADER_LEN;
    let mut ethertype = be16(p, 12)?;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        ethertype = be16(p, offset + 2)?;
        offset += 4;
    }
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(p, offset),
        ETHERTYPE_IPV6 => ipv6(p, offset),
        _ => Err(Reason::NotIp),
    }
}

#[inline(always)]
fn ipv4<P: Packet + ?Sized>(p: &P, l3: usize) -> Result<Network, Reason> {
    let [version_ihl, _] = pair(p, l3)?;
    let header_len = ((version_ihl & 0x0f) as usize) * 4;
    let total_len = be16(p, l3 + 2)? as usize;
    if version_ihl >> 4 != 4 || header_len < 20 || total_len < header_len {
        return Err(Reason::BadIpHeader);
    }
    // A first fragment (offset 0, more-fragments set) still starts with the UDP header.
    if be16(p, l3 + 6)? & 0x1fff != 0 {
        return Err(Reason::IpFragment);
    }
    let [protocol, _] = pair(p, l3 + 9)?;
    let source = SourceAt {
        version: IpVersion::V4,
        offset: l3 + IPV4_SOURCE,
    };
    Ok(Network {
        transport: l3 + header_len,
        protocol,
        end: l3 + total_len,
        source,
    })
}

#[inline(always)]
fn ipv6<P: Packet + ?Sized>(p: &P, l3: usize) -> Result<Network, Reason> {
    if pair(p, l3)?[0] >> 4 != 6 {
        return Err(Reason::BadIpHeader);
    }
    // A zero payload length means a jumbogram: its length is in an option; take the frame's.
    let end = match be16(p, l3 + 4)? as usize {
        0 => p.len(),
        payload_len => l3 + IPV6_HEADER_LEN + payload_len,
    };
    let [mut next, _hop_limit] = pair(p, l3 + 6)?;
    let source = SourceAt {
        version: IpVersion::V6,
        offset: l3 + IPV6_SOURCE,
    };
    let mut offset = l3 + IPV6_HEADER_LEN;
    for _ in 0..MAX_IPV6_EXTENSION_HEADERS {
        match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTIONS => {
                let [next_header, len] = pair(p, offset)?;
                next = next_header;
                offset += (len as usize + 1) * 8;
            }
            IPV6_FRAGMENT => {
                if be16(p, offset + 2)? & 0xfff8 != 0 {
                    return Err(Reason::IpFragment);
                }
                next = pair(p, offset)?[0];
                offset += 8;
            }
            _ => {
                return Ok(Network {
                    transport: offset,
                    protocol: next,
                    end,
                    source,
                });
            }
        }
    }
    match next {
        IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTIONS | IPV6_FRAGMENT => {
            Err(Reason::TooManyExtensionHeaders)
        }
        _ => Ok(Network {
            transport: offset,
            protocol: next,
            end,
            source,
        }),
    }
}

/// Offset and end of the DNS message in a UDP datagram or at the start of a TCP segment.
#[inline(always)]
fn transport<P: Packet + ?Sized>(
    p: &P,
    net: &Network,
    counted_port: impl Fn(u16) -> bool,
) -> Result<(usize, usize), Reason> {
    let l4 = net.transport;
    let ip_end = core::cmp::min(net.end, p.len());
    match net.protocol {
        IPPROTO_UDP => {
            if !counted_port(be16(p, l4 + 2)?) {
                return Err(Reason::OtherPort);
            }
            // The UDP length bounds the message: Ethernet pads short frames with bytes that
            // are not DNS.
            let udp_len = be16(p, l4 + 4)? as usize;
            Ok((l4 + UDP_HEADER_LEN, core::cmp::min(l4 + udp_len, ip_end)))
        }
        IPPROTO_TCP => {
            if !counted_port(be16(p, l4 + 2)?) {
                return Err(Reason::OtherPort);
            }
            let header_len = ((pair(p, l4 + 12)?[0] >> 4) as usize) * 4;
            if header_len < TCP_MIN_HEADER_LEN {
                return Err(Reason::BadTcpHeader);
            }
            let payload = l4 + header_len;
            if payload >= ip_end {
                return Err(Reason::TcpNoPayload);
            }
            let message_len = be16(p, payload).map_err(|_| Reason::TruncatedDnsHeader)? as usize;
            let dns = payload + TCP_LENGTH_PREFIX;
            Ok((dns, core::cmp::min(dns + message_len, ip_end)))
        }
        _ => Err(Reason::OtherProtocol),
    }
}

/// Where a query's question lies: the QNAME's offset and the end of the DNS message; and where
/// its source address lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    pub qname: usize,
    pub end: usize,
    pub source: SourceAt,
}

/// Walks `p` to the question of a DNS query to a counted port (`counted_port` says which UDP and
/// TCP destination ports carry DNS).
#[inline(always)]
pub fn locate_question<P: Packet + ?Sized>(
    p: &P,
    counted_port: impl Fn(u16) -> bool,
) -> Result<Question, Reason> {
    let net = network(p)?;
    let (dns, end) = transport(p, &net, counted_port)?;
    if dns + DNS_HEADER_LEN > end {
        return Err(Reason::TruncatedDnsHeader);
    }
    let flags = be16(p, dns + 2)?;
    if flags & DNS_FLAG_QR != 0 {
        return Err(Reason::Response);
    }
    if (flags >> 11) & 0x0f != DNS_OPCODE_QUERY {
        return Err(Reason::NotQueryOpcode);
    }
    if be16(p, dns + 4)? != 1 {
        return Err(Reason::QdcountNotOne);
    }
    Ok(Question {
        qname: dns + DNS_HEADER_LEN,
        end,
        source: net.source,
    })
}

/// Reads the source address at `at` (a [`Question::source`]), in two-byte loads like the rest of
/// the walk. After [`locate_question`] found the question it cannot fail: the address lies
/// before the transport header, which the walk has read.
#[inline(always)]
pub fn read_source<P: Packet + ?Sized>(p: &P, at: SourceAt) -> Result<Source, Reason> {
    let mut addr = [0u8; 16];
    let pairs = at.version.address_len() / 2;
    for i in 0..8 {
        if i >= pairs {
            break;
        }
        let [high, low] = pair(p, at.offset + 2 * i)?;
        addr[2 * i] = high;
        addr[2 * i + 1] = low;
    }
    Ok(Source {
        version: at.version,
        addr,
    })
}

/// Reads the question's name into `words`, folded to lower case, with its keyed hash and QTYPE.
#[inline(always)]
pub fn read_question<P: Packet + ?Sized>(
    p: &P,
    question: Question,
    key: [u64; 2],
    words: &mut [u64; NAME_WORDS],
) -> Result<Query, Reason> {
    let Question { qname, end, .. } = question;
    let available = p.copy_name(qname, end - qname, words);
    let name_len = p.opaque(wire_len(words, available)?) & 0xff;
    // QTYPE and QCLASS must both be there.
    if qname + name_len + 4 > end {
        return Err(Reason::TruncatedQuestion);
    }
    let qtype = be16(p, qname + name_len).map_err(|_| Reason::TruncatedQuestion)?;
    let hash = fold_and_hash(words, name_len, key);
    Ok(Query {
        name_len,
        qtype,
        hash,
    })
}

/// The whole walk: `locate_question`, then `read_question`.
#[inline(always)]
pub fn parse_query<P: Packet + ?Sized>(
    p: &P,
    counted_port: impl Fn(u16) -> bool,
    key: [u64; 2],
    words: &mut [u64; NAME_WORDS],
) -> Result<Query, Reason> {
    read_question(p, locate_question(p, counted_port)?, key, words)
}
