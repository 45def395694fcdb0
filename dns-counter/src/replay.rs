//! `dns-counter replay`: runs every packet of a capture file through the same XDP program a live
//! run attaches, with BPF_PROG_TEST_RUN instead of an interface, and writes the reports a live
//! run would have written, through the same drain and the same [`publish::report`].
//!
//! Captures are pcap (micro- or nanosecond, either byte order) or pcapng (any number of sections
//! and interfaces), read by `pcap-parser`. Only Ethernet is replayed: the program starts its walk
//! at an Ethernet header, so a capture of another link type is refused, naming it.

use std::{
    fmt, fs,
    io::{self, Read as _},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use aya::programs::{ProgramError, TestRun as _, TestRunOptions, Xdp};
use dns_counter_common::{Reason, maps::PROGRAM_NAME};
use pcap_parser::{
    Block, InterfaceDescriptionBlock, Linktype, OptionCode, PcapError, PcapHeader,
    nom::{self, error::ErrorKind},
    parse_block_be, parse_block_le, parse_pcap_frame, parse_pcap_frame_be,
    parse_pcap_frame_modified, parse_pcap_header, parse_sectionheaderblock,
    traits::PcapNGPacketBlock as _,
};
use thiserror::Error;

use crate::{
    aggregate::{Interval, Meta},
    config::ReplayConfig,
    drain::{DrainError, Drainer},
    loader::{self, LoaderError},
    output::OutputError,
    publish::{self, interval_end},
};

/// BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header (`ETH_HLEN`), so such
/// frames never reach the program; the replay counts them as the program would have.
pub const MIN_TEST_RUN_FRAME: usize = 14;
/// BPF_PROG_TEST_RUN puts what does not fit one page into fragments, and refuses a frame that
/// needs more fragments than an skb has (about 72 KiB with 4 KiB pages). Replay cuts longer frames
/// (GRO-merged segments, as tcpdump on a receiving host captures them) to this length, which
/// changes nothing the program reads: it reads only a frame's linear part, a page less headroom.
pub const MAX_TEST_RUN_FRAME: usize = 64 << 10;
/// What the program would have said about a frame shorter than [`MIN_TEST_RUN_FRAME`]: it ends
/// inside the Ethernet header (the shared walk's verdict, checked in the tests below).
pub const SHORT_FRAME_REASON: Reason = Reason::TruncatedFrame;
/// `XDP_PASS` (`enum xdp_action` in linux/bpf.h): the program's only verdict.
const XDP_PASS: u32 = 2;
/// The largest capture read: replay holds every packet in memory, so a bigger capture is better
/// cut into parts first (`tcpdump -r big.pcap -w part.pcap -C 1000`).
pub const MAX_CAPTURE_BYTES: u64 = 4 << 30;
/// Reports one replay may write: a capture whose timestamps span more intervals than this is
/// most likely mistimed, and a longer `--interval` will do.
pub const MAX_REPORTS: u64 = 100_000;

/// One frame of a capture, as captured (possibly cut to the capture's snap length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    pub timestamp: SystemTime,
    /// The frame from its Ethernet header on.
    pub frame: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("cannot read capture {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is larger than {} GiB: replay reads captures up to that size", path.display(), MAX_CAPTURE_BYTES >> 30)]
    TooLarge { path: PathBuf },
    #[error("{} is neither a pcap nor a pcapng capture", path.display())]
    NotACapture { path: PathBuf },
    #[error(
        "{}: link type {linktype} cannot be replayed: only Ethernet captures (link type EN10MB, 1) are supported",
        path.display()
    )]
    LinkType {
        path: PathBuf,
        linktype: LinkTypeName,
    },
    #[error("{} is cut short: it ends inside a record at byte {offset}, after {packets} packets", path.display())]
    Truncated {
        path: PathBuf,
        offset: usize,
        packets: usize,
    },
    #[error("{} is corrupt at byte {offset}: {problem}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: usize,
        problem: Corruption,
    },
    #[error("{}: packet {packet} is in a {what}, which replay does not support", path.display())]
    Unsupported {
        path: PathBuf,
        packet: usize,
        what: &'static str,
    },
    #[error("{} holds no packets: there is nothing to replay", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{}: its packets span {reports} intervals of {}; replay writes at most {MAX_REPORTS} reports: use a longer --interval",
        path.display(), humantime::format_duration(*interval)
    )]
    TooManyReports {
        path: PathBuf,
        interval: Duration,
        reports: u64,
    },
    #[error(transparent)]
    Load(#[from] LoaderError),
    #[error(transparent)]
    Drain(#[from] DrainError),
    #[error("BPF_PROG_TEST_RUN failed on packet {packet} ({len} bytes)")]
    TestRun {
        packet: usize,
        len: usize,
        source: ProgramError,
    },
    #[error("the XDP program returned {verdict} for packet {packet}, not XDP_PASS ({XDP_PASS})")]
    Verdict { packet: usize, verdict: u32 },
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// What is wrong inside a capture that otherwise reads as pcap or pcapng.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Corruption {
    #[error("a record that does not parse ({kind:?})")]
    Unparsable { kind: ErrorKind },
    #[error("a packet of interface {interface}, which no interface description declares")]
    UnknownInterface { interface: u32 },
    #[error("interface {interface} has an invalid timestamp resolution {tsresol:#04x}")]
    TimestampResolution { interface: u32, tsresol: u8 },
    #[error("a timestamp that is out of range")]
    TimestampOutOfRange,
}

/// A link type as tcpdump names it, with its number: `PPP_HDLC (50)`; a number alone for the
/// rarer ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTypeName(pub i32);

impl fmt::Display for LinkTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The link types captures are most often made on (tcpdump.org/linktypes.html).
        let (name, note) = match self.0 {
            0 => ("NULL", ", BSD loopback"),
            1 => ("EN10MB", ", Ethernet"),
            9 => ("PPP", ""),
            50 => ("PPP_HDLC", ""),
            51 => ("PPP_ETHER", ", PPPoE"),
            101 => ("RAW", ", IP without a link header"),
            105 => ("IEEE802_11", ""),
            108 => ("LOOP", ", OpenBSD loopback"),
            113 => ("LINUX_SLL", ", as tcpdump -i any writes"),
            127 => ("IEEE802_11_RADIOTAP", ""),
            228 => ("IPV4", ""),
            229 => ("IPV6", ""),
            276 => ("LINUX_SLL2", ", as tcpdump -i any writes"),
            number => return write!(f, "{number}"),
        };
        write!(f, "{name} ({}{note})", self.0)
    }
}

