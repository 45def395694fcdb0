//! Capture files read into memory: pcap (micro- or nanosecond, either byte order) and pcapng
//! (any number of sections and interfaces), by `pcap-parser`. Only Ethernet is read: the
//! program starts its walk at an Ethernet header, so a capture of another link type is refused,
//! naming it.

use std::{
    fmt, fs,
    io::{self, Read as _},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use pcap_parser::{
    Block, InterfaceDescriptionBlock, Linktype, OptionCode, PcapError, PcapHeader,
    nom::{self, error::ErrorKind},
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

/// The largest capture read: replay holds every packet in memory, so a bigger capture is better
/// cut into parts first (`tcpdump -r big.pcap -w part.pcap -C 1000`).
pub const MAX_CAPTURE_BYTES: u64 = 4 << 30;

/// Reads every packet of a pcap or pcapng capture of at most [`MAX_CAPTURE_BYTES`], in file
/// order.
pub fn read_capture(path: &Path) -> Result<Vec<CapturedPacket>, CaptureError> {
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|file| file.take(MAX_CAPTURE_BYTES + 1).read_to_end(&mut data))
        .map_err(|source| CaptureError::Read {
            path: path.to_owned(),
            source,
        })?;
    if data.len() as u64 > MAX_CAPTURE_BYTES {
        return Err(CaptureError::TooLarge {
            path: path.to_owned(),
        });
    }
    parse_capture(&data, path)
}

/// Every packet of the pcap or pcapng capture `data`, in file order; `path` only names it in
/// errors. It reads nothing beyond `data`, and copies out no more bytes than `data` holds.
pub fn parse_capture(data: &[u8], path: &Path) -> Result<Vec<CapturedPacket>, CaptureError> {
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
        Err(CaptureError::NotACapture {
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
    fn pcap(mut self, header: &PcapHeader) -> Result<Vec<CapturedPacket>, CaptureError> {
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

    fn pcapng(mut self) -> Result<Vec<CapturedPacket>, CaptureError> {
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

    fn parse_error(&self, rest: &[u8], err: nom::Err<PcapError<&[u8]>>) -> CaptureError {
        let kind = match err {
            nom::Err::Incomplete(_) => {
                let (path, offset, packets) =
                    (self.path.to_owned(), self.offset(rest), self.packets.len());
                return CaptureError::Truncated {
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

    fn corrupt(&self, rest: &[u8], problem: Corruption) -> CaptureError {
        CaptureError::Corrupt {
            path: self.path.to_owned(),
            offset: self.offset(rest),
            problem,
        }
    }

    fn link_type(&self, linktype: Linktype) -> CaptureError {
        CaptureError::LinkType {
            path: self.path.to_owned(),
            linktype: LinkTypeName(linktype.0),
        }
    }

    fn unsupported(&self, what: &'static str) -> CaptureError {
        CaptureError::Unsupported {
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

#[cfg(test)]
mod tests;
