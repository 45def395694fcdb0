//! Generated DNS query frames for tests (feature `testing`): valid queries over every
//! encapsulation the walk follows, and mutations and truncations of them; and the two readings of
//! a frame's question that the differential test and the walk's fuzz target compare: the walk's
//! ([`walk_question`]) and hickory-proto's ([`hickory_question`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
    serialize::binary::{BinDecodable as _, BinDecoder, BinEncodable as _},
};
use rand::{RngExt, SeedableRng as _, rngs::StdRng, seq::IndexedRandom as _};

use crate::{Reason, maps::NAME_WORDS, walk::parse_query};

/// How a generated query is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encapsulation {
    Ipv4,
    /// IPv4 with a Router Alert option and padding: a 28-byte header.
    Ipv4Options,
    /// The first IPv4 fragment of a larger datagram, holding the whole question.
    Ipv4FirstFragment,
    /// One 802.1Q tag.
    Vlan,
    /// 802.1ad outer tag, 802.1Q inner tag.
    QinQ,
    Ipv6,
    /// IPv6 with hop-by-hop, destination options, routing and (atomic) fragment headers.
    Ipv6Extensions,
    /// DNS over TCP on IPv4, with TCP options, as the segment starting the message.
    Tcp,
    /// DNS over TCP on IPv6.
    Tcp6,
}

/// Every encapsulation the walk follows.
pub const ENCAPSULATIONS: [Encapsulation; 9] = [
    Encapsulation::Ipv4,
    Encapsulation::Ipv4Options,
    Encapsulation::Ipv4FirstFragment,
    Encapsulation::Vlan,
    Encapsulation::QinQ,
    Encapsulation::Ipv6,
    Encapsulation::Ipv6Extensions,
    Encapsulation::Tcp,
    Encapsulation::Tcp6,
];

impl Encapsulation {
    /// Whether it carries the query over IPv6.
    pub const fn is_ipv6(self) -> bool {
        matches!(
            self,
            Encapsulation::Ipv6 | Encapsulation::Ipv6Extensions | Encapsulation::Tcp6
        )
    }
}

/// The source addresses of frames built by [`frame`] (the lab's client addresses).
pub const SOURCE_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 53, 2);
pub const SOURCE_V6: Ipv6Addr = Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, 2);
/// Their destination: the lab's resolver.
const DESTINATION_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 53, 1);
const DESTINATION_V6: Ipv6Addr = Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, 1);

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// The transport header and the DNS message, to port 53; and where the message starts in it.
fn segment(tcp: bool, first_fragment: bool, dns: &[u8]) -> (Vec<u8>, usize) {
    let mut seg = vec![0xc3, 0x50, 0, 53];
    if tcp {
        seg.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]); // sequence, acknowledgement
        seg.extend_from_slice(&[0x80, 0x18, 0xff, 0xff, 0, 0, 0, 0]); // 32-byte header, PSH+ACK
        seg.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps
        seg.extend_from_slice(&(dns.len() as u16).to_be_bytes());
    } else {
        // A first fragment's UDP length covers the whole datagram, more than this fragment holds.
        let extra = if first_fragment { 100 } else { 0 };
        seg.extend_from_slice(&((8 + dns.len() + extra) as u16).to_be_bytes());
        seg.extend_from_slice(&[0, 0]);
    }
    let offset = seg.len();
    seg.extend_from_slice(dns);
    (seg, offset)
}

/// An Ethernet frame carrying `dns` to port 53 from [`SOURCE_V4`] or [`SOURCE_V6`]; returns it
/// and the DNS message's offset.
pub fn frame(encapsulation: Encapsulation, dns: &[u8]) -> (Vec<u8>, usize) {
    let source = if encapsulation.is_ipv6() {
        IpAddr::V6(SOURCE_V6)
    } else {
        IpAddr::V4(SOURCE_V4)
    };
    frame_from(encapsulation, dns, source)
}