/// Reads every packet of a pcap or pcapng capture of at most [`MAX_CAPTURE_BYTES`], in file
/// order.
pub fn read_capture(path: &Path) -> Result<Vec<CapturedPacket>, ReplayError> {
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|file| file.take(MAX_CAPTURE_BYTES + 1).read_to_end(&mut data))
        .map_err(|source| ReplayError::Read {
            path: path.to_owned(),
            source,
        })?;
    if data.len() as u64 > MAX_CAPTURE_BYTES {
        return Err(ReplayError::TooLarge {
            path: path.to_owned(),
        });
    }
    parse_capture(&data, path)
}

/// Every packet of the pcap or pcapng capture `data`, in file order; `path` only names it in
/// errors. It reads nothing beyond `data`, and copies out no more bytes than `data` holds.
pub fn parse_capture(data: &[u8], path: &Path) -> Result<Vec<CapturedPacket>, ReplayError> {
    let reader = Reader {
        path,
        data,
        packets: Vec::new(),
    };
    if parse_sectionheaderblock(data).is_ok() {
        reader.pcapng()
    } else if let Ok((_, header)) = parse_pcap_header(data) {
        reader.pcap(&header)
    } else {
        Err(ReplayError::NotACapture {
            path: path.to_owned(),
        })
    }
}

/// Walks a capture held in memory.
struct Reader<'a> {
    path: &'a Path,
    data: &'a [u8],
    packets: Vec<CapturedPacket>,
}

