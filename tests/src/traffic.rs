//! A line-rate traffic generator: DNS query frames built once ([`Frames`]), then sent from the
//! lab's client namespace straight onto its veth end ([`send`]) with an `AF_PACKET` socket and
//! `sendmmsg`, in batches, from one pinned thread, for a bounded count and time.
//!
//! Frames to [`QUIET_V4`] (a resolver address nothing listens on) cross the veth and any counter
//! on it but get no answer, so unbound does not take a core at a million frames a second; frames
//! to [`crate::lab::RESOLVER_V4`] are answered as usual.
//!
//! Nothing is lost on the way: [`send`] puts a FIFO qdisc on the client's veth end. When the
//! receiving side's ring is full (a veth with an XDP program queues frames for its NAPI poll), the
//! veth stops its queue and the qdisc holds the frames; the socket's send buffer then fills and
//! `sendmmsg` waits. A frame the kernel refuses all the same (`ENOBUFS`) is sent again, so
//! [`Sent::frames`] counts frames the kernel took, and with an XDP program on the resolver's end
//! every one of them reaches it. Without a program a veth hands frames to the kernel's per-CPU
//! backlog, which can drop; [`LinkCounters`] shows where frames went.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use etherparse::PacketBuilder;
use hickory_proto::op::{Message, MessageType, OpCode, Query as Question};
use hickory_proto::rr::{Name, RecordType};

use crate::bench::{count_bound, pin_to_cpu, time_bound};
pub use crate::lab::QUIET_V4;
use crate::lab::{CLIENT_IFACE, CLIENT_V4, Lab, RESOLVER_IFACE};
use crate::prereq::program_path;
use crate::process::run_checked;
use crate::workload::{Qtype, Query};

/// Frames per `sendmmsg` call.
const BATCH: usize = 64;
/// Frames the client's qdisc holds while the veth's queue is stopped; more than the socket's
/// send buffer can have in flight, so the qdisc does not drop.
const QDISC_LIMIT: u32 = 10_000;
/// Socket send buffer: bytes of frames in flight (queued, not yet taken by the veth).
const SEND_BUFFER_BYTES: libc::c_int = 1 << 20;
/// How long one `sendmmsg` may wait for room before the loop looks at its time limit again.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);
/// Source ports cycle through this range, DNS IDs through all 16 bits.
const SOURCE_PORTS: std::ops::Range<u16> = 1024..61_024;
const DNS_PORT: u16 = 53;
/// Bound on each helper command (`ip`, `tc`, `cat` in a namespace).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// Pre-built Ethernet frames of DNS queries from the lab's client to its resolver over the veth,
/// stored back to back in one buffer.
pub struct Frames {
    bytes: Vec<u8>,
    /// Start and length of each frame in `bytes`.
    spans: Vec<(usize, usize)>,
}

impl Frames {
    /// One UDP/IPv4 query frame per entry of `queries`, in order (client 169.254.53.2 →
    /// `destination`:53, real MACs of the veth pair read from the namespaces, varying source
    /// ports and DNS IDs).
    pub fn queries(lab: &Lab, destination: Ipv4Addr, queries: &[Query]) -> anyhow::Result<Self> {
        let client_mac = mac_address(lab.client_ns(), CLIENT_IFACE)?;
        let resolver_mac = mac_address(lab.resolver_ns(), RESOLVER_IFACE)?;
        let std::net::IpAddr::V4(client) = CLIENT_V4 else {
            bail!("the lab's client address {CLIENT_V4} is not IPv4");
        };
        let mut bytes = Vec::with_capacity(queries.len() * 96);
        let mut spans = Vec::with_capacity(queries.len());
        let ports = SOURCE_PORTS.cycle();
        for ((index, query), source_port) in queries.iter().enumerate().zip(ports) {
            // Truncation is the point: IDs wrap around.
            let id = index as u16;
            let dns = query_message(id, query)?;
            let start = bytes.len();
            PacketBuilder::ethernet2(client_mac, resolver_mac)
                .ipv4(client.octets(), destination.octets(), 64)
                .udp(source_port, DNS_PORT)
                .write(&mut bytes, &dns)
                .with_context(|| format!("building the frame for {:?}", query.name))?;
            spans.push((start, bytes.len() - start));
        }
        Ok(Self { bytes, spans })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The same frames addressed to Ethernet address `mac` instead of the resolver's: its stack
    /// discards them right after XDP as meant for another host, which makes the receiver cheap
    /// enough to find out how fast the sender alone can go.
    pub fn addressed_to(&self, mac: [u8; 6]) -> Self {
        let mut bytes = self.bytes.clone();
        for &(start, _) in &self.spans {
            bytes[start..start + 6].copy_from_slice(&mac);
        }
        Self {
            bytes,
            spans: self.spans.clone(),
        }
    }

    /// Frame `index`, as it goes on the wire.
    pub fn frame(&self, index: usize) -> &[u8] {
        let (start, len) = self.spans[index];
        &self.bytes[start..start + len]
    }
}

/// A recursive query for `query`, with DNS ID `id`.
fn query_message(id: u16, query: &Query) -> anyhow::Result<Vec<u8>> {
    let name =
        Name::from_ascii(&query.name).with_context(|| format!("bad name {:?}", query.name))?;
    let qtype = match query.qtype {
        Qtype::A => RecordType::A,
        Qtype::Aaaa => RecordType::AAAA,
        Qtype::Mx => RecordType::MX,
        Qtype::Txt => RecordType::TXT,
    };
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Question::query(name, qtype));
    message.to_vec().context("encoding a query")
}

