//! Why a packet was not counted. The snake_case names are a public interface: they appear in
//! `totals.uncounted` of every report, and the README documents each.

/// One reason a packet was looked at but not counted as a query name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Reason {
    /// The frame ends inside an Ethernet, IP or UDP header.
    TruncatedFrame = 0,
    /// Neither IPv4 nor IPv6 (ARP, LLDP, ...), after any VLAN tags.
    NotIp = 1,
    /// An IP header that is malformed (bad version or header length).
    BadIpHeader = 2,
    /// An IP protocol other than UDP and TCP.
    OtherProtocol = 3,
    /// UDP or TCP to a destination port that is not counted.
    OtherPort = 4,
    /// A non-first IPv4 or IPv6 fragment: it holds no DNS header.
    IpFragment = 5,
    /// The UDP or TCP payload is shorter than a 12-byte DNS header (after TCP's 2-byte length).
    TruncatedDnsHeader = 6,
    /// QR=1: a DNS response, not a query.
    Response = 7,
    /// Opcode other than QUERY (NOTIFY, UPDATE, ...).
    NotQueryOpcode = 8,
    /// QDCOUNT is not 1.
    QdcountNotOne = 9,
    /// A label length byte of 64 to 191: a label over 63 bytes, or a reserved label type
    /// (0x40, 0x80), which share those bits.
    LabelTooLong = 10,
    /// A compression pointer inside the question name.
    CompressionPointer = 11,
    /// A name longer than 255 bytes in wire form.
    NameTooLong = 12,
    /// The packet ends before the question's name, type and class are complete.
    TruncatedQuestion = 13,
    /// The name table for this interval is full (`--max-names`).
    NameTableFull = 14,
    /// The buffer that hands new names to the daemon was full.
    NameBufferFull = 15,
    /// IPv6 extension headers beyond what the walk follows.
    TooManyExtensionHeaders = 16,
    /// A TCP segment with no payload (SYN, ACK, FIN, ...).
    TcpNoPayload = 17,
    /// A TCP header whose data offset is below 20 bytes.
    BadTcpHeader = 18,
}

impl Reason {
    /// Every reason, in index order.
    pub const ALL: [Reason; 19] = [
        Reason::TruncatedFrame,
        Reason::NotIp,
        Reason::BadIpHeader,
        Reason::OtherProtocol,
        Reason::OtherPort,
        Reason::IpFragment,
        Reason::TruncatedDnsHeader,
        Reason::Response,
        Reason::NotQueryOpcode,
        Reason::QdcountNotOne,
        Reason::LabelTooLong,
        Reason::CompressionPointer,
        Reason::NameTooLong,
        Reason::TruncatedQuestion,
        Reason::NameTableFull,
        Reason::NameBufferFull,
        Reason::TooManyExtensionHeaders,
        Reason::TcpNoPayload,
        Reason::BadTcpHeader,
    ];

    /// The stable name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::TruncatedFrame => "truncated_frame",
            Reason::NotIp => "not_ip",
            Reason::BadIpHeader => "bad_ip_header",
            Reason::OtherProtocol => "other_protocol",
            Reason::OtherPort => "other_port",
            Reason::IpFragment => "ip_fragment",
            Reason::TruncatedDnsHeader => "truncated_dns_header",
            Reason::Response => "response",
            Reason::NotQueryOpcode => "not_query_opcode",
            Reason::QdcountNotOne => "qdcount_not_one",
            Reason::LabelTooLong => "label_too_long",
            Reason::CompressionPointer => "compression_pointer",
            Reason::NameTooLong => "name_too_long",
            Reason::TruncatedQuestion => "truncated_question",
            Reason::NameTableFull => "name_table_full",
            Reason::NameBufferFull => "name_buffer_full",
            Reason::TooManyExtensionHeaders => "too_many_extension_headers",
            Reason::TcpNoPayload => "tcp_no_payload",
            Reason::BadTcpHeader => "bad_tcp_header",
        }
    }

    pub const fn index(self) -> u32 {
        self as u32
    }
}

/// Number of reasons; the stats map has one slot per reason after the fixed slots.
pub const REASON_COUNT: u32 = Reason::ALL.len() as u32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_are_unique_snake_case() {
        for (i, r) in Reason::ALL.iter().enumerate() {
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