/// Like [`frame`], from `source`.
///
/// # Panics
/// If `source` is not of the encapsulation's IP version.
pub fn frame_from(encapsulation: Encapsulation, dns: &[u8], source: IpAddr) -> (Vec<u8>, usize) {
    use Encapsulation::*;
    assert_eq!(
        source.is_ipv6(),
        encapsulation.is_ipv6(),
        "{source} cannot be the source of an {encapsulation:?} frame"
    );
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    let tags: &[u16] = match encapsulation {
        Vlan => &[0x8100],
        QinQ => &[0x88a8, 0x8100],
        _ => &[],
    };
    for tag in tags {
        f.extend_from_slice(&tag.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x2a]);
    }
    let tcp = matches!(encapsulation, Tcp | Tcp6);
    let protocol = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
    let (seg, dns_in_seg) = segment(tcp, encapsulation == Ipv4FirstFragment, dns);
    match encapsulation {
        Ipv6 | Ipv6Extensions | Tcp6 => {
            let extensions: &[u8] = if encapsulation == Ipv6Extensions {
                &[
                    60,
                    0,
                    1,
                    4,
                    0,
                    0,
                    0,
                    0, // hop-by-hop, PadN → destination options
                    43,
                    0,
                    1,
                    4,
                    0,
                    0,
                    0,
                    0, // destination options, PadN → routing
                    44,
                    0,
                    253,
                    0,
                    0,
                    0,
                    0,
                    0, // routing type 253, segments left 0 → fragment
                    IPPROTO_UDP,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    1, // atomic fragment: offset 0, no more
                ]
            } else {
                &[]
            };
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&((extensions.len() + seg.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[if extensions.is_empty() { protocol } else { 0 }, 64]);
            let IpAddr::V6(source) = source else {
                unreachable!("checked above")
            };
            f.extend_from_slice(&source.octets());
            f.extend_from_slice(&DESTINATION_V6.octets());
            f.extend_from_slice(extensions);
        }
        _ => {
            let options: &[u8] = match encapsulation {
                Ipv4Options => &[0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00], // RA, NOPs, EOL
                _ => &[],
            };
            let header_len = 20 + options.len();
            let more_fragments: u8 = if encapsulation == Ipv4FirstFragment {
                0x20
            } else {
                0
            };
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            f.extend_from_slice(&[0x40 | (header_len / 4) as u8, 0]);
            f.extend_from_slice(&((header_len + seg.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 1, more_fragments, 0, 64, protocol, 0, 0]);
            let IpAddr::V4(source) = source else {
                unreachable!("checked above")
            };
            f.extend_from_slice(&source.octets());
            f.extend_from_slice(&DESTINATION_V4.octets());
            f.extend_from_slice(options);
        }
    }
    let offset = f.len() + dns_in_seg;
    f.extend_from_slice(&seg);
    (f, offset)
}

fn random_label(rng: &mut StdRng) -> Vec<u8> {
    const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let longest = if rng.random_ratio(1, 20) { 63 } else { 12 };
    let len = rng.random_range(1..=longest);
    (0..len)
        .map(|_| {
            if rng.random_ratio(1, 30) {
                rng.random()
            } else {
                *PLAIN.choose(rng).unwrap()
            }
        })
        .collect()
}

fn random_name(rng: &mut StdRng) -> Name {
    loop {
        let labels: Vec<Vec<u8>> = (0..rng.random_range(0..=6))
            .map(|_| random_label(rng))
            .collect();
        if let Ok(mut name) = Name::from_labels(labels) {
            name.set_fqdn(true);
            if name.len() <= 255 {
                return name;
            }
        }
    }
}

/// A random query: names of 0–6 labels, mostly letters (mixed case), digits, '-' and '_', now and
/// then any byte; a few qtypes; EDNS or not.
pub fn random_query(rng: &mut StdRng) -> Vec<u8> {
    let mut message = Message::new(rng.random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = rng.random();
    let qtype = *[
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::Unknown(65280),
    ]
    .choose(rng)
    .unwrap();
    message.add_query(Query::query(random_name(rng), qtype));
    if rng.random() {
        message.edns = Some(Default::default());
    }
    message.to_vec().expect("encode query")
}

/// An IPv4 UDP frame with one query for `name` (dotted, ASCII) of type `qtype`.
pub fn query_frame(name: &str, qtype: u16) -> Vec<u8> {
    query_frame_from(name, qtype, IpAddr::V4(SOURCE_V4))
}

/// A UDP frame with one query for `name` of type `qtype` from `source`, over IPv4 or IPv6 as
/// `source` is.
pub fn query_frame_from(name: &str, qtype: u16, source: IpAddr) -> Vec<u8> {
    let mut message = Message::new(0x5353, MessageType::Query, OpCode::Query);
    let name = Name::from_ascii(name).expect("a valid test name");
    message.add_query(Query::query(name, RecordType::from(qtype)));
    let encapsulation = if source.is_ipv6() {
        Encapsulation::Ipv6
    } else {
        Encapsulation::Ipv4
    };
    frame_from(
        encapsulation,
        &message.to_vec().expect("encode query"),
        source,
    )
    .0
}

/// Damages a frame in its DNS payload (from `payload`): a few random bytes or compression
/// pointers, or a cut anywhere in the frame.
pub fn mutate(rng: &mut StdRng, frame: &mut Vec<u8>, payload: usize) {
    if rng.random() && payload < frame.len() {
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(payload..frame.len());
            frame[at] = if rng.random() { rng.random() } else { 0xc0 };
        }
    } else {
        let cut = rng.random_range(0..frame.len());
        frame.truncate(cut);
    }
}

/// A generated frame and where its DNS message was put.
pub struct Generated {
    pub frame: Vec<u8>,
    /// Offset of the DNS message in the frame.
    pub dns: usize,
    /// Length of the DNS message as built (the frame may have been cut since).
    pub dns_len: usize,
    /// Whether the frame was mutated or truncated after it was built.
    pub damaged: bool,
}

/// `count` frames from `seed`: the first half valid queries cycling through every encapsulation,
/// the second half mutated or truncated ones. The host and kernel tests use the same seed, so
/// they judge the same frames.
pub fn generated(count: usize, seed: u64) -> Vec<Generated> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let message = random_query(&mut rng);
            let (mut frame, dns) = frame(ENCAPSULATIONS[i % ENCAPSULATIONS.len()], &message);
            let damaged = i >= count / 2;
            if damaged {
                mutate(&mut rng, &mut frame, dns);
            }
            Generated {
                frame,
                dns,
                dns_len: message.len(),
                damaged,
            }
        })
        .collect()
}