/// How to send: `frames[i % len]` for `i` in `0..count`, at most `rate_pps` per second if given
/// (`None`: as fast as possible), stopping at `count` or `time_limit`, whichever first, from one
/// thread pinned to `cpu`.
#[derive(Clone, Copy, Debug)]
pub struct SendPlan {
    pub count: u64,
    pub rate_pps: Option<u64>,
    pub time_limit: Duration,
    pub cpu: usize,
}

/// The count bound of [`SendPlan::calibration`], in frames per second of its duration: more than
/// one thread sends, so the duration ends it.
const CALIBRATION_BOUND_PPS: f64 = 100e6;

impl SendPlan {
    /// A first, short send that measures how fast this machine sends ([`Sent::pps`]): as fast
    /// as the receiving side takes frames, for `duration`.
    pub fn calibration(duration: Duration, cpu: usize) -> Self {
        Self {
            count: (CALIBRATION_BOUND_PPS * duration.as_secs_f64()).ceil() as u64,
            rate_pps: None,
            time_limit: duration,
            cpu,
        }
    }

    /// A send meant to end at its time limit, `duration`, as fast as the receiving side takes
    /// frames: bounded in count by what a sender at `measured_pps` (seen on this machine) sends
    /// in that time, with headroom ([`count_bound`]).
    pub fn timed(duration: Duration, measured_pps: f64, cpu: usize) -> anyhow::Result<Self> {
        Ok(Self {
            count: count_bound(measured_pps, duration)?,
            rate_pps: None,
            time_limit: duration,
            cpu,
        })
    }

    /// A send meant to end at its count, every one of `count` frames, at most `rate_pps` per
    /// second if given: bounded in time by what it takes at `measured_pps` (seen on this
    /// machine) or at `rate_pps`, whichever is lower, with headroom ([`time_bound`]).
    pub fn counted(
        count: u64,
        rate_pps: Option<u64>,
        measured_pps: f64,
        cpu: usize,
    ) -> anyhow::Result<Self> {
        let expected_pps = rate_pps.map_or(measured_pps, |rate| measured_pps.min(rate as f64));
        Ok(Self {
            count,
            rate_pps,
            time_limit: time_bound(count, expected_pps)?,
            cpu,
        })
    }
}

/// What [`send`] did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    /// Frames the kernel took.
    pub frames: u64,
    pub elapsed: Duration,
    /// Times the kernel refused frames (`ENOBUFS`, a timed-out wait for room) and they were
    /// sent again.
    pub retries: u64,
}

