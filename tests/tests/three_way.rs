//! Every packet of tcpdump's DNS corpus through three readers: the shared walk on the host, the
//! compiled XDP program in the kernel (BPF_PROG_TEST_RUN), and hickory-proto. Where hickory reads
//! a query, both of ours count the same name and qtype; the kernel and the host agree on every
//! packet, reason included; every verdict is XDP_PASS.

use std::{path::PathBuf, time::SystemTime};

use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use dns_counter::{
    capture::read_capture,
    kernel::{drain::Drainer, loader},
};
use dns_counter_common::{
    Reason,
    maps::{NAME_WORDS, PROGRAM_NAME},
    walk::parse_query,
};
use dns_counter_tests::{require_corpus, require_root};
use etherparse::{SlicedPacket, TransportSlice};
use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    serialize::binary::{BinDecodable as _, BinDecoder, BinEncodable as _},
};

/// Both DNS ports of the corpus, so its port-8053 captures are read too.
const PORTS: [u16; 2] = [53, 8053];
const XDP_PASS: u32 = 2;
/// Smallest frame BPF_PROG_TEST_RUN takes for XDP.
const ETH_HEADER_LEN: usize = 14;

type Verdict = Result<(Vec<u8>, u16), String>;

fn captures(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut captures: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcap"))
        .collect();
    captures.sort();
    assert!(
        captures.len() >= 14,
        "corpus incomplete in {}",
        dir.display()
    );
    captures
}

fn host(frame: &[u8]) -> Verdict {
    let mut words = [0u64; NAME_WORDS];
    let query = parse_query(frame, |port| PORTS.contains(&port), [3, 4], &mut words)
        .map_err(|reason| reason.name().to_string())?;
    let name = words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .take(query.name_len)
        .collect();
    Ok((name, query.qtype))
}

fn kernel(program: &Xdp, drainer: &mut Drainer, frame: &[u8]) -> Verdict {
    let result = program
        .test_run(TestRunOptions {
            data_in: Some(frame),
            repeat: 1,
            ..Default::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    assert_eq!(result.return_value, XDP_PASS);
    let now = SystemTime::now();
    let interval = drainer.flip_and_drain(now, now).expect("drain");
    assert_eq!(interval.packets, 1);
    match (interval.names.as_slice(), interval.qtypes.as_slice()) {
        ([(name, 1)], [(qtype, 1)]) => Ok((name.clone(), *qtype)),
        ([], []) => {
            let reasons: Vec<String> = interval
                .uncounted
                .iter()
                .filter(|(_, count)| *count == 1)
                .map(|(reason, _)| reason.name().to_owned())
                .collect();
            assert_eq!(
                reasons.len(),
                1,
                "one reason for an uncounted packet: {:?}",
                interval.uncounted
            );
            Err(reasons[0].clone())
        }
        other => panic!("one packet, one outcome: {other:?}"),
    }
}

/// The DNS message of a frame to a counted port, found by etherparse (not by our walk).
fn dns_payload(frame: &[u8]) -> Option<&[u8]> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    match sliced.transport? {
        TransportSlice::Udp(udp) if PORTS.contains(&udp.destination_port()) => Some(udp.payload()),
        TransportSlice::Tcp(tcp) if PORTS.contains(&tcp.destination_port()) => {
            tcp.payload().get(2..)
        }
        _ => None,
    }
}

/// The question as hickory reads it, name folded to lower case in wire form.
fn question(query: &Query) -> (Vec<u8>, u16) {
    (
        query
            .name()
            .to_lowercase()
            .to_bytes()
            .expect("name to wire"),
        u16::from(query.query_type()),
    )
}

#[test]
fn host_walk_kernel_program_and_hickory_agree_on_every_corpus_packet() {
    let Some(()) = require_root() else { return };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let mut loaded = loader::load(1_000).expect("load");
    loaded.count_ports(&PORTS).expect("ports");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let program: &Xdp = loaded
        .ebpf
        .program(PROGRAM_NAME)
        .expect("program")
        .try_into()
        .expect("XDP");
    let (mut seen, mut counted, mut hickory_queries) = (0, 0, 0);
    for capture in captures(&corpus) {
        // Captures that are not Ethernet (PPP, BSD loopback) never reach an XDP program.
        let Ok(packets) = read_capture(&capture) else {
            continue;
        };
        for (index, packet) in packets.iter().enumerate() {
            let frame = packet.frame.as_slice();
            let at = format!("{} packet {}", capture.display(), index + 1);
            let ours = host(frame);
            if frame.len() >= ETH_HEADER_LEN {
                assert_eq!(
                    kernel(program, &mut drainer, frame),
                    ours,
                    "kernel vs host at {at}"
                );
            }
            seen += 1;
            counted += u32::from(ours.is_ok());
            let Some(dns) = dns_payload(frame) else {
                assert!(
                    ours.is_err(),
                    "counted a packet etherparse finds no DNS port in, at {at}"
                );
                continue;
            };
            // Wherever hickory reads a whole query message, ours count its question.
            if let Ok(message) = Message::from_vec(dns) {
                let header = &message.metadata;
                if header.message_type == MessageType::Query
                    && header.op_code == OpCode::Query
                    && message.queries.len() == 1
                {
                    hickory_queries += 1;
                    assert_eq!(
                        ours,
                        Ok(question(&message.queries[0])),
                        "hickory reads a query at {at}"
                    );
                }
            }
            // Wherever ours count, hickory reads the same question after the header.
            if let Ok((name, qtype)) = &ours {
                let read = Query::read(&mut BinDecoder::new(dns.get(12..).unwrap_or_default()));
                let read = read.unwrap_or_else(|err| {
                    panic!("we count, hickory cannot read the question ({err}) at {at}")
                });
                assert_eq!((name.clone(), *qtype), question(&read), "at {at}");
            } else if let Err(reason) = &ours {
                assert!(
                    Reason::ALL.iter().any(|r| r.name() == reason),
                    "unknown reason {reason} at {at}"
                );
            }
        }
    }
    eprintln!(
        "{seen} corpus packets, {counted} counted, {hickory_queries} read by hickory as queries"
    );
    assert!(
        seen >= 80 && counted >= 10 && hickory_queries >= 10,
        "{seen} packets, {counted} counted"
    );
}