/// The seed and size of the generated set the differential tests share.
pub const DIFFERENTIAL_SEED: u64 = 7;
pub const DIFFERENTIAL_FRAMES: usize = 100_000;

/// A question as a test compares it: the name in wire form, folded to lower case, and the QTYPE.
pub type WireQuestion = (Vec<u8>, u16);

/// The SipHash key [`walk_question`] walks with (the hash plays no part in what it returns).
const WALK_KEY: [u64; 2] = [0x1234_5678, 0x9abc_def0];

/// The question of the DNS message `dns` as hickory-proto reads it, if the header makes it a
/// countable query (QR clear, opcode QUERY, QDCOUNT 1).
pub fn hickory_question(dns: &[u8]) -> Option<WireQuestion> {
    if dns.len() < 12 || dns[2] & 0x80 != 0 || (dns[2] >> 3) & 0x0f != 0 || dns[4..6] != [0, 1] {
        return None;
    }
    let mut decoder = BinDecoder::new(&dns[12..]);
    let query = Query::read(&mut decoder).ok()?;
    let name = query.name().to_lowercase().to_bytes().ok()?;
    Some((name, u16::from(query.query_type())))
}

/// The question the shared walk counts in `frame` (DNS on port 53), or why it counts none.
pub fn walk_question(frame: &[u8]) -> Result<WireQuestion, Reason> {
    let mut words = [0u64; NAME_WORDS];
    let query = parse_query(frame, |port| port == 53, WALK_KEY, &mut words)?;
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .take(query.name_len)
        .collect();
    Ok((bytes, query.qtype))
}