impl Reader<'_> {
    fn pcap(mut self, header: &PcapHeader) -> Result<Vec<CapturedPacket>, ReplayError> {
        if header.network != Linktype::ETHERNET {
            return Err(self.link_type(header.network));
        }
        let parse = if header.is_modified_format() {
            parse_pcap_frame_modified
        } else if header.is_bigendian() {
            parse_pcap_frame_be
        } else {
            parse_pcap_frame
        };
        let nanos_per_unit = if header.is_nanosecond_precision() {
            1
        } else {
            1_000
        };
        let mut rest = &self.data[header.size()..];
        while !rest.is_empty() {
            let (after, record) = parse(rest).map_err(|err| self.parse_error(rest, err))?;
            let since_epoch = Duration::from_secs(record.ts_sec.into())
                + Duration::from_nanos(u64::from(record.ts_usec) * nanos_per_unit);
            self.push(SystemTime::UNIX_EPOCH + since_epoch, record.data);
            rest = after;
        }
        Ok(self.packets)
    }

    fn pcapng(mut self) -> Result<Vec<CapturedPacket>, ReplayError> {
        let mut big_endian = false;
        let mut interfaces: Vec<Interface> = Vec::new();
        let mut rest = self.data;
        while !rest.is_empty() {
            let parse = if big_endian {
                parse_block_be
            } else {
                parse_block_le
            };
            if short_process_information_block(rest, big_endian) {
                let kind = ErrorKind::Verify;
                return Err(self.corrupt(rest, Corruption::Unparsable { kind }));
            }
            let (after, block) = parse(rest).map_err(|err| self.parse_error(rest, err))?;
            match block {
                Block::SectionHeader(section) => {
                    // A new section has interfaces of its own, numbered from 0.
                    big_endian = section.big_endian();
                    interfaces.clear();
                }
                Block::InterfaceDescription(description) => {
                    interfaces.push(Interface::new(&description, big_endian))
                }
                Block::EnhancedPacket(packet) => {
                    let corrupt = |problem| self.corrupt(rest, problem);
                    let interface = interfaces.get(packet.if_id as usize).ok_or_else(|| {
                        corrupt(Corruption::UnknownInterface {
                            interface: packet.if_id,
                        })
                    })?;
                    if interface.linktype != Linktype::ETHERNET {
                        return Err(self.link_type(interface.linktype));
                    }
                    let timestamp = interface
                        .timestamp(packet.ts_high, packet.ts_low, packet.if_id)
                        .map_err(corrupt)?;
                    self.push(timestamp, packet.packet_data());
                }
                Block::SimplePacket(_) => {
                    return Err(self.unsupported("simple packet block (it has no timestamp)"));
                }
                Block::Unknown(unknown) if unknown.block_type == OBSOLETE_PACKET_BLOCK => {
                    return Err(self.unsupported("obsolete packet block (pcapng type 2)"));
                }
                // Name resolution, statistics, secrets, custom blocks, ...: no packets.
                _ => {}
            }
            rest = after;
        }
        Ok(self.packets)
    }

    fn push(&mut self, timestamp: SystemTime, frame: &[u8]) {
        self.packets.push(CapturedPacket {
            timestamp,
            frame: frame.to_vec(),
        });
    }

    fn offset(&self, rest: &[u8]) -> usize {
        self.data.len() - rest.len()
    }

    fn parse_error(&self, rest: &[u8], err: nom::Err<PcapError<&[u8]>>) -> ReplayError {
        let kind = match err {
            nom::Err::Incomplete(_) => {
                let (path, offset, packets) =
                    (self.path.to_owned(), self.offset(rest), self.packets.len());
                return ReplayError::Truncated {
                    path,
                    offset,
                    packets,
                };
            }
            nom::Err::Error(PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind))
            | nom::Err::Failure(PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind)) => {
                kind
            }
            nom::Err::Error(_) | nom::Err::Failure(_) => ErrorKind::Verify,
        };
        self.corrupt(rest, Corruption::Unparsable { kind })
    }

    fn corrupt(&self, rest: &[u8], problem: Corruption) -> ReplayError {
        ReplayError::Corrupt {
            path: self.path.to_owned(),
            offset: self.offset(rest),
            problem,
        }
    }

    fn link_type(&self, linktype: Linktype) -> ReplayError {
        ReplayError::LinkType {
            path: self.path.to_owned(),
            linktype: LinkTypeName(linktype.0),
        }
    }

    fn unsupported(&self, what: &'static str) -> ReplayError {
        ReplayError::Unsupported {
            path: self.path.to_owned(),
            packet: self.packets.len() + 1,
            what,
        }
    }
}

