//! The walk's source address (`Question::source`, `read_source`) over every encapsulation, and
//! the clients map key made from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dns_counter_common::{
    Reason,
    maps::{CLIENT_FAMILY_V4, CLIENT_FAMILY_V6, Config, client_mask},
    testing::{
        DIFFERENTIAL_FRAMES, DIFFERENTIAL_SEED, ENCAPSULATIONS, Encapsulation, SOURCE_V4,
        SOURCE_V6, frame_from, generated, random_query,
    },
    walk::{IpVersion, Source, locate_question, read_source},
};
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

fn source_of(frame: &[u8]) -> Result<Source, Reason> {
    let question = locate_question(frame, |port| port == 53)?;
    read_source(frame, question.source)
}

fn expected(addr: IpAddr) -> Source {
    let mut bytes = [0u8; 16];
    match addr {
        IpAddr::V4(v4) => {
            bytes[..4].copy_from_slice(&v4.octets());
            Source {
                version: IpVersion::V4,
                addr: bytes,
            }
        }
        IpAddr::V6(v6) => Source {
            version: IpVersion::V6,
            addr: v6.octets(),
        },
    }
}

/// Random addresses of each family, with the edges: all zeros, all ones.
fn addresses(rng: &mut StdRng, ipv6: bool) -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = if ipv6 {
        vec![
            Ipv6Addr::UNSPECIFIED.into(),
            Ipv6Addr::from(u128::MAX).into(),
            SOURCE_V6.into(),
        ]
    } else {
        vec![
            Ipv4Addr::UNSPECIFIED.into(),
            Ipv4Addr::BROADCAST.into(),
            SOURCE_V4.into(),
        ]
    };
    for _ in 0..50 {
        addrs.push(if ipv6 {
            IpAddr::V6(rng.random::<u128>().into())
        } else {
            IpAddr::V4(rng.random::<u32>().into())
        });
    }
    addrs
}

#[test]
fn every_encapsulation_yields_its_source_address() {
    let mut rng = StdRng::seed_from_u64(53);
    for encapsulation in ENCAPSULATIONS {
        for addr in addresses(&mut rng, encapsulation.is_ipv6()) {
            let dns = random_query(&mut rng);
            let (frame, _) = frame_from(encapsulation, &dns, addr);
            assert_eq!(
                source_of(&frame),
                Ok(expected(addr)),
                "{encapsulation:?} from {addr}"
            );
        }
    }
}

/// The frames the differential tests judge: wherever the walk finds a question, the source is
/// there to read, and it is the address the frame was built with (damage never reaches the IP
/// header while the question is still found).
#[test]
fn a_found_question_always_has_its_source() {
    let mut found = 0;
    for (i, g) in generated(DIFFERENTIAL_FRAMES, DIFFERENTIAL_SEED)
        .iter()
        .enumerate()
    {
        let Ok(question) = locate_question(g.frame.as_slice(), |port| port == 53) else {
            continue;
        };
        found += 1;
        let encapsulation = ENCAPSULATIONS[i % ENCAPSULATIONS.len()];
        let addr = if encapsulation.is_ipv6() {
            IpAddr::V6(SOURCE_V6)
        } else {
            IpAddr::V4(SOURCE_V4)
        };
        assert_eq!(
            read_source(g.frame.as_slice(), question.source),
            Ok(expected(addr)),
            "frame {i}"
        );
    }
    assert!(
        found > DIFFERENTIAL_FRAMES / 2,
        "only {found} questions found"
    );
}

#[test]
fn the_source_lies_where_the_ip_header_puts_it() {
    let dns = random_query(&mut StdRng::seed_from_u64(1));
    let v4 = Ipv4Addr::new(192, 0, 2, 33);
    let (frame, _) = frame_from(Encapsulation::QinQ, &dns, v4.into());
    let question = locate_question(frame.as_slice(), |port| port == 53).expect("a question");
    // Ethernet, two tags, then the IPv4 header with its source 12 bytes in.
    assert_eq!(
        (question.source.version, question.source.offset),
        (IpVersion::V4, 14 + 8 + 12)
    );
    let v6: Ipv6Addr = "2001:db8::5".parse().expect("an address");
    let (frame, _) = frame_from(Encapsulation::Ipv6Extensions, &dns, v6.into());
    let question = locate_question(frame.as_slice(), |port| port == 53).expect("a question");
    assert_eq!(
        (question.source.version, question.source.offset),
        (IpVersion::V6, 14 + 8)
    );
    // Read on its own from a frame cut inside the address, it says so.
    assert_eq!(
        read_source(&frame[..14 + 8 + 15], question.source),
        Err(Reason::TruncatedFrame)
    );
    assert_eq!(
        read_source(&frame[..14 + 8 + 16], question.source),
        Ok(expected(v6.into()))
    );
}

/// The key the kernel counts a query under, from the walk's source, against std's arithmetic.
#[test]
fn client_keys_are_the_masked_source_over_every_encapsulation() {
    let mut rng = StdRng::seed_from_u64(56);
    for (v4_len, v6_len) in [(24, 56), (32, 128), (28, 120), (1, 1), (8, 64), (31, 127)] {
        let config = Config {
            count_clients: 1,
            client_mask_v4: client_mask(CLIENT_FAMILY_V4, v4_len),
            client_mask_v6: client_mask(CLIENT_FAMILY_V6, v6_len),
            ..Config::default()
        };
        for encapsulation in ENCAPSULATIONS {
            for addr in addresses(&mut rng, encapsulation.is_ipv6()) {
                let (frame, _) = frame_from(encapsulation, &random_query(&mut rng), addr);
                let key = config.client_key(&source_of(&frame).expect("a source"));
                let want: IpAddr = match addr {
                    IpAddr::V4(v4) => {
                        Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - v4_len))).into()
                    }
                    IpAddr::V6(v6) => {
                        Ipv6Addr::from(u128::from(v6) & (u128::MAX << (128 - v6_len))).into()
                    }
                };
                assert_eq!(
                    key.ip(),
                    Some(want),
                    "{addr} /{v4_len} /{v6_len} {encapsulation:?}"
                );
                assert_eq!(key._pad, 0);
            }
        }
    }
}
