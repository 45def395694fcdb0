//! The capture reader against captures written by hand, as the formats lay them out, and
//! tcpdump's DNS captures.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::*;

/// tcpdump's DNS captures (see its README): `tests/corpus/tcpdump-dns` in the workspace, or
/// `DNS_COUNTER_CORPUS`. Missing, a test skips, except under CI.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("DNS_COUNTER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/tcpdump-dns")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the corpus is missing: {}",
        dir.display()
    );
    eprintln!("skipping: no corpus at {}", dir.display());
    None
}

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).expect("a valid time")
}

/// A file in a fresh temporary directory (kept alive by the returned guard).
fn file_with(bytes: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    fs::write(&path, bytes).expect("write");
    (dir, path)
}

/// pcapng written by hand, as the spec (draft-ietf-opsawg-pcapng) lays it out, so the reader
/// is checked against the format rather than against its own library's writer.
struct PcapNg {
    big_endian: bool,
    bytes: Vec<u8>,
}

impl PcapNg {
    fn new() -> Self {
        Self {
            big_endian: false,
            bytes: Vec::new(),
        }
    }

    fn u16(&self, value: u16) -> [u8; 2] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    fn u32(&self, value: u32) -> [u8; 4] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
        let padded = body.len().next_multiple_of(4);
        let len = u32::try_from(12 + padded).expect("small block");
        let mut block = Vec::new();
        block.extend(self.u32(kind));
        block.extend(self.u32(len));
        block.extend(body);
        block.resize(8 + padded, 0);
        block.extend(self.u32(len));
        self.bytes.extend(block);
        self
    }

    fn section(&mut self, big_endian: bool) -> &mut Self {
        self.big_endian = big_endian;
        let mut body = Vec::new();
        body.extend(self.u32(0x1A2B_3C4D));
        body.extend(self.u16(1));
        body.extend(self.u16(0));
        body.extend([0xff; 8]); // section length unknown (-1)
        self.block(0x0A0D_0D0A, &body)
    }

    /// An interface with `if_tsresol` and `if_tsoffset` options when given.
    fn interface(
        &mut self,
        linktype: u16,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u16(linktype));
        body.extend(self.u16(0));
        body.extend(self.u32(262_144));
        if let Some(tsresol) = tsresol {
            body.extend(self.u16(9));
            body.extend(self.u16(1));
            body.extend([tsresol, 0, 0, 0]);
        }
        if let Some(tsoffset) = tsoffset {
            body.extend(self.u16(14));
            body.extend(self.u16(8));
            body.extend(if self.big_endian {
                tsoffset.to_be_bytes()
            } else {
                tsoffset.to_le_bytes()
            });
        }
        body.extend([0; 4]); // opt_endofopt
        self.block(1, &body)
    }

    fn packet(&mut self, interface: u32, units: u64, frame: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u32(interface));
        body.extend(self.u32((units >> 32) as u32));
        body.extend(self.u32(units as u32));
        let len = u32::try_from(frame.len()).expect("small frame");
        body.extend(self.u32(len));
        body.extend(self.u32(len));
        body.extend(frame);
        self.block(6, &body)
    }

    fn simple_packet(&mut self, frame: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u32(u32::try_from(frame.len()).expect("small frame")));
        body.extend(frame);
        self.block(3, &body)
    }
}

#[test]
fn pcap_packets_come_with_their_capture_times_and_captured_bytes() {
    let Some(corpus) = corpus() else { return };
    // tcpdump's decodes (dns_udp_2.out) show the times and that the response was cut to 98 bytes.
    let packets = read_capture(&corpus.join("dns_udp_2.pcap")).expect("reads");
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].timestamp, at("2023-12-26T09:37:33.129402Z"));
    assert_eq!(packets[1].timestamp, at("2023-12-26T09:37:33.259762Z"));
    assert_eq!((packets[0].frame.len(), packets[1].frame.len()), (98, 98));
    assert!(
        packets.iter().all(|p| p.frame[12..14] == [0x08, 0x00]),
        "IPv4 in Ethernet"
    );
    let packets = read_capture(&corpus.join("edns-opts.pcap")).expect("reads");
    assert_eq!(packets.len(), 42);
    assert!(packets.is_sorted_by_key(|p| p.timestamp));
}