/// pcapng's Obsolete Packet Block, which pcap-parser reads as an unknown block.
const OBSOLETE_PACKET_BLOCK: u32 = 2;

/// Whether `rest` starts with a Process Information Block whose length is below the 12 bytes
/// every block has (its type, and its length twice): pcap-parser 0.17 checks that block's length
/// against 4 and then takes 12 from it. It checks every other block's against 12 or more.
fn short_process_information_block(rest: &[u8], big_endian: bool) -> bool {
    const PROCESS_INFORMATION_BLOCK: u32 = 0x8000_0001;
    let read = |at: usize| {
        let bytes = *rest.get(at..)?.first_chunk::<4>()?;
        Some(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    read(0) == Some(PROCESS_INFORMATION_BLOCK) && read(4).is_some_and(|len| len < 12)
}

/// What a pcapng packet needs from its interface's description.
struct Interface {
    linktype: Linktype,
    tsresol: u8,
    /// Seconds added to every timestamp (`if_tsoffset`).
    tsoffset: i64,
}

impl Interface {
    fn new(description: &InterfaceDescriptionBlock<'_>, big_endian: bool) -> Self {
        // pcap-parser 0.17 reads `if_tsoffset` as little-endian whatever the section's byte order.
        let tsoffset = description
            .options
            .iter()
            .filter(|option| option.code == OptionCode::IfTsoffset)
            .find_map(|option| <[u8; 8]>::try_from(option.value()).ok())
            .map_or(0, |bytes| {
                if big_endian {
                    i64::from_be_bytes(bytes)
                } else {
                    i64::from_le_bytes(bytes)
                }
            });
        Self {
            linktype: description.linktype,
            tsresol: description.if_tsresol,
            tsoffset,
        }
    }

    /// `ts_high:ts_low` units of `if_tsresol` since the epoch, plus `if_tsoffset` seconds.
    fn timestamp(
        &self,
        ts_high: u32,
        ts_low: u32,
        interface: u32,
    ) -> Result<SystemTime, Corruption> {
        let units_per_second =
            units_per_second(self.tsresol).ok_or(Corruption::TimestampResolution {
                interface,
                tsresol: self.tsresol,
            })?;
        let units = (u64::from(ts_high) << 32) | u64::from(ts_low);
        let nanos =
            u128::from(units % units_per_second) * 1_000_000_000 / u128::from(units_per_second);
        let since_epoch = Duration::new(units / units_per_second, nanos as u32);
        let offset = Duration::from_secs(self.tsoffset.unsigned_abs());
        let at = SystemTime::UNIX_EPOCH.checked_add(since_epoch);
        let at = if self.tsoffset >= 0 {
            at.and_then(|at| at.checked_add(offset))
        } else {
            at.and_then(|at| at.checked_sub(offset))
        };
        at.ok_or(Corruption::TimestampOutOfRange)
    }
}

/// `if_tsresol`: 10^-n seconds, or 2^-n with the high bit set. (pcap-parser 0.17's
/// `build_ts_resolution` refuses every 2^-n resolution, testing the exponent with the bit still set.)
fn units_per_second(tsresol: u8) -> Option<u64> {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exponent)
    } else {
        1u64.checked_shl(exponent)
    }
}

/// What `meta.interfaces` says of a replay: `replay:<file name>`.
pub fn source_label(file: &Path) -> String {
    let name = file.file_name().unwrap_or(file.as_os_str());
    format!("replay:{}", name.to_string_lossy())
}