impl Sent {
    pub fn pps(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.frames as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Sends from the lab's client namespace (AF_PACKET socket bound to vcli, sendmmsg); blocks
/// until done. Frames the kernel refuses (ENOBUFS etc.) are retried, so `frames` counts frames
/// the kernel took.
pub fn send(lab: &Lab, frames: &Frames, plan: &SendPlan) -> anyhow::Result<Sent> {
    ensure!(!frames.is_empty(), "no frames to send");
    ensure!(
        plan.rate_pps != Some(0),
        "a rate of 0 frames per second sends nothing"
    );
    add_backpressure_qdisc(lab)?;
    lab.in_client_ns(|| -> anyhow::Result<Sent> {
        pin_to_cpu(plan.cpu)?;
        let socket = PacketSocket::bind(CLIENT_IFACE)?;
        socket.send_all(frames, plan)
    })?
}

/// A FIFO on the client's veth end (veths have none by default), so a full ring on the receiving
/// side stops the queue rather than dropping frames. Idempotent.
fn add_backpressure_qdisc(lab: &Lab) -> anyhow::Result<()> {
    let limit = QDISC_LIMIT.to_string();
    let tc = program_path("tc");
    run_checked(
        &tc.to_string_lossy(),
        &[
            "-n",
            lab.client_ns(),
            "qdisc",
            "replace",
            "dev",
            CLIENT_IFACE,
            "root",
            "pfifo",
            "limit",
            &limit,
        ],
        COMMAND_TIMEOUT,
    )
    .context("adding a pfifo qdisc to the client's veth end")?;
    Ok(())
}

/// An `AF_PACKET` raw socket bound to one interface, for sending only (protocol 0 receives
/// nothing).
struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    fn bind(iface: &str) -> anyhow::Result<Self> {
        let name = CString::new(iface)?;
        // SAFETY: `name` is a NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("no interface {iface}"));
        }
        // SAFETY: socket(2) has no memory-safety preconditions.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("opening an AF_PACKET socket");
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let socket = Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };

        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = i32::try_from(ifindex)?;
        // SAFETY: `address` is a sockaddr_ll of the size passed.
        let bound = unsafe {
            libc::bind(
                fd,
                (&raw const address).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("binding to {iface}"));
        }
        // FORCE: above net.core.wmem_max; we are root.
        socket
            .set_option(libc::SO_SNDBUFFORCE, SEND_BUFFER_BYTES)
            .context("SO_SNDBUFFORCE")?;
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: libc::suseconds_t::try_from(SEND_TIMEOUT.as_micros())?,
        };
        socket
            .set_option(libc::SO_SNDTIMEO, timeout)
            .context("SO_SNDTIMEO")?;
        Ok(socket)
    }

    fn set_option<T>(&self, option: libc::c_int, value: T) -> io::Result<()> {
        // SAFETY: `value` is the type the option expects, of the size passed.
        let result = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&raw const value).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The send loop: batches of up to [`BATCH`] frames, paced against the plan's rate.
    fn send_all(&self, frames: &Frames, plan: &SendPlan) -> anyhow::Result<Sent> {
        // SAFETY: all-zero iovec and mmsghdr values are valid (null pointers, zero lengths).
        let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut messages: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let mut sent = 0u64;
        let mut retries = 0u64;
        let mut next = 0usize;
        let started = Instant::now();
        loop {
            let elapsed = started.elapsed();
            if sent >= plan.count || elapsed >= plan.time_limit {
                return Ok(Sent {
                    frames: sent,
                    elapsed,
                    retries,
                });
            }
            let mut allowed = plan.count - sent;
            if let Some(rate) = plan.rate_pps {
                let due = (elapsed.as_secs_f64() * rate as f64) as u64;
                if due <= sent {
                    pace(rate, sent, started);
                    continue;
                }
                allowed = allowed.min(due - sent);
            }
            let batch = usize::try_from(allowed).unwrap_or(BATCH).min(BATCH);
            for slot in 0..batch {
                let frame = frames.frame((next + slot) % frames.len());
                iovecs[slot] = libc::iovec {
                    // The kernel only reads it.
                    iov_base: frame.as_ptr().cast_mut().cast(),
                    iov_len: frame.len(),
                };
                messages[slot].msg_hdr.msg_iov = &raw mut iovecs[slot];
                messages[slot].msg_hdr.msg_iovlen = 1;
                messages[slot].msg_len = 0;
            }
            // SAFETY: the first `batch` messages point at live iovecs, which point at frames
            // borrowed for the call; the socket is bound, so no addresses are needed.
            let result = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    messages.as_mut_ptr(),
                    batch as libc::c_uint,
                    0,
                )
            };
            if result < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => {
                        retries += 1;
                        std::thread::yield_now();
                    }
                    _ => return Err(err).context("sendmmsg on an AF_PACKET socket"),
                }
                continue;
            }
            let taken = result as usize;
            if taken < batch {
                // The rest are sent again in the next call.
                retries += 1;
            }
            sent += taken as u64;
            next = (next + taken) % frames.len();
        }
    }
}