/// A pcap file written by hand: big-endian with nanosecond timestamps, the rarer variant.
fn big_endian_nanosecond_pcap(packets: &[CapturedPacket], linktype: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(0xa1b2_3c4d_u32.to_be_bytes());
    bytes.extend(2u16.to_be_bytes());
    bytes.extend(4u16.to_be_bytes());
    bytes.extend([0; 8]); // thiszone, sigfigs
    bytes.extend(262_144u32.to_be_bytes());
    bytes.extend(linktype.to_be_bytes());
    for packet in packets {
        let since_epoch = packet
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970");
        let len = u32::try_from(packet.frame.len()).expect("small frame");
        bytes.extend(
            u32::try_from(since_epoch.as_secs())
                .expect("before 2106")
                .to_be_bytes(),
        );
        bytes.extend(since_epoch.subsec_nanos().to_be_bytes());
        bytes.extend(len.to_be_bytes());
        bytes.extend(len.to_be_bytes());
        bytes.extend(&packet.frame);
    }
    bytes
}

#[test]
fn pcap_reads_in_either_byte_order_and_precision() {
    let Some(corpus) = corpus() else { return };
    let mut packets = read_capture(&corpus.join("dnssec.pcap")).expect("reads");
    packets[1].timestamp += Duration::from_nanos(1); // a time microseconds cannot hold
    let (_dir, path) = file_with(
        &big_endian_nanosecond_pcap(&packets, 1),
        "dnssec-be-ns.pcap",
    );
    assert_eq!(read_capture(&path).expect("reads"), packets);
    let (_dir, path) = file_with(&big_endian_nanosecond_pcap(&packets, 9), "ppp.pcap");
    assert!(
        read_capture(&path)
            .unwrap_err()
            .to_string()
            .contains("link type PPP (9) cannot be replayed")
    );
}