/// Replays `packets` (as [`read_capture`] returns them) through a freshly loaded program and
/// writes one report per interval, or one for the whole capture without `config.interval`.
///
/// Packets are taken in timestamp order. The first report starts at the first packet's
/// timestamp and the last ends at the last packet's, as a live run started just before the
/// first packet and stopped just after the last would have; with an interval, the reports in
/// between end on its multiples since the Unix epoch, empty ones included. Needs the privileges
/// of a live run (see [`loader::check_privileges`]); attaches to no interface.
pub fn replay(
    config: &ReplayConfig,
    packets: &[CapturedPacket],
    host: String,
) -> Result<(), ReplayError> {
    let path = &config.file;
    let mut order: Vec<usize> = (0..packets.len()).collect();
    order.sort_by_key(|&index| packets[index].timestamp);
    let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
        return Err(ReplayError::Empty { path: path.clone() });
    };
    let (first, last) = (packets[first].timestamp, packets[last].timestamp);
    if let Some(interval) = config.interval {
        let reports = intervals_spanned(first, last, interval);
        if reports > MAX_REPORTS {
            return Err(ReplayError::TooManyReports {
                path: path.clone(),
                interval,
                reports,
            });
        }
    }

    let counting = &config.counting;
    let mut loaded = loader::load_with_clients(counting.max_names, counting.clients)?;
    loaded.count_ports(&counting.ports)?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;
    let missing = || LoaderError::Missing {
        what: "XDP program",
        name: PROGRAM_NAME,
    };
    let program: &Xdp = loaded
        .ebpf
        .program(PROGRAM_NAME)
        .ok_or_else(missing)?
        .try_into()
        .map_err(LoaderError::Verify)?;
    let meta = Meta {
        host,
        interfaces: vec![source_label(path)],
    };
    let options = counting.report_options();
    eprintln!(
        "dns-counter: replaying {} packets of {} ({} to {}), {} into {}",
        packets.len(),
        path.display(),
        humantime::format_rfc3339_micros(first),
        humantime::format_rfc3339_micros(last),
        match config.interval {
            Some(interval) => format!("a report every {}", humantime::format_duration(interval)),
            None => "one report".to_string(),
        },
        counting.out_dir.display()
    );

    let long_frames = packets
        .iter()
        .filter(|packet| packet.frame.len() > MAX_TEST_RUN_FRAME)
        .count();
    if long_frames > 0 {
        eprintln!(
            "dns-counter: frames longer than {kib} KiB: {long_frames}; they go through BPF_PROG_TEST_RUN cut to \
             {kib} KiB (the program reads only the first page of a frame)",
            kib = MAX_TEST_RUN_FRAME >> 10,
        );
    }

    let mut pending = order.into_iter().peekable();
    let mut start = first;
    loop {
        let boundary = config
            .interval
            .map(|interval| interval_end(start, interval))
            .filter(|&end| end <= last);
        let mut short_frames = 0;
        while let Some(index) =
            pending.next_if(|&index| boundary.is_none_or(|end| packets[index].timestamp < end))
        {
            let frame = packets[index].frame.as_slice();
            let packet = index + 1;
            if frame.len() < MIN_TEST_RUN_FRAME {
                short_frames += 1;
                continue;
            }
            let data_in = Some(&frame[..frame.len().min(MAX_TEST_RUN_FRAME)]);
            let input = TestRunOptions {
                data_in,
                repeat: 1,
                ..TestRunOptions::default()
            };
            let result = program
                .test_run(input)
                .map_err(|source| ReplayError::TestRun {
                    packet,
                    len: frame.len(),
                    source,
                })?;
            if result.return_value != XDP_PASS {
                return Err(ReplayError::Verdict {
                    packet,
                    verdict: result.return_value,
                });
            }
            // The names ring buffer is read as often as the program writes it, so a replay never
            // loses a name to a full buffer.
            drainer.read_names();
        }
        let end = boundary.unwrap_or(last);
        let mut interval = drainer.flip_and_drain(start, end)?;
        add_short_frames(&mut interval, short_frames);
        publish::report(&interval, &meta, &options, counting.into())?;
        if boundary.is_none() {
            return Ok(());
        }
        start = end;
    }
}

/// How many intervals of `length` the span `first..=last` touches: the reports a replay writes.
fn intervals_spanned(first: SystemTime, last: SystemTime, length: Duration) -> u64 {
    let step = length.as_nanos().max(1);
    let since_epoch = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    };
    let spanned = since_epoch(last) / step - since_epoch(first) / step + 1;
    u64::try_from(spanned).unwrap_or(u64::MAX)
}