/// Waits until the next frame is due at `rate` frames per second: sleeps when that is far off,
/// spins when it is close (a sleep overshoots by tens of microseconds).
fn pace(rate: u64, sent: u64, started: Instant) {
    let next_due = Duration::from_secs_f64((sent + 1) as f64 / rate as f64);
    let wait = next_due.saturating_sub(started.elapsed());
    if wait > Duration::from_micros(200) {
        std::thread::sleep(wait - Duration::from_micros(100));
    } else {
        std::hint::spin_loop();
    }
}

/// An interface's packet counters, from `/sys/class/net/<iface>/statistics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkCounters {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
}

impl LinkCounters {
    /// Reads `iface`'s counters in `namespace`.
    pub fn read(namespace: &str, iface: &str) -> anyhow::Result<Self> {
        let read = |counter: &str| -> anyhow::Result<u64> {
            let path = format!("/sys/class/net/{iface}/statistics/{counter}");
            let text = read_in_namespace(namespace, &path)?;
            text.trim()
                .parse()
                .with_context(|| format!("parsing {path}: {text:?}"))
        };
        Ok(Self {
            rx_packets: read("rx_packets")?,
            rx_dropped: read("rx_dropped")?,
            tx_packets: read("tx_packets")?,
            tx_dropped: read("tx_dropped")?,
        })
    }

    /// What changed between `earlier` and `self`.
    pub fn since(&self, earlier: &LinkCounters) -> LinkCounters {
        LinkCounters {
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            rx_dropped: self.rx_dropped.saturating_sub(earlier.rx_dropped),
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
            tx_dropped: self.tx_dropped.saturating_sub(earlier.tx_dropped),
        }
    }
}

/// The id of the XDP program attached to the resolver's veth end (`ip -j link` reports it), so a
/// bench can read the statistics of the program a daemon attached there and of no other.
pub fn resolver_xdp_program_id(lab: &Lab) -> anyhow::Result<u32> {
    let ip = program_path("ip");
    let json = run_checked(
        &ip.to_string_lossy(),
        &[
            "-n",
            lab.resolver_ns(),
            "-j",
            "link",
            "show",
            "dev",
            RESOLVER_IFACE,
        ],
        COMMAND_TIMEOUT,
    )?;
    let links: serde_json::Value =
        serde_json::from_str(&json).with_context(|| format!("parsing `ip -j link`: {json}"))?;
    let xdp = &links[0]["xdp"];
    // One program: xdp.prog; several (or a named mode): xdp.attached[].prog.
    let id = xdp["prog"]["id"]
        .as_u64()
        .or_else(|| xdp["attached"][0]["prog"]["id"].as_u64())
        .with_context(|| format!("no XDP program on {RESOLVER_IFACE}: {json}"))?;
    Ok(u32::try_from(id)?)
}

/// How often [`wait_until_received`] reads the counters.
const RECEIVE_POLL: Duration = Duration::from_millis(20);

/// Waits until the resolver's veth end has received `frames` frames since `before` was read, and
/// returns its counters' change. [`send`] returns once the kernel has taken the last frame, but up
/// to a socket buffer's worth may still wait in the qdisc and the veth's ring for the receiving
/// side (with threaded NAPI, a kernel thread the scheduler may hold back): read the counters, or
/// stop a counter, only after this. Fails after `timeout`, saying what arrived.
pub fn wait_until_received(
    lab: &Lab,
    before: &LinkCounters,
    frames: u64,
    timeout: Duration,
) -> anyhow::Result<LinkCounters> {
    let deadline = Instant::now() + timeout;
    loop {
        let delta = LinkCounters::read(lab.resolver_ns(), RESOLVER_IFACE)?.since(before);
        if delta.rx_packets >= frames {
            return Ok(delta);
        }
        if Instant::now() >= deadline {
            bail!(
                "{RESOLVER_IFACE} received {} of {frames} frames within {timeout:?} ({delta:?})",
                delta.rx_packets
            );
        }
        std::thread::sleep(RECEIVE_POLL);
    }
}

/// A sysfs file as seen from `namespace` (`ip netns exec` mounts that namespace's /sys).
fn read_in_namespace(namespace: &str, path: &str) -> anyhow::Result<String> {
    let ip = program_path("ip");
    run_checked(
        &ip.to_string_lossy(),
        &["netns", "exec", namespace, "cat", path],
        COMMAND_TIMEOUT,
    )
}

