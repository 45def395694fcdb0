//! Captures read a packet at a time: pcap (micro- or nanosecond, either byte order) and pcapng
//! (any number of sections and interfaces), parsed by `pcap-parser`, from a file or a pipe with
//! memory bounded by one record. The program starts its walk at an Ethernet header, so a frame of
//! another link type (Linux cooked SLL and SLL2, BSD loopback, raw IP) gets an Ethernet header in
//! place of its own; any other link type is refused, naming it.

use std::{
    fmt, fs,
    io::{self, Read},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use pcap_parser::{
    Block, InterfaceDescriptionBlock, LegacyPcapBlock, Linktype, OptionCode, PcapError,
    nom::{self, IResult, error::ErrorKind},
    parse_block_be, parse_block_le, parse_pcap_frame, parse_pcap_frame_be,
    parse_pcap_frame_modified, parse_pcap_header, parse_sectionheaderblock,
    traits::PcapNGPacketBlock as _,
};
use thiserror::Error;

/// One frame of a capture, as captured (possibly cut to the capture's snap length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    pub timestamp: SystemTime,
    /// The frame from its Ethernet header on.
    pub frame: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot read capture {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is larger than {} GiB, the most read into memory at once", path.display(), MAX_CAPTURE_BYTES >> 30)]
    TooLarge { path: PathBuf },
    #[error("{} is neither a pcap nor a pcapng capture", path.display())]
    NotACapture { path: PathBuf },
    #[error(
        "{}: link type {linktype} cannot be replayed: only Ethernet (EN10MB, 1), LINUX_SLL (113), LINUX_SLL2 (276), NULL (0), LOOP (108), RAW (101), IPV4 (228) and IPV6 (229) captures are supported",
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
    #[error("a record longer than {} KiB", MAX_RECORD_BYTES >> 10)]
    RecordTooLong,
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

/// The most bytes [`read_capture`] reads: it holds every packet in memory (the tests and the
/// three-way check use it; replay streams through [`CaptureReader`] instead).
pub const MAX_CAPTURE_BYTES: u64 = 4 << 30;
/// Input is read this much at a time.
const READ_CHUNK: usize = 64 << 10;
/// The longest record (pcap record or pcapng block) read: 256 KiB is tcpdump's largest snap
/// length, with room for headers and options. A longer one is corrupt, not a reason to buffer
/// without bound.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Reads every packet of a pcap or pcapng capture of at most [`MAX_CAPTURE_BYTES`], in file
/// order.
pub fn read_capture(path: &Path) -> Result<Vec<CapturedPacket>, CaptureError> {
    let file = fs::File::open(path).map_err(|source| CaptureError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = CaptureReader::new(file.take(MAX_CAPTURE_BYTES + 1), path)?;
    let packets = reader.collect_all()?;
    if reader.bytes_read() > MAX_CAPTURE_BYTES {
        return Err(CaptureError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(packets)
}

/// Every packet of the pcap or pcapng capture `data`, in file order; `path` only names it in
/// errors. It reads nothing beyond `data`, and each frame holds no more than its record's bytes
/// and, for a link type other than Ethernet, an Ethernet header in place of its own.
pub fn parse_capture(data: &[u8], path: &Path) -> Result<Vec<CapturedPacket>, CaptureError> {
    CaptureReader::new(data, path)?.collect_all()
}

/// A capture read a packet at a time from any input (a file, a pipe): memory stays within one
/// record and a read ahead, whatever the capture's length.
pub struct CaptureReader<R> {
    input: R,
    path: PathBuf,
    /// Input read and not yet parsed starts at `parsed`.
    buffer: Vec<u8>,
    parsed: usize,
    /// Input bytes dropped from the front of `buffer` so far.
    dropped: u64,
    at_end: bool,
    format: Format,
    packets: usize,
}

/// pcap-parser's parser of a pcap record in one byte order and format.
type ParseRecord = fn(&[u8]) -> IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

enum Format {
    Pcap {
        parse: ParseRecord,
        nanos_per_unit: u64,
        link: Link,
    },
    Pcapng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// What the reader found in the next record.
enum Step {
    Packet(CapturedPacket),
    /// A record with no packet (a pcapng section header, statistics, ...).
    NoPacket,
    /// The record goes on past what is buffered.
    NeedMore,
}

impl<R: Read> CaptureReader<R> {
    /// Reads the capture's header from `input`; `path` names it in errors.
    pub fn new(input: R, path: &Path) -> Result<Self, CaptureError> {
        let mut reader = Self {
            input,
            path: path.to_owned(),
            buffer: Vec::new(),
            parsed: 0,
            dropped: 0,
            at_end: false,
            // Replaced below once the header says which.
            format: Format::Pcapng {
                big_endian: false,
                interfaces: Vec::new(),
            },
            packets: 0,
        };
        reader.format = reader.read_header()?;
        Ok(reader)
    }

    /// The next packet, in file order; `None` at the end of a capture that ends at a record's end.
    pub fn next_packet(&mut self) -> Result<Option<CapturedPacket>, CaptureError> {
        loop {
            if self.parsed == self.buffer.len() && !self.fill()? {
                return Ok(None);
            }
            match self.step()? {
                Step::Packet(packet) => {
                    self.packets += 1;
                    return Ok(Some(packet));
                }
                Step::NoPacket => {}
                Step::NeedMore => {
                    if !self.fill()? {
                        return Err(CaptureError::Truncated {
                            path: self.path.clone(),
                            offset: self.offset(),
                            packets: self.packets,
                        });
                    }
                }
            }
        }
    }

    /// How many bytes of input have been read.
    pub fn bytes_read(&self) -> u64 {
        self.dropped + self.buffer.len() as u64
    }

    /// The packets read so far.
    pub fn packets(&self) -> usize {
        self.packets
    }

    fn collect_all(&mut self) -> Result<Vec<CapturedPacket>, CaptureError> {
        let mut packets = Vec::new();
        while let Some(packet) = self.next_packet()? {
            packets.push(packet);
        }
        Ok(packets)
    }

    /// pcap or pcapng, by the first bytes; anything else is not a capture.
    fn read_header(&mut self) -> Result<Format, CaptureError> {
        let not_a_capture = |reader: &Self| CaptureError::NotACapture {
            path: reader.path.clone(),
        };
        const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
        // A section header's length comes after its type: read up to the whole block.
        self.fill_to(12)?;
        if self.buffer.starts_with(&PCAPNG_MAGIC) {
            let length = |bytes: [u8; 4]| {
                let (le, be) = (u32::from_le_bytes(bytes), u32::from_be_bytes(bytes));
                le.min(be) as usize
            };
            if let Some(&bytes) = self.buffer.get(4..8).and_then(|b| b.first_chunk::<4>()) {
                self.fill_to(length(bytes).min(MAX_RECORD_BYTES))?;
            }
            return if parse_sectionheaderblock(&self.buffer).is_ok() {
                // The loop reads the section header again, as any block.
                Ok(Format::Pcapng {
                    big_endian: false,
                    interfaces: Vec::new(),
                })
            } else {
                Err(not_a_capture(self))
            };
        }
        self.fill_to(24)?;
        let Ok((_, header)) = parse_pcap_header(&self.buffer) else {
            return Err(not_a_capture(self));
        };
        let link = Link::of(header.network).ok_or_else(|| self.link_type(header.network))?;
        self.parsed = header.size();
        Ok(Format::Pcap {
            parse: if header.is_modified_format() {
                parse_pcap_frame_modified
            } else if header.is_bigendian() {
                parse_pcap_frame_be
            } else {
                parse_pcap_frame
            },
            nanos_per_unit: if header.is_nanosecond_precision() {
                1
            } else {
                1_000
            },
            link,
        })
    }

    /// Parses the record at `parsed`.
    fn step(&mut self) -> Result<Step, CaptureError> {
        let rest = &self.buffer[self.parsed..];
        let (used, step) = match &mut self.format {
            Format::Pcap {
                parse,
                nanos_per_unit,
                link,
            } => match parse(rest) {
                Ok((after, record)) => {
                    let since_epoch = Duration::from_secs(record.ts_sec.into())
                        + Duration::from_nanos(u64::from(record.ts_usec) * *nanos_per_unit);
                    let packet = CapturedPacket {
                        timestamp: SystemTime::UNIX_EPOCH + since_epoch,
                        frame: link.ethernet_frame(record.data),
                    };
                    (rest.len() - after.len(), Step::Packet(packet))
                }
                Err(err) => return self.parse_failed(err.map(kind_of)),
            },
            Format::Pcapng {
                big_endian,
                interfaces,
            } => {
                if short_process_information_block(rest, *big_endian) {
                    let kind = ErrorKind::Verify;
                    return Err(self.corrupt(Corruption::Unparsable { kind }));
                }
                let parse = if *big_endian {
                    parse_block_be
                } else {
                    parse_block_le
                };
                let (after, block) = match parse(rest) {
                    Ok(parsed) => parsed,
                    Err(err) => return self.parse_failed(err.map(kind_of)),
                };
                let step = match block {
                    Block::SectionHeader(section) => {
                        // A new section has interfaces of its own, numbered from 0.
                        *big_endian = section.big_endian();
                        interfaces.clear();
                        Step::NoPacket
                    }
                    Block::InterfaceDescription(description) => {
                        interfaces.push(Interface::new(&description, *big_endian));
                        Step::NoPacket
                    }
                    Block::EnhancedPacket(packet) => {
                        let interface = interfaces.get(packet.if_id as usize);
                        let Some(interface) = interface else {
                            let interface = packet.if_id;
                            return Err(self.corrupt(Corruption::UnknownInterface { interface }));
                        };
                        let Some(link) = Link::of(interface.linktype) else {
                            let linktype = interface.linktype;
                            return Err(self.link_type(linktype));
                        };
                        match interface.timestamp(packet.ts_high, packet.ts_low, packet.if_id) {
                            Ok(timestamp) => Step::Packet(CapturedPacket {
                                timestamp,
                                frame: link.ethernet_frame(packet.packet_data()),
                            }),
                            Err(problem) => return Err(self.corrupt(problem)),
                        }
                    }
                    Block::SimplePacket(_) => {
                        return Err(self.unsupported("simple packet block (it has no timestamp)"));
                    }
                    Block::Unknown(unknown) if unknown.block_type == OBSOLETE_PACKET_BLOCK => {
                        return Err(self.unsupported("obsolete packet block (pcapng type 2)"));
                    }
                    // Name resolution, statistics, secrets, custom blocks, ...: no packets.
                    _ => Step::NoPacket,
                };
                (rest.len() - after.len(), step)
            }
        };
        self.parsed += used;
        Ok(step)
    }

    /// A parse that failed: more input wanted, or a corrupt record.
    fn parse_failed(&self, err: nom::Err<Option<ErrorKind>>) -> Result<Step, CaptureError> {
        match err {
            nom::Err::Incomplete(_) => Ok(Step::NeedMore),
            nom::Err::Error(kind) | nom::Err::Failure(kind) => {
                let kind = kind.unwrap_or(ErrorKind::Verify);
                Err(self.corrupt(Corruption::Unparsable { kind }))
            }
        }
    }

    /// Reads until at least `len` bytes are buffered or the input ends.
    fn fill_to(&mut self, len: usize) -> Result<(), CaptureError> {
        while self.buffer.len() - self.parsed < len && self.fill()? {}
        Ok(())
    }

    /// Reads more input after what is buffered, dropping what was parsed; false at the end of
    /// the input. A record longer than [`MAX_RECORD_BYTES`] is corrupt.
    fn fill(&mut self) -> Result<bool, CaptureError> {
        if self.at_end {
            return Ok(false);
        }
        if self.parsed > 0 {
            self.buffer.drain(..self.parsed);
            self.dropped += self.parsed as u64;
            self.parsed = 0;
        }
        let kept = self.buffer.len();
        if kept >= MAX_RECORD_BYTES {
            return Err(self.corrupt(Corruption::RecordTooLong));
        }
        // A record longer than a read doubles the buffer, up to the bound.
        let room = kept.max(READ_CHUNK).min(MAX_RECORD_BYTES - kept);
        self.buffer.resize(kept + room, 0);
        loop {
            match self.input.read(&mut self.buffer[kept..]) {
                Ok(read) => {
                    self.buffer.truncate(kept + read);
                    self.at_end = read == 0;
                    return Ok(read > 0);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.buffer.truncate(kept);
                    return Err(CaptureError::Read {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Where the record being parsed starts in the input.
    fn offset(&self) -> usize {
        usize::try_from(self.dropped + self.parsed as u64).unwrap_or(usize::MAX)
    }

    fn corrupt(&self, problem: Corruption) -> CaptureError {
        CaptureError::Corrupt {
            path: self.path.clone(),
            offset: self.offset(),
            problem,
        }
    }

    fn link_type(&self, linktype: Linktype) -> CaptureError {
        CaptureError::LinkType {
            path: self.path.clone(),
            linktype: LinkTypeName(linktype.0),
        }
    }

    fn unsupported(&self, what: &'static str) -> CaptureError {
        CaptureError::Unsupported {
            path: self.path.clone(),
            packet: self.packets + 1,
            what,
        }
    }
}

/// The nom error kind pcap-parser reports, if any.
fn kind_of(err: PcapError<&[u8]>) -> Option<ErrorKind> {
    match err {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => Some(kind),
        _ => None,
    }
}

/// How a link type's frames become the Ethernet frames the program walks: the link's own header
/// is replaced by an Ethernet header (zero addresses) with the EtherType it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Ethernet,
    /// LINUX_SLL: 16 bytes, the EtherType last.
    LinuxSll,
    /// LINUX_SLL2: 20 bytes, the EtherType first.
    LinuxSll2,
    /// NULL: a 4-byte address family in the capturing host's byte order.
    Null,
    /// LOOP: a 4-byte address family in network byte order.
    Loop,
    /// RAW: IPv4 or IPv6 by the version nibble.
    Raw,
    Ipv4,
    Ipv6,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// For a frame whose link header names neither IP version: the program counts it as not IP.
const ETHERTYPE_NONE: u16 = 0;

impl Link {
    fn of(linktype: Linktype) -> Option<Self> {
        Some(match linktype.0 {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            0 => Self::Null,
            108 => Self::Loop,
            101 => Self::Raw,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            _ => return None,
        })
    }

    /// The frame as Ethernet. A frame shorter than its link header stays shorter than an
    /// Ethernet header, so it is counted as a truncated frame.
    fn ethernet_frame(self, frame: &[u8]) -> Vec<u8> {
        let (header, ethertype) = match self {
            Self::Ethernet => return frame.to_vec(),
            Self::LinuxSll => (16, frame.get(14..16).map(be16)),
            Self::LinuxSll2 => (20, frame.get(0..2).map(be16)),
            Self::Null => (
                4,
                frame.first_chunk::<4>().map(|family| {
                    // Written in the capturing host's order: the family is a small number either way.
                    let value = u32::from_le_bytes(*family).min(u32::from_be_bytes(*family));
                    ethertype_of_family(value)
                }),
            ),
            Self::Loop => (
                4,
                frame
                    .first_chunk::<4>()
                    .map(|family| ethertype_of_family(u32::from_be_bytes(*family))),
            ),
            Self::Raw => (
                0,
                frame.first().map(|&byte| match byte >> 4 {
                    4 => ETHERTYPE_IPV4,
                    6 => ETHERTYPE_IPV6,
                    _ => ETHERTYPE_NONE,
                }),
            ),
            Self::Ipv4 => (0, Some(ETHERTYPE_IPV4)),
            Self::Ipv6 => (0, Some(ETHERTYPE_IPV6)),
        };
        match (ethertype, frame.get(header..)) {
            (Some(ethertype), Some(payload)) if !payload.is_empty() || header > 0 => {
                let mut ethernet = Vec::with_capacity(14 + payload.len());
                ethernet.extend_from_slice(&[0; 12]);
                ethernet.extend_from_slice(&ethertype.to_be_bytes());
                ethernet.extend_from_slice(payload);
                ethernet
            }
            // Too short for its own header: as short as it was, under 14 bytes.
            _ => frame[..frame.len().min(13)].to_vec(),
        }
    }
}

fn be16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// BSD address families: AF_INET is 2 everywhere, AF_INET6 is 24, 28 or 30 by the system.
fn ethertype_of_family(family: u32) -> u16 {
    match family {
        2 => ETHERTYPE_IPV4,
        24 | 28 | 30 => ETHERTYPE_IPV6,
        _ => ETHERTYPE_NONE,
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

#[cfg(test)]
mod tests;
