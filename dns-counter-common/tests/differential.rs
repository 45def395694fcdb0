//! The shared walk against hickory-proto on generated queries: wherever hickory reads a query's
//! question, the walk counts the same name (folded to lower case) and qtype; where the walk does
//! not count, it names a reason.

use dns_counter_common::{
    Reason,
    testing::{
        DIFFERENTIAL_FRAMES, DIFFERENTIAL_SEED, Encapsulation, frame, generated, hickory_question,
        random_query, walk_question,
    },
};
use hickory_proto::{op::Message, serialize::binary::BinEncodable as _};
use rand::{SeedableRng, rngs::StdRng};

/// The frames the kernel test runs too: where hickory reads a whole query, we count its
/// question; where we count, hickory reads the same question; where we do not, we say why.
#[test]
fn generated_frames_agree_with_hickory_or_give_a_reason() {
    let mut counted = 0;
    let mut reasons = std::collections::HashMap::new();
    for (i, g) in generated(DIFFERENTIAL_FRAMES, DIFFERENTIAL_SEED)
        .iter()
        .enumerate()
    {
        let f = &g.frame;
        // Truncation may cut the DNS message; hickory sees what remains of it.
        let dns_seen = f.get(g.dns..).unwrap_or_default();
        let ours = walk_question(f);
        if !g.damaged {
            let expected = Message::from_vec(dns_seen).expect("hickory reads what it wrote");
            let query = &expected.queries[0];
            let want = (
                query.name().to_lowercase().to_bytes().expect("wire name"),
                u16::from(query.query_type()),
            );
            assert_eq!(ours, Ok(want), "frame {i}: {}", query.name());
        }
        match ours {
            Ok(question) => {
                counted += 1;
                assert_eq!(
                    Some(question),
                    hickory_question(dns_seen),
                    "frame {i}: {f:02x?}"
                );
            }
            Err(reason) => {
                *reasons.entry(reason).or_insert(0) += 1;
                // Uncut: hickory must not find a countable question where we gave up on the name.
                if f.len() == g.dns + g.dns_len
                    && matches!(reason, Reason::LabelTooLong | Reason::NameTooLong)
                {
                    let hickory = hickory_question(dns_seen);
                    assert!(
                        hickory.is_none(),
                        "frame {i}: {reason:?} but hickory read {hickory:?}"
                    );
                }
            }
        }
    }
    assert!(
        counted > DIFFERENTIAL_FRAMES / 2,
        "too few countable frames: {counted}"
    );
    for reason in [
        Reason::TruncatedQuestion,
        Reason::TruncatedFrame,
        Reason::Response,
        Reason::QdcountNotOne,
    ] {
        assert!(
            reasons.contains_key(&reason),
            "no mutation produced {reason:?}: {reasons:?}"
        );
    }
}

#[test]
fn non_dns_and_other_ports_are_not_counted() {
    let dns = random_query(&mut StdRng::seed_from_u64(1));
    let (mut f, _) = frame(Encapsulation::Ipv4, &dns);
    let port_offset = 14 + 20 + 2;
    f[port_offset..port_offset + 2].copy_from_slice(&5353u16.to_be_bytes());
    assert_eq!(walk_question(&f), Err(Reason::OtherPort));
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(walk_question(&f), Err(Reason::NotIp));
    let (mut f, _) = frame(Encapsulation::Ipv4, &dns);
    f[14 + 9] = 1; // ICMP
    assert_eq!(walk_question(&f), Err(Reason::OtherProtocol));
    let (mut f, _) = frame(Encapsulation::Ipv4, &dns);
    f[14 + 6..14 + 8].copy_from_slice(&0x0010u16.to_be_bytes());
    assert_eq!(
        walk_question(&f),
        Err(Reason::IpFragment),
        "non-first fragment"
    );
}

#[test]
fn tcp_segments_without_a_query_give_their_reason() {
    let dns = random_query(&mut StdRng::seed_from_u64(2));
    let (f, offset) = frame(Encapsulation::Tcp, &dns);
    // The same segment with the DNS message (and its length prefix) cut off: a bare ACK.
    let mut ack = f[..offset - 2].to_vec();
    let ip_total = (ack.len() - 14) as u16;
    ack[16..18].copy_from_slice(&ip_total.to_be_bytes());
    assert_eq!(walk_question(&ack), Err(Reason::TcpNoPayload));
    let mut bad_offset = f.clone();
    bad_offset[14 + 20 + 12] = 0x40; // data offset 16 bytes
    assert_eq!(walk_question(&bad_offset), Err(Reason::BadTcpHeader));
    let mut other_port = f;
    other_port[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&853u16.to_be_bytes());
    assert_eq!(walk_question(&other_port), Err(Reason::OtherPort));
}

#[test]
fn ipv6_fragments_and_long_extension_chains_give_their_reason() {
    let dns = random_query(&mut StdRng::seed_from_u64(3));
    let (f, _) = frame(Encapsulation::Ipv6Extensions, &dns);
    // The fragment header is the fourth extension header: 14 + 40 + 24 bytes in.
    let mut later_fragment = f.clone();
    later_fragment[14 + 40 + 24 + 2..14 + 40 + 24 + 4].copy_from_slice(&0x0008u16.to_be_bytes());
    assert_eq!(walk_question(&later_fragment), Err(Reason::IpFragment));
    // Seven destination-options headers, one more than the walk follows.
    let (plain, _) = frame(Encapsulation::Ipv6, &dns);
    let mut long_chain = plain[..14 + 40].to_vec();
    long_chain[14 + 6] = 60;
    for i in 0..7 {
        let next = if i == 6 { 17 } else { 60 };
        long_chain.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    long_chain.extend_from_slice(&plain[14 + 40..]);
    let payload_len = (long_chain.len() - 14 - 40) as u16;
    long_chain[14 + 4..14 + 6].copy_from_slice(&payload_len.to_be_bytes());
    assert_eq!(
        walk_question(&long_chain),
        Err(Reason::TooManyExtensionHeaders)
    );
}
