//! Why a packet was not counted. The snake_case names are a public interface: they appear in
//! every report's `totals`, and the README documents each.
//!
//! The enum, its list, its names and its kinds are generated from one table by [`reasons!`], so a
//! reason cannot be left out of [`Reason::ALL`]; the stats layout's check in `maps` is built on
//! [`REASON_COUNT`].

/// Whether the packet a reason was counted for was a DNS query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonKind {
    /// Not a DNS query to a counted port: not IP, another port, a response, a header cut short, ...
    /// Counted among `packets` only.
    NotAQuery,
    /// A DNS query (QR=0 after a complete header, to a counted port) whose name was not counted.
    /// Counted among `packets` and `queries`.
    Query,
}

/// Generates [`Reason`] with one variant per line, numbered from 0 in order, with
/// [`Reason::ALL`], [`Reason::name`] and [`Reason::kind`] from the same lines.
macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $variant:ident = $index:literal => $name:literal, $kind:ident;)+) => {
        /// One reason a packet was looked at but not counted as a query name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum Reason {
            $($(#[doc = $doc])* $variant = $index,)+
        }

        impl Reason {
            /// Every reason, in index order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)+];

            /// The stable name used in reports.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)+
                }
            }

            pub const fn kind(self) -> ReasonKind {
                match self {
                    $(Reason::$variant => ReasonKind::$kind,)+
                }
            }
        }
    };
}

reasons! {
    /// The frame ends inside an Ethernet, IP or UDP header.
    TruncatedFrame = 0 => "truncated_frame", NotAQuery;
    /// Neither IPv4 nor IPv6 (ARP, LLDP, ...), after any VLAN tags.
    NotIp = 1 => "not_ip", NotAQuery;
    /// An IP header that is malformed (bad version or header length).
    BadIpHeader = 2 => "bad_ip_header", NotAQuery;
    /// An IP protocol other than UDP and TCP.
    OtherProtocol = 3 => "other_protocol", NotAQuery;
    /// UDP or TCP to a destination port that is not counted.
    OtherPort = 4 => "other_port", NotAQuery;
    /// A non-first IPv4 or IPv6 fragment: it holds no DNS header.
    IpFragment = 5 => "ip_fragment", NotAQuery;
    /// The UDP or TCP payload is shorter than a 12-byte DNS header (after TCP's 2-byte length).
    TruncatedDnsHeader = 6 => "truncated_dns_header", NotAQuery;
    /// QR=1: a DNS response, not a query.
    Response = 7 => "response", NotAQuery;
    /// Opcode other than QUERY (NOTIFY, UPDATE, ...).
    NotQueryOpcode = 8 => "not_query_opcode", Query;
    /// QDCOUNT is not 1.
    QdcountNotOne = 9 => "qdcount_not_one", Query;
    /// A label length byte of 64 to 191: a label over 63 bytes, or a reserved label type
    /// (0x40, 0x80), which share those bits.
    LabelTooLong = 10 => "label_too_long", Query;
    /// A compression pointer inside the question name.
    CompressionPointer = 11 => "compression_pointer", Query;
    /// A name longer than 255 bytes in wire form.
    NameTooLong = 12 => "name_too_long", Query;
    /// The packet ends before the question's name, type and class are complete.
    TruncatedQuestion = 13 => "truncated_question", Query;
    /// The name table for this interval is full (`--max-names`).
    NameTableFull = 14 => "name_table_full", Query;
    /// The buffer that hands new names to the daemon was full.
    NameBufferFull = 15 => "name_buffer_full", Query;
    /// IPv6 extension headers beyond what the walk follows.
    TooManyExtensionHeaders = 16 => "too_many_extension_headers", NotAQuery;
    /// A TCP segment with no payload (SYN, ACK, FIN, ...).
    TcpNoPayload = 17 => "tcp_no_payload", NotAQuery;
    /// A TCP header whose data offset is below 20 bytes.
    BadTcpHeader = 18 => "bad_tcp_header", NotAQuery;
    /// Counted under a name whose text never reached the daemon: the daemon's reason, never the
    /// program's (its stats slot stays 0). Zero unless ring buffer records were lost.
    NameUnknown = 19 => "name_unknown", Query;
}

impl Reason {
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// The reason of a stable name, as a report writes it.
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL
            .iter()
            .copied()
            .find(|reason| reason.name() == name)
    }
}

/// Number of reasons; the stats map has one slot per reason after the fixed slots.
pub const REASON_COUNT: u32 = Reason::ALL.len() as u32;

// Indices run 0, 1, 2, ... in the table's order, so `index` is a slot in `ALL` and in the stats
// map; a gap or a repeat fails the build.
const _: () = {
    let mut i = 0;
    while i < Reason::ALL.len() {
        assert!(Reason::ALL[i] as usize == i);
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_are_unique_snake_case() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(Reason::from_name(r.name()), Some(*r));
            assert_eq!(r.index() as usize, i, "{r:?} out of order");
            assert!(
                r.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
