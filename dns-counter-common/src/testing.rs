//! Generated DNS query frames for tests (feature `testing`): valid queries over every
//! encapsulation the walk follows, and mutations and truncations of them.

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};
use rand::{Rng, SeedableRng as _, rngs::StdRng, seq::IndexedRandom as _};

/// How a generated query is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encapsulation {
    Ipv4,
    Ipv4Options,
    Vlan,
    QinQ,
    Ipv6,
    Ipv6HopByHop,
}

/// Every encapsulation the walk follows.
pub const ENCAPSULATIONS: [Encapsulation; 6] = [
    Encapsulation::Ipv4,
    Encapsulation::Ipv4Options,
    Encapsulation::Vlan,
    Encapsulation::QinQ,
    Encapsulation::Ipv6,
    Encapsulation::Ipv6HopByHop,
];

/// An Ethernet frame carrying `dns` in UDP to port 53; returns it and the DNS payload's offset.
pub fn frame(encapsulation: Encapsulation, dns: &[u8]) -> (Vec<u8>, usize) {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    let tags: &[u16] = match encapsulation {
        Encapsulation::Vlan => &[0x8100],
        Encapsulation::QinQ => &[0x88a8, 0x8100],
        _ => &[],
    };
    for tag in tags {
        f.extend_from_slice(&tag.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x2a]);
    }
    let udp_len = (8 + dns.len()) as u16;
    let mut udp = vec![0xc3, 0x50, 0, 53];
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    match encapsulation {
        Encapsulation::Ipv6 | Encapsulation::Ipv6HopByHop => {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let hop_by_hop = matches!(encapsulation, Encapsulation::Ipv6HopByHop);
            let ext_len = if hop_by_hop { 8 } else { 0 };
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(udp_len + ext_len).to_be_bytes());
            f.extend_from_slice(&[if hop_by_hop { 0 } else { 17 }, 64]);
            f.extend_from_slice(&[0xfd, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            f.extend_from_slice(&[0xfd, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            if hop_by_hop {
                f.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // PadN option
            }
        }
        _ => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let options: &[u8] = match encapsulation {
                Encapsulation::Ipv4Options => &[0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00], // RA + NOPs + EOL
                _ => &[],
            };
            let ihl = (20 + options.len()) / 4;
            let total = (20 + options.len()) as u16 + udp_len;
            f.push(0x40 | ihl as u8);
            f.push(0);
            f.extend_from_slice(&total.to_be_bytes());
            f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 169, 254, 53, 2, 169, 254, 53, 1]);
            f.extend_from_slice(options);
        }
    }
    f.extend_from_slice(&udp);
    let offset = f.len();
    f.extend_from_slice(dns);
    (f, offset)
}

fn random_label(rng: &mut StdRng) -> Vec<u8> {
    const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let longest = if rng.random_ratio(1, 20) { 63 } else { 12 };
    let len = rng.random_range(1..=longest);
    (0..len)
        .map(|_| if rng.random_ratio(1, 30) { rng.random() } else { *PLAIN.choose(rng).unwrap() })
        .collect()
}

fn random_name(rng: &mut StdRng) -> Name {
    loop {
        let labels: Vec<Vec<u8>> = (0..rng.random_range(0..=6)).map(|_| random_label(rng)).collect();
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
    let qtype = *[RecordType::A, RecordType::AAAA, RecordType::MX, RecordType::TXT, RecordType::Unknown(65280)]
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
    let mut message = Message::new(0x5353, MessageType::Query, OpCode::Query);
    let name = Name::from_ascii(name).expect("a valid test name");
    message.add_query(Query::query(name, RecordType::from(qtype)));
    frame(Encapsulation::Ipv4, &message.to_vec().expect("encode query")).0
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

/// `count` frames from `seed`: the first half valid queries cycling through every encapsulation,
/// the second half mutated or truncated ones.
pub fn generated(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let dns = random_query(&mut rng);
            let (mut f, payload) = frame(ENCAPSULATIONS[i % ENCAPSULATIONS.len()], &dns);
            if i >= count / 2 {
                mutate(&mut rng, &mut f, payload);
            }
            f
        })
        .collect()
}