/// The MAC address of `iface` in `namespace`.
fn mac_address(namespace: &str, iface: &str) -> anyhow::Result<[u8; 6]> {
    let text = read_in_namespace(namespace, &format!("/sys/class/net/{iface}/address"))?;
    let octets = text
        .trim()
        .split(':')
        .map(|octet| u8::from_str_radix(octet, 16))
        .collect::<Result<Vec<u8>, _>>()
        .with_context(|| format!("parsing the MAC address {text:?} of {iface}"))?;
    octets
        .try_into()
        .map_err(|octets| anyhow::anyhow!("{iface} has a MAC address of odd length: {octets:?}"))
}

/// Whether the resolver's veth end polls in its own kernel thread (threaded NAPI, `true`) or in
/// softirq context on the CPU that raised it (`false`, the default), which for a veth is the
/// sender's CPU. A veth has a NAPI context only while an XDP program is attached, so only then
/// can this switch threading on.
pub fn set_receive_threaded(lab: &Lab, threaded: bool) -> anyhow::Result<()> {
    let path = format!("/sys/class/net/{RESOLVER_IFACE}/threaded");
    // Without a NAPI context the kernel refuses any write, even of the value it holds.
    let current = read_in_namespace(lab.resolver_ns(), &path)?;
    if current.trim() == u8::from(threaded).to_string() {
        return Ok(());
    }
    let ip = program_path("ip");
    let script = format!("echo {} > {path}", u8::from(threaded));
    run_checked(
        &ip.to_string_lossy(),
        &["netns", "exec", lab.resolver_ns(), "sh", "-c", &script],
        COMMAND_TIMEOUT,
    )
    .with_context(|| format!("writing {} to {path}", u8::from(threaded)))?;
    Ok(())
}

/// Makes the resolver's veth end poll in its own kernel thread and pins that thread to `cpu`,
/// so receiving runs beside the sender rather than in its softirqs. Call it once an XDP program
/// is attached (the thread exists only then). Returns the pinned threads' pids.
pub fn receive_in_thread_on_cpu(lab: &Lab, cpu: usize) -> anyhow::Result<Vec<u32>> {
    set_receive_threaded(lab, true)?;
    // Named napi/<device>-<NAPI id>; the lab's device names are the same in every lab, so with
    // labs side by side this pins theirs too, to the same CPU.
    let prefix = format!("napi/{RESOLVER_IFACE}-");
    let mut pinned = Vec::new();
    for entry in std::fs::read_dir("/proc").context("listing /proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(&prefix) {
            continue;
        }
        pin_pid_to_cpu(pid, cpu).with_context(|| format!("pinning {} ({pid})", comm.trim()))?;
        pinned.push(pid);
    }
    ensure!(
        !pinned.is_empty(),
        "no {prefix}* kernel thread: is an XDP program attached to {RESOLVER_IFACE}?"
    );
    Ok(pinned)
}

fn pin_pid_to_cpu(pid: u32, cpu: usize) -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in range for cpu < 1024.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(
            libc::pid_t::try_from(pid)?,
            size_of::<libc::cpu_set_t>(),
            &set,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error()).context("sched_setaffinity");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{RATE_HEADROOM, TIME_SLACK};

    #[test]
    fn a_counted_send_is_bounded_by_the_slower_of_its_pace_and_the_machine() {
        // Paced below what the machine sends: the pace sets the time.
        let paced = SendPlan::counted(1_000_000, Some(100_000), 1e6, 0).unwrap();
        assert_eq!(
            paced.time_limit,
            Duration::from_secs_f64(10.0 * RATE_HEADROOM) + TIME_SLACK
        );
        // Asked for more than the machine sends: the machine does.
        let fast = SendPlan::counted(1_000_000, Some(1_000_000), 50_000.0, 0).unwrap();
        assert_eq!(
            fast.time_limit,
            Duration::from_secs_f64(20.0 * RATE_HEADROOM) + TIME_SLACK
        );
        assert_eq!(fast.count, 1_000_000);
        assert!(SendPlan::counted(1, None, 0.0, 0).is_err());
    }

    #[test]
    fn a_timed_send_is_bounded_in_count_past_what_the_machine_sends_in_its_time() {
        // The veth part once sent a fixed 5,000,000 frames; at 2 Mpps that is 2.5 s, not 5.
        let plan = SendPlan::timed(Duration::from_secs(5), 2e6, 0).unwrap();
        assert_eq!(plan.time_limit, Duration::from_secs(5));
        assert!(plan.count as f64 >= 2e6 * 5.0 * RATE_HEADROOM);
        let calibration = SendPlan::calibration(Duration::from_millis(500), 0);
        assert_eq!(calibration.time_limit, Duration::from_millis(500));
        assert!(calibration.count >= 50_000_000);
    }
}
