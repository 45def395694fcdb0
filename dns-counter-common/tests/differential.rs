//! The shared walk against hickory-proto on generated queries: wherever hickory reads a query's
//! question, the walk counts the same name (folded to lower case) and qtype; where the walk does
//! not count, it names a reason.

use dns_counter_common::{
    Reason,
    maps::NAME_WORDS,
    walk::parse_query,
};
use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
    serialize::binary::{BinDecodable as _, BinDecoder, BinEncodable as _},
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom as _};

const KEY: [u64; 2] = [0x1234_5678, 0x9abc_def0];

#[derive(Clone, Copy, Debug)]
enum Encapsulation {
    Ipv4,
    Ipv4Options,
    Vlan,
    QinQ,
    Ipv6,
    Ipv6HopByHop,
}

const ENCAPSULATIONS: [Encapsulation; 6] = [
    Encapsulation::Ipv4,
    Encapsulation::Ipv4Options,
    Encapsulation::Vlan,
    Encapsulation::QinQ,
    Encapsulation::Ipv6,
    Encapsulation::Ipv6HopByHop,
];

/// An Ethernet frame carrying `dns` in UDP to port 53; returns it and the DNS payload's offset.
fn frame(encapsulation: Encapsulation, dns: &[u8]) -> (Vec<u8>, usize) {
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

fn random_query(rng: &mut StdRng) -> Vec<u8> {
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

/// The question as hickory reads it (name folded to lower case, in wire form), if the header
/// makes it a countable query.
fn hickory_question(dns: &[u8]) -> Option<(Vec<u8>, u16)> {
    if dns.len() < 12 || dns[2] & 0x80 != 0 || (dns[2] >> 3) & 0x0f != 0 || dns[4..6] != [0, 1] {
        return None;
    }
    let mut decoder = BinDecoder::new(&dns[12..]);
    let query = Query::read(&mut decoder).ok()?;
    let name = query.name().to_lowercase().to_bytes().ok()?;
    Some((name, u16::from(query.query_type())))
}

fn ours(frame: &[u8]) -> Result<(Vec<u8>, u16), Reason> {
    let mut words = [0u64; NAME_WORDS];
    let query = parse_query(frame, |port| port == 53, KEY, &mut words)?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).take(query.name_len).collect();
    Ok((bytes, query.qtype))
}

#[test]
fn generated_queries_match_hickory_over_every_encapsulation() {
    let mut rng = StdRng::seed_from_u64(53);
    for i in 0..20_000 {
        let dns = random_query(&mut rng);
        let encapsulation = ENCAPSULATIONS[i % ENCAPSULATIONS.len()];
        let (f, _) = frame(encapsulation, &dns);
        let expected = Message::from_vec(&dns).expect("hickory reads what it wrote");
        let query = &expected.queries[0];
        let want = (query.name().to_lowercase().to_bytes().unwrap(), u16::from(query.query_type()));
        assert_eq!(ours(&f), Ok(want), "{encapsulation:?} {}", query.name());
    }
}

#[test]
fn mutated_and_truncated_queries_agree_with_hickory_or_give_a_reason() {
    let mut rng = StdRng::seed_from_u64(0x20);
    let mut counted = 0;
    let mut reasons = std::collections::HashMap::new();
    for i in 0..40_000 {
        let dns = random_query(&mut rng);
        let (mut f, offset) = frame(ENCAPSULATIONS[i % ENCAPSULATIONS.len()], &dns);
        if rng.random() {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(offset..f.len());
                f[at] = if rng.random() { rng.random() } else { 0xc0 };
            }
        } else {
            f.truncate(rng.random_range(0..f.len()));
        }
        // Truncation may cut the UDP payload; hickory sees what remains of it.
        let dns_seen = f.get(offset..).unwrap_or_default();
        match ours(&f) {
            Ok(question) => {
                counted += 1;
                assert_eq!(Some(question), hickory_question(dns_seen), "frame {f:02x?}");
            }
            Err(reason) => {
                *reasons.entry(reason).or_insert(0) += 1;
                if f.len() > offset && f.len() == offset + dns.len() {
                    // Same length as sent: hickory must not find a countable question where
                    // we gave up on the name.
                    if matches!(reason, Reason::LabelTooLong | Reason::NameTooLong | Reason::CompressionPointer) {
                        let hickory = hickory_question(dns_seen);
                        assert!(
                            reason == Reason::CompressionPointer || hickory.is_none(),
                            "{reason:?} but hickory read {hickory:?}"
                        );
                    }
                }
            }
        }
    }
    assert!(counted > 1_000, "mutations left too few countable queries: {counted}");
    for reason in [Reason::TruncatedQuestion, Reason::TruncatedFrame, Reason::Response, Reason::QdcountNotOne] {
        assert!(reasons.contains_key(&reason), "no mutation produced {reason:?}: {reasons:?}");
    }
}

#[test]
fn non_dns_and_other_ports_are_not_counted() {
    let dns = random_query(&mut StdRng::seed_from_u64(1));
    let (mut f, _) = frame(Encapsulation::Ipv4, &dns);
    let port_offset = 14 + 20 + 2;
    f[port_offset..port_offset + 2].copy_from_slice(&5353u16.to_be_bytes());
    assert_eq!(ours(&f), Err(Reason::OtherPort));
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(ours(&f), Err(Reason::NotIp));
    let (mut f, _) = frame(Encapsulation::Ipv4, &dns);
    f[14 + 9] = 6;
    assert_eq!(ours(&f), Err(Reason::OtherProtocol));
    let (mut f, _) = frame(Encapsulation::Ipv4, &dns);
    f[14 + 6..14 + 8].copy_from_slice(&0x0010u16.to_be_bytes());
    assert_eq!(ours(&f), Err(Reason::IpFragment), "non-first fragment");
}