/// Counts frames that could not go through BPF_PROG_TEST_RUN as the program would have: among
/// the packets looked at, under [`SHORT_FRAME_REASON`].
fn add_short_frames(interval: &mut Interval, frames: u64) {
    if frames == 0 {
        return;
    }
    interval.packets += frames;
    match interval
        .uncounted
        .iter_mut()
        .find(|(reason, _)| reason == SHORT_FRAME_REASON.name())
    {
        Some((_, count)) => *count += frames,
        None => interval
            .uncounted
            .push((SHORT_FRAME_REASON.name().to_string(), frames)),
    }
}

#[cfg(test)]
mod tests {
    use dns_counter_common::{maps::NAME_WORDS, walk::parse_query};

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
                ReplayError::LinkType {
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
            message.contains("only Ethernet captures (link type EN10MB, 1) are supported"),
            "{message}"
        );
    }

    #[test]
    fn a_pcapng_packet_from_a_non_ethernet_interface_is_refused() {
        let mut capture = PcapNg::new();
        capture
            .section(false)
            .interface(1, None, None)
            .interface(113, None, None)
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
            err.to_string()
                .contains("link type LINUX_SLL (113, as tcpdump -i any writes) cannot"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_capture(Path::new("/nonexistent/dns.pcap")).unwrap_err();
        assert!(
            matches!(&err, ReplayError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
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
                matches!(err, ReplayError::NotACapture { .. }),
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
            matches!(err, ReplayError::Truncated { packets: 1, .. }),
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
                ReplayError::Corrupt {
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
            matches!(err, ReplayError::Unsupported { packet: 2, .. }),
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

    /// Found by the `capture` fuzz target: pcap-parser 0.17 takes a Process Information Block of
    /// 4 to 11 bytes for one and then subtracts 12 from its length, which panicked where overflow
    /// is checked and told of a capture cut short where it is not.
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
                    ReplayError::Corrupt {
                        problem: Corruption::Unparsable { .. },
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn frames_too_short_for_test_run_are_what_the_walk_says_they_are() {
        let frame = [0x45u8; MIN_TEST_RUN_FRAME];
        for len in 0..MIN_TEST_RUN_FRAME {
            let mut words = [0u64; NAME_WORDS];
            let verdict = parse_query(&frame[..len], |_| true, [1, 2], &mut words);
            assert_eq!(verdict.err(), Some(SHORT_FRAME_REASON), "{len} bytes");
        }
    }

    #[test]
    fn short_frames_join_the_packets_and_their_reason() {
        let mut interval = Interval {
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            packets: 10,
            names: vec![(b"\x01a\x00".to_vec(), 4)],
            qtypes: vec![(1, 4)],
            uncounted: vec![("truncated_frame".into(), 1), ("not_ip".into(), 5)],
            clients: None,
        };
        add_short_frames(&mut interval, 0);
        assert_eq!(interval.packets, 10);
        add_short_frames(&mut interval, 3);
        assert_eq!(interval.packets, 13);
        assert_eq!(
            interval.uncounted,
            [("truncated_frame".into(), 4), ("not_ip".into(), 5)]
        );
    }

    #[test]
    fn intervals_spanned_counts_the_reports_a_replay_writes() {
        let minute = Duration::from_secs(60);
        let t = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(intervals_spanned(t(3_600), t(3_600), minute), 1);
        assert_eq!(intervals_spanned(t(3_601), t(3_659), minute), 1);
        assert_eq!(intervals_spanned(t(3_601), t(3_660), minute), 2);
        assert_eq!(intervals_spanned(t(0), t(86_400), minute), 1_441);
    }

    #[test]
    fn link_types_are_named_as_tcpdump_names_them() {
        assert_eq!(LinkTypeName(9).to_string(), "PPP (9)");
        assert_eq!(LinkTypeName(0).to_string(), "NULL (0, BSD loopback)");
        assert_eq!(LinkTypeName(147).to_string(), "147");
    }

    #[test]
    fn a_replay_is_labelled_with_its_file_name() {
        assert_eq!(
            source_label(Path::new("/var/tmp/resolver-1.pcapng")),
            "replay:resolver-1.pcapng"
        );
    }
}