#[test]
fn pcapng_reads_like_the_same_packets_in_pcap() {
    let Some(corpus) = corpus() else { return };
    let from_pcap = read_capture(&corpus.join("dns_tcp.pcap")).expect("reads");
    let mut capture = PcapNg::new();
    capture.section(false).interface(1, Some(9), None);
    for packet in &from_pcap {
        let nanos = packet
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos();
        capture.packet(0, u64::try_from(nanos).expect("fits"), &packet.frame);
    }
    let (_dir, path) = file_with(&capture.bytes, "dns_tcp.pcapng");
    assert_eq!(read_capture(&path).expect("reads"), from_pcap);
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_offsets() {
    let frame = |byte: u8| vec![byte; 60];
    let mut capture = PcapNg::new();
    capture
        .section(false)
        .interface(1, None, None) // microseconds, the default
        .interface(1, Some(0x80 | 10), Some(-3_600)) // 2^-10 s, an hour earlier
        .packet(0, 1_700_000_000_123_456, &frame(1))
        .packet(1, (1_700_003_600 << 10) | 512, &frame(2))
        // A new section, big-endian, numbers its interfaces from 0 again.
        .section(true)
        .interface(1, Some(3), Some(10))
        .packet(0, 1_700_000_000_250, &frame(3));
    let (_dir, path) = file_with(&capture.bytes, "sections.pcapng");
    let packets = read_capture(&path).expect("reads");
    let times: Vec<SystemTime> = packets.iter().map(|p| p.timestamp).collect();
    assert_eq!(
        times,
        [
            at("2023-11-14T22:13:20.123456Z"),
            at("2023-11-14T22:13:20.5Z"),
            at("2023-11-14T22:13:30.25Z")
        ]
    );
    assert_eq!(
        packets.iter().map(|p| p.frame[0]).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn timestamp_resolutions() {
    assert_eq!(units_per_second(6), Some(1_000_000));
    assert_eq!(units_per_second(9), Some(1_000_000_000));
    assert_eq!(units_per_second(19), Some(10_000_000_000_000_000_000));
    assert_eq!(units_per_second(20), None);
    assert_eq!(units_per_second(0x80 | 10), Some(1_024));
    assert_eq!(units_per_second(0x80 | 63), Some(1 << 63));
    assert_eq!(units_per_second(0x80 | 64), None);
}

#[test]
fn a_ppp_capture_is_refused_naming_its_link_type() {
    let Some(corpus) = corpus() else { return };
    let err = read_capture(&corpus.join("ppp_ip_udp_dns.pcap")).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::LinkType {
                linktype: LinkTypeName(50),
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("ppp_ip_udp_dns.pcap"), "{message}");
    assert!(
        message.contains("link type PPP_HDLC (50) cannot be replayed"),
        "{message}"
    );
    assert!(
        message.contains("only Ethernet (EN10MB, 1), LINUX_SLL (113)"),
        "{message}"
    );
}

#[test]
fn a_pcapng_packet_from_an_interface_of_an_unknown_link_type_is_refused() {
    let mut capture = PcapNg::new();
    capture
        .section(false)
        .interface(1, None, None)
        .interface(50, None, None)
        .packet(0, 1, &[0; 60]);
    let (_dir, path) = file_with(&capture.bytes, "any.pcapng");
    assert_eq!(
        read_capture(&path)
            .expect("interface 1 has no packets")
            .len(),
        1
    );
    capture.packet(1, 2, &[0; 60]);
    let (_dir, path) = file_with(&capture.bytes, "any.pcapng");
    let err = read_capture(&path).unwrap_err();
    assert!(
        err.to_string().contains("link type PPP_HDLC (50) cannot"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = read_capture(Path::new("/nonexistent/dns.pcap")).unwrap_err();
    assert!(
        matches!(&err, CaptureError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
    );
    assert_eq!(err.to_string(), "cannot read capture /nonexistent/dns.pcap");
}

#[test]
fn garbage_is_not_a_capture() {
    for garbage in [
        &b""[..],
        b"\xd4\xc3\xb2",
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        &[0u8; 100],
    ] {
        let (_dir, path) = file_with(garbage, "garbage.pcap");
        let err = read_capture(&path).unwrap_err();
        assert!(
            matches!(err, CaptureError::NotACapture { .. }),
            "{garbage:?}: {err:?}"
        );
        assert!(
            err.to_string()
                .ends_with("garbage.pcap is neither a pcap nor a pcapng capture"),
            "{err}"
        );
    }
}

#[test]
fn a_capture_cut_short_says_where() {
    let Some(corpus) = corpus() else { return };
    let whole = fs::read(corpus.join("dns_udp.pcap")).expect("corpus file");
    let (_dir, path) = file_with(&whole[..whole.len() - 5], "cut.pcap");
    let err = read_capture(&path).unwrap_err();
    assert!(
        matches!(err, CaptureError::Truncated { packets: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("cut.pcap is cut short: it ends inside a record at byte"),
        "{err}"
    );
}

#[test]
fn pcapng_oddities_are_named() {
    let mut capture = PcapNg::new();
    capture
        .section(false)
        .interface(1, None, None)
        .packet(3, 1, &[0; 60]);
    let (_dir, path) = file_with(&capture.bytes, "bad.pcapng");
    let err = read_capture(&path).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::Corrupt {
                problem: Corruption::UnknownInterface { interface: 3 },
                ..
            }
        ),
        "{err:?}"
    );

    let mut capture = PcapNg::new();
    capture
        .section(false)
        .interface(1, None, None)
        .packet(0, 1, &[0; 60])
        .simple_packet(&[0; 60]);
    let (_dir, path) = file_with(&capture.bytes, "simple.pcapng");
    let err = read_capture(&path).unwrap_err();
    assert!(
        matches!(err, CaptureError::Unsupported { packet: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("simple packet block"), "{err}");

    let mut capture = PcapNg::new();
    capture
        .section(false)
        .interface(1, Some(20), None)
        .packet(0, 1, &[0; 60]);
    let (_dir, path) = file_with(&capture.bytes, "resolution.pcapng");
    let err = read_capture(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid timestamp resolution 0x14"),
        "{err}"
    );
}

#[test]
fn link_types_are_named_as_tcpdump_names_them() {
    assert_eq!(LinkTypeName(9).to_string(), "PPP (9)");
    assert_eq!(LinkTypeName(0).to_string(), "NULL (0, BSD loopback)");
    assert_eq!(LinkTypeName(147).to_string(), "147");
}

/// Found by the `capture` fuzz target: pcap-parser 0.17 takes a Process Information Block of 4 to
/// 11 bytes for one and then subtracts 12 from its length, which panicked where overflow is
/// checked and told of a capture cut short where it is not.
#[test]
fn a_process_information_block_shorter_than_a_block_is_corrupt() {
    for big_endian in [false, true] {
        let mut capture = PcapNg::new();
        capture.section(big_endian).interface(1, None, None);
        let (kind, len) = (capture.u32(0x8000_0001), capture.u32(8));
        capture.bytes.extend(kind.iter().chain(&len).chain(&len));
        let err = parse_capture(&capture.bytes, Path::new("short.pcapng")).unwrap_err();
        assert!(
            matches!(
                err,
                CaptureError::Corrupt {
                    problem: Corruption::Unparsable { .. },
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

/// The IPv4 packets of a corpus capture, without their Ethernet headers.
fn corpus_ip_packets(corpus: &Path) -> Vec<CapturedPacket> {
    let packets = read_capture(&corpus.join("dns_udp.pcap")).expect("reads");
    assert!(packets.iter().all(|p| p.frame[12..14] == [0x08, 0x00]));
    packets
        .into_iter()
        .map(|packet| CapturedPacket {
            timestamp: packet.timestamp,
            frame: packet.frame[14..].to_vec(),
        })
        .collect()
}

/// `ip` as Ethernet with zero addresses, as the reader puts it.
fn as_ethernet(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut frame = vec![0; 12];
    frame.extend(ethertype.to_be_bytes());
    frame.extend(ip);
    frame
}

/// Defect: `tcpdump -i any` (LINUX_SLL, SLL2), BSD loopback (NULL, LOOP) and raw IP captures
/// were refused.
#[test]
fn other_link_types_are_read_as_ethernet() {
    let Some(corpus) = corpus() else { return };
    let ip_packets = corpus_ip_packets(&corpus);
    type FrameOf = fn(&[u8]) -> Vec<u8>;
    let headers: [(u32, &str, FrameOf); 8] = [
        (113, "sll", |ip| {
            // Packet type 0 (to us), ARPHRD_ETHER, a 6-byte address, EtherType IPv4.
            let mut frame = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            frame.extend([0x08, 0x00]);
            frame.extend(ip);
            frame
        }),
        (276, "sll2", |ip| {
            let mut frame = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6];
            frame.extend([2, 0, 0, 0, 0, 1, 0, 0]);
            frame.extend(ip);
            frame
        }),
        // NULL in a little-endian host's order, and in a big-endian one's.
        (0, "null-le", |ip| [&2u32.to_le_bytes()[..], ip].concat()),
        (0, "null-be", |ip| [&2u32.to_be_bytes()[..], ip].concat()),
        (108, "loop", |ip| [&2u32.to_be_bytes()[..], ip].concat()),
        (101, "raw", <[u8]>::to_vec),
        (228, "ipv4", <[u8]>::to_vec),
        (1, "ethernet", |ip| as_ethernet(0x0800, ip)),
    ];
    for (linktype, name, frame_of) in headers {
        let captured: Vec<CapturedPacket> = ip_packets
            .iter()
            .map(|packet| CapturedPacket {
                timestamp: packet.timestamp,
                frame: frame_of(&packet.frame),
            })
            .collect();
        let (_dir, path) = file_with(
            &big_endian_nanosecond_pcap(&captured, linktype),
            &format!("{name}.pcap"),
        );
        let read = read_capture(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
        let expected: Vec<Vec<u8>> = ip_packets
            .iter()
            .map(|packet| as_ethernet(0x0800, &packet.frame))
            .collect();
        let frames: Vec<Vec<u8>> = read.into_iter().map(|packet| packet.frame).collect();
        assert_eq!(frames, expected, "{name}");
    }
}

#[test]
fn link_headers_that_name_no_ip_or_are_cut_short_are_told_apart() {
    let ipv6 = [0x60u8, 0, 0, 0, 0, 8, 17, 64];
    let frame = |link: Link, bytes: &[u8]| link.ethernet_frame(bytes);
    // An IPv6 address family of each BSD, and raw IPv6 by its version nibble.
    for family in [24u32, 28, 30] {
        assert_eq!(
            frame(Link::Null, &[&family.to_le_bytes()[..], &ipv6].concat()),
            as_ethernet(0x86dd, &ipv6)
        );
        assert_eq!(
            frame(Link::Loop, &[&family.to_be_bytes()[..], &ipv6].concat()),
            as_ethernet(0x86dd, &ipv6)
        );
    }
    assert_eq!(frame(Link::Raw, &ipv6), as_ethernet(0x86dd, &ipv6));
    assert_eq!(frame(Link::Ipv6, &ipv6), as_ethernet(0x86dd, &ipv6));
    // Neither IP version: an EtherType the program counts as not IP.
    assert_eq!(
        frame(Link::Null, &[7, 0, 0, 0, 1, 2]),
        as_ethernet(0, &[1, 2])
    );
    assert_eq!(frame(Link::Raw, &[0x20, 1]), as_ethernet(0, &[0x20, 1]));
    // Shorter than the link's own header: shorter than Ethernet's, a truncated frame.
    for (link, short) in [
        (Link::LinuxSll, &[0u8; 15][..]),
        (Link::LinuxSll2, &[8, 0, 0][..]),
        (Link::Null, &[2, 0][..]),
        (Link::Raw, &[][..]),
    ] {
        let converted = frame(link, short);
        assert!(converted.len() < 14, "{link:?}: {converted:?}");
    }
}

/// A reader that hands out its bytes `step` at a time, as a pipe may.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn a_capture_read_a_few_bytes_at_a_time_reads_alike() {
    let Some(corpus) = corpus() else { return };
    for file in ["dns_tcp.pcap", "edns-opts.pcap"] {
        let bytes = fs::read(corpus.join(file)).expect("corpus file");
        let whole = parse_capture(&bytes, Path::new(file)).expect("reads");
        for step in [1, 7, 4096] {
            let mut reader = CaptureReader::new(
                Trickle {
                    bytes: &bytes,
                    step,
                },
                Path::new(file),
            )
            .expect("a capture");
            let mut packets = Vec::new();
            while let Some(packet) = reader.next_packet().expect("reads") {
                packets.push(packet);
            }
            assert_eq!(packets, whole, "{file} {step} bytes at a time");
            assert_eq!(reader.packets(), whole.len());
        }
    }
}

/// A pcap header and then records of `frame`, without end.
struct EndlessPcap {
    header: Vec<u8>,
    record: Vec<u8>,
    at: usize,
}

impl EndlessPcap {
    fn new(caplen: u32, frame: &[u8]) -> Self {
        let header = big_endian_nanosecond_pcap(&[], 1);
        let mut record = Vec::new();
        record.extend(1u32.to_be_bytes());
        record.extend(0u32.to_be_bytes());
        record.extend(caplen.to_be_bytes());
        record.extend(caplen.to_be_bytes());
        record.extend(frame);
        Self {
            header,
            record,
            at: 0,
        }
    }
}

impl io::Read for EndlessPcap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < buf.len() {
            let byte = if self.at < self.header.len() {
                self.header[self.at]
            } else {
                let at = (self.at - self.header.len()) % self.record.len();
                self.record[at]
            };
            buf[written] = byte;
            written += 1;
            self.at += 1;
        }
        Ok(written)
    }
}

/// Defect: `replay /dev/zero`, or an endless stream, read until memory ran out.
#[test]
fn endless_input_is_read_in_bounded_memory() {
    let zeros = io::repeat(0).take(u64::MAX);
    let err = CaptureReader::new(zeros, Path::new("/dev/zero"))
        .err()
        .expect("zeros are no capture");
    assert!(matches!(err, CaptureError::NotACapture { .. }), "{err:?}");

    // Packet after packet: as many as wanted, the buffer no larger than a read ahead.
    let mut reader =
        CaptureReader::new(EndlessPcap::new(60, &[0xab; 60]), Path::new("endless.pcap"))
            .expect("a capture");
    for _ in 0..100_000 {
        let packet = reader.next_packet().expect("reads").expect("never ends");
        assert_eq!(packet.frame.len(), 60);
    }
    assert!(
        reader.buffer.capacity() <= 2 * READ_CHUNK,
        "{}",
        reader.buffer.capacity()
    );

    // A record that claims more than any snap length, followed by endless bytes: corrupt,
    // once the bound is read, not after memory is gone.
    let mut reader =
        CaptureReader::new(EndlessPcap::new(u32::MAX, &[0; 1]), Path::new("huge.pcap"))
            .expect("a capture");
    let err = reader.next_packet().expect_err("too long");
    assert!(
        matches!(
            err,
            CaptureError::Corrupt {
                problem: Corruption::RecordTooLong | Corruption::Unparsable { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(reader.bytes_read() <= 2 * MAX_RECORD_BYTES as u64);
}
