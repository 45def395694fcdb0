//! DNS queries from real sockets, one at a time, each answer awaited: over UDP, optionally with
//! IPv4 options or IPv6 extension headers on every datagram, and over TCP with one query per
//! connection. Run it inside the client namespace with [`crate::Lab::in_client_ns`].

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::workload::Qtype;

/// The DNS port unbound listens on in the lab.
pub const DNS_PORT: u16 = 53;
/// How long to wait for a connection or an answer. The lab's link is lossless, so a query without
/// an answer is a failure, never retried (a retry would be a second query to count).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// Larger than any answer unbound gives to the lab's single-question queries.
const MAX_UDP_ANSWER: usize = 4096;

/// IPv4 options: Router Alert (RFC 2113, value 0), then NOP, NOP and End of Options to fill the
/// header to a multiple of four bytes: a 28-byte IPv4 header.
pub const ROUTER_ALERT_OPTIONS: [u8; 8] = [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00];
/// An IPv6 hop-by-hop or destination options header holding one PadN option of four bytes: eight
/// bytes in all. The kernel fills in the next-header byte.
pub const PADN_OPTIONS_HEADER: [u8; 8] = [0, 0, 0x01, 0x04, 0, 0, 0, 0];

/// What a UDP socket adds to the IP header of every datagram it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpHeaderExtras {
    None,
    /// IPv4 options (`IP_OPTIONS`), at most 40 bytes, a multiple of four.
    Ipv4Options(&'static [u8]),
    /// An IPv6 hop-by-hop options header (`IPV6_HOPOPTS`) followed by a destination options header
    /// (`IPV6_DSTOPTS`), each given whole.
    Ipv6HopByHopAndDestination {
        hop_by_hop: &'static [u8],
        destination: &'static [u8],
    },
}

/// A UDP socket connected to a DNS server.
pub struct UdpClient {
    socket: UdpSocket,
}

impl UdpClient {
    /// A socket connected to `server` port 53, with `extras` on every datagram.
    pub fn connect(server: IpAddr, extras: IpHeaderExtras) -> anyhow::Result<Self> {
        let any = match server {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = UdpSocket::bind(SocketAddr::new(any, 0)).context("binding a UDP socket")?;
        let server = SocketAddr::new(server, DNS_PORT);
        socket
            .connect(server)
            .with_context(|| format!("connecting a UDP socket to {server}"))?;
        socket.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        match extras {
            IpHeaderExtras::None => {}
            IpHeaderExtras::Ipv4Options(options) => {
                set_option(&socket, libc::IPPROTO_IP, libc::IP_OPTIONS, options)
                    .context("setting IP_OPTIONS")?;
            }
            IpHeaderExtras::Ipv6HopByHopAndDestination {
                hop_by_hop,
                destination,
            } => {
                set_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_HOPOPTS, hop_by_hop)
                    .context("setting IPV6_HOPOPTS")?;
                set_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_DSTOPTS, destination)
                    .context("setting IPV6_DSTOPTS")?;
            }
        }
        Ok(Self { socket })
    }

    /// Sends `query` in one datagram and waits for its answer.
    pub fn ask(&self, query: &[u8]) -> anyhow::Result<Message> {
        self.socket.send(query).context("sending a UDP query")?;
        let mut buffer = vec![0; MAX_UDP_ANSWER];
        let length = self
            .socket
            .recv(&mut buffer)
            .context("waiting for a UDP answer")?;
        check_answer(query, &buffer[..length])
    }
}

/// Opens a TCP connection to `server` port 53, sends `query` after its two-byte length in one
/// write (so in one segment), reads the answer and closes the connection.
pub fn ask_over_tcp(server: IpAddr, query: &[u8]) -> anyhow::Result<Message> {
    let server = SocketAddr::new(server, DNS_PORT);
    let mut stream = TcpStream::connect_timeout(&server, ANSWER_TIMEOUT)
        .with_context(|| format!("connecting to {server} over TCP"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let length = u16::try_from(query.len()).context("query too long for TCP framing")?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).context("sending a TCP query")?;

    let mut length = [0; 2];
    stream
        .read_exact(&mut length)
        .context("reading a TCP answer's length")?;
    let mut answer = vec![0; usize::from(u16::from_be_bytes(length))];
    stream
        .read_exact(&mut answer)
        .context("reading a TCP answer")?;
    check_answer(query, &answer)
}

/// A query for `name` (sent as spelled, any case) of type `qtype` with message ID `id`, asking
/// for recursion as a stub resolver would.
pub fn query_message(id: u16, name: &str, qtype: Qtype) -> anyhow::Result<Vec<u8>> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    let name = Name::from_ascii(name).with_context(|| format!("{name:?} is not a DNS name"))?;
    message.add_query(Query::query(name, record_type(qtype)));
    message.to_vec().context("encoding a query")
}

fn record_type(qtype: Qtype) -> RecordType {
    match qtype {
        Qtype::A => RecordType::A,
        Qtype::Aaaa => RecordType::AAAA,
        Qtype::Mx => RecordType::MX,
        Qtype::Txt => RecordType::TXT,
    }
}

/// Decodes `answer` and checks that it answers `query`: same ID, a response, the same question.
fn check_answer(query: &[u8], answer: &[u8]) -> anyhow::Result<Message> {
    let query = Message::from_vec(query).context("decoding our own query")?;
    let answer = Message::from_vec(answer).context("decoding an answer")?;
    if answer.metadata.id != query.metadata.id
        || answer.metadata.message_type != MessageType::Response
        || answer.queries != query.queries
    {
        bail!("{answer:?} does not answer {query:?}");
    }
    Ok(answer)
}

fn set_option(
    socket: &UdpSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let length = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is valid for `length` bytes for the duration of the call.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            length,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
