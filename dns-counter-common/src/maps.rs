//! Names and layouts of the BPF maps, so the loader cannot drift from the program.
//!
//! Counting is split into two map sets (0 and 1). The program counts into the set named by
//! `Config::active_set`; at the end of an interval the daemon flips it, waits for an RCU grace
//! period (no program still runs against the old set), then drains and clears the idle set.
//! Names are keyed by a keyed 64-bit SipHash of the folded wire name, so a lookup hashes 8 bytes,
//! not 256; the name itself reaches the daemon once per set through the `NAMES` ring buffer.
//! With `--clients`, every query counted by name is also counted under its client's prefix in
//! the set's `CLIENTS` map.

use core::mem::size_of;

use crate::walk::{IpVersion, Source};

pub const PROGRAM_NAME: &str = "dns_counter";
/// The same count at the tc ingress hook (`--hook tc`).
pub const TC_PROGRAM_NAME: &str = "dns_counter_tc";

/// `Array<Config>` with one entry.
pub const CONFIG_MAP: &str = "CONFIG";
/// `HashMap<u64 name hash, u64 count>` for set 0 and set 1, counted with atomic adds.
pub const COUNTS_MAPS: [&str; 2] = ["COUNTS_0", "COUNTS_1"];
/// `PerCpuArray<u64>`: `STATS_PER_SET` slots for set 0, then for set 1.
pub const STATS_MAP: &str = "STATS";
/// `PerCpuArray<u64>`: the counters of qtypes below `QTYPE_PER_CPU_SLOTS` for set 0, then for
/// set 1.
pub const QTYPES_MAP: &str = "QTYPES";
/// `Array<u64>`: `QTYPE_SLOTS` counters for set 0, then for set 1, shared by all CPUs (atomic
/// adds); only those of qtypes from `QTYPE_PER_CPU_SLOTS` on are used.
pub const QTYPES_SHARED_MAP: &str = "QTYPES_SHARED";
/// `RingBuf` of `NameRecord` headers, each followed by `len` bytes of wire name.
pub const NAMES_MAP: &str = "NAMES";
/// `PerCpuHashMap<ClientKey, u64 count>` for set 0 and set 1 (`--clients`).
pub const CLIENTS_MAPS: [&str; 2] = ["CLIENTS_0", "CLIENTS_1"];
/// `PerCpuArray<Scratch>` with one entry: room to copy a name out of the packet.
pub const SCRATCH_MAP: &str = "SCRATCH";
/// `Array<u64>` of `PORT_WORDS` words: bit `port % 64` of word `port / 64` is set for each
/// destination port counted (`--port`).
pub const PORTS_MAP: &str = "PORTS";
pub const PORT_WORDS: u32 = 65536 / 64;
/// The port counted when none is named.
pub const DEFAULT_PORT: u16 = 53;

/// Default capacity of each counts map (`--max-names`).
pub const DEFAULT_MAX_NAMES: u32 = 1_000_000;
/// Capacity of each clients map with `--clients`: client prefixes per interval. Queries from
/// further new prefixes are counted by name as usual and under `STAT_CLIENTS_UNTRACKED`.
pub const MAX_CLIENT_PREFIXES: u32 = 65_536;
/// Size of the names ring buffer: about 500k new names of typical length before the daemon reads.
pub const NAMES_RING_BYTES: u32 = 32 << 20;
/// Unread bytes in the names ring from which the program wakes the daemon. Below it the program
/// asks for no wakeup: one per new name (an irq_work and a context switch each) cost more than
/// the names; the daemon reads the ring every `NAMES_READ_PERIOD_MS` anyway.
pub const NAMES_WAKEUP_BYTES: u64 = (NAMES_RING_BYTES / 8) as u64;
/// How often the daemon reads the names ring without being woken.
pub const NAMES_READ_PERIOD_MS: u64 = 100;

/// Every qtype: one slot each per set.
pub const QTYPE_SLOTS: u32 = 1 << 16;
/// Qtypes below this (A, AAAA, HTTPS and nearly every other in use) are counted per CPU, the
/// rest in the shared counters: see `QTYPES` in the program.
pub const QTYPE_PER_CPU_SLOTS: u32 = 256;

/// Fixed slots at the start of each set's stats; reason `r` lives at `STAT_REASONS + r`.
pub const STAT_PACKETS: u32 = 0;
pub const STAT_COUNTED: u32 = 1;
pub const STAT_REASONS: u32 = 2;
/// After the reasons: queries counted by name whose client prefix found no room in the clients
/// map (`--clients`). Not a reason a packet went uncounted: these queries were counted.
pub const STAT_CLIENTS_UNTRACKED: u32 = STAT_REASONS + crate::reason::REASON_COUNT;
pub const STATS_PER_SET: u32 = STAT_CLIENTS_UNTRACKED + 1;

// The stats slots cannot overlap: the fixed ones first, then one per reason, then the clients'.
const _: () = assert!(STAT_PACKETS < STAT_REASONS && STAT_COUNTED < STAT_REASONS);
const _: () = assert!(STAT_PACKETS != STAT_COUNTED);
const _: () = assert!(STAT_REASONS + crate::reason::REASON_COUNT <= STAT_CLIENTS_UNTRACKED);
const _: () = assert!(STAT_CLIENTS_UNTRACKED < STATS_PER_SET);

// Defined with the name they size; kept here too, beside the other layouts the program and the
// daemon share.
pub use crate::qname::{MAX_NAME_LEN, NAME_BUF_LEN, NAME_WORDS};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Map set the program counts into: 0 or 1.
    pub active_set: u32,
    /// 1: also count each query counted by name under its client prefix (`--clients`); 0: not.
    pub count_clients: u32,
    /// SipHash key, random per daemon run, so nobody can craft colliding names.
    pub hash_key: [u64; 2],
    /// The bytes of an IPv4 / IPv6 source address that its client prefix keeps, in the layout
    /// of `ClientKey::addr` (see `client_mask`).
    pub client_mask_v4: [u64; 2],
    pub client_mask_v6: [u64; 2],
}
const _: () = assert!(size_of::<Config>() == 56);

impl Config {
    /// The clients map key of `source`: its address masked to its family's client prefix.
    #[inline(always)]
    pub fn client_key(&self, source: &Source) -> ClientKey {
        match source.version {
            IpVersion::V4 => ClientKey::new(CLIENT_FAMILY_V4, source.addr, self.client_mask_v4),
            IpVersion::V6 => ClientKey::new(CLIENT_FAMILY_V6, source.addr, self.client_mask_v6),
        }
    }
}

/// IP version of a client address, as `ClientKey::family` holds it.
pub const CLIENT_FAMILY_V4: u32 = 4;
pub const CLIENT_FAMILY_V6: u32 = 6;

/// Key of the clients maps: a source address masked to its client prefix.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The address in network byte order, host bits cleared, read as two native-endian words;
    /// an IPv4 address fills the first 4 bytes and leaves the rest zero.
    pub addr: [u64; 2],
    /// `CLIENT_FAMILY_V4` or `CLIENT_FAMILY_V6`.
    pub family: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<ClientKey>() == 24);

impl ClientKey {
    /// The key of `addr` (16 bytes in network order: IPv4 in the first 4) under `mask`
    /// (`client_mask` of the family's prefix length). Built from zeroed memory, so the padding
    /// the kernel hashes is always zero.
    #[inline(always)]
    pub fn new(family: u32, addr: [u8; 16], mask: [u64; 2]) -> Self {
        let (high, low) = halves(addr);
        let addr = [
            u64::from_ne_bytes(high) & mask[0],
            u64::from_ne_bytes(low) & mask[1],
        ];
        Self {
            addr,
            family,
            ..Self::default()
        }
    }

    /// The prefix's address (host bits cleared); `None` for an unknown family.
    pub fn ip(&self) -> Option<core::net::IpAddr> {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.addr[0].to_ne_bytes());
        bytes[8..].copy_from_slice(&self.addr[1].to_ne_bytes());
        match self.family {
            CLIENT_FAMILY_V4 => {
                Some(core::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into())
            }
            CLIENT_FAMILY_V6 => Some(core::net::Ipv6Addr::from(bytes).into()),
            _ => None,
        }
    }
}

/// The first and last 8 bytes.
#[inline(always)]
const fn halves(bytes: [u8; 16]) -> ([u8; 8], [u8; 8]) {
    let (mut high, mut low) = ([0u8; 8], [0u8; 8]);
    let mut i = 0;
    while i < 8 {
        high[i] = bytes[i];
        low[i] = bytes[i + 8];
        i += 1;
    }
    (high, low)
}

/// The mask keeping the first `prefix_len` bits of an address, in `ClientKey::addr`'s layout;
/// `prefix_len` is capped at 32 for IPv4 and 128 for IPv6.
pub const fn client_mask(family: u32, prefix_len: u8) -> [u64; 2] {
    let max = if family == CLIENT_FAMILY_V4 { 32 } else { 128 };
    let bits = if (prefix_len as u32) < max {
        prefix_len as u32
    } else {
        max
    };
    let mut bytes = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        let start = i as u32 * 8;
        bytes[i] = if bits >= start + 8 {
            0xff
        } else if bits > start {
            0xffu8 << (8 - (bits - start))
        } else {
            0
        };
        i += 1;
    }
    let (high, low) = halves(bytes);
    [u64::from_ne_bytes(high), u64::from_ne_bytes(low)]
}

/// Header of a ring buffer record announcing a name new to a set.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameRecord {
    pub hash: u64,
    pub set: u32,
    /// Length of the wire name that follows, terminating zero included.
    pub len: u32,
}
const _: () = assert!(size_of::<NameRecord>() == 16);

/// Per-CPU scratch space: a ring buffer record being assembled. `name` follows the header so the
/// record can be sent with one copy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Scratch {
    pub record: NameRecord,
    pub name: [u64; NAME_WORDS],
}
const _: () = assert!(size_of::<Scratch>() == 16 + NAME_BUF_LEN);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), no padding beyond explicit fields, every bit pattern valid.
    unsafe impl aya::Pod for super::Config {}
    unsafe impl aya::Pod for super::NameRecord {}
    unsafe impl aya::Pod for super::ClientKey {}
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(addr: Ipv4Addr, prefix_len: u8) -> ClientKey {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&addr.octets());
        ClientKey::new(
            CLIENT_FAMILY_V4,
            bytes,
            client_mask(CLIENT_FAMILY_V4, prefix_len),
        )
    }

    fn v6(addr: Ipv6Addr, prefix_len: u8) -> ClientKey {
        ClientKey::new(
            CLIENT_FAMILY_V6,
            addr.octets(),
            client_mask(CLIENT_FAMILY_V6, prefix_len),
        )
    }

    #[test]
    fn keys_keep_exactly_the_prefix_bits() {
        let addr = Ipv4Addr::new(192, 0, 2, 201);
        for len in 0..=32u8 {
            let want = if len == 0 {
                0
            } else {
                u32::from(addr) & (u32::MAX << (32 - len))
            };
            assert_eq!(v4(addr, len).ip(), Some(IpAddr::V4(want.into())), "/{len}");
        }
        let addr: Ipv6Addr = "2001:db8:1234:5678:9abc:def0:1357:9bdf".parse().unwrap();
        for len in 0..=128u8 {
            let want = if len == 0 {
                0
            } else {
                u128::from(addr) & (u128::MAX << (128 - len))
            };
            assert_eq!(v6(addr, len).ip(), Some(IpAddr::V6(want.into())), "/{len}");
        }
    }

    #[test]
    fn familiar_prefixes() {
        assert_eq!(
            v4(Ipv4Addr::new(192, 0, 2, 77), 24).ip(),
            Some("192.0.2.0".parse().unwrap())
        );
        let addr: Ipv6Addr = "2001:db8:0:1ff:1:2:3:4".parse().unwrap();
        assert_eq!(v6(addr, 56).ip(), Some("2001:db8:0:100::".parse().unwrap()));
        // Lengths past the family's are capped: an IPv4 key never holds bytes beyond the 4th.
        assert_eq!(
            client_mask(CLIENT_FAMILY_V4, 64),
            client_mask(CLIENT_FAMILY_V4, 32)
        );
        assert_eq!(client_mask(CLIENT_FAMILY_V4, 32)[1], 0);
    }

    #[test]
    fn same_prefix_same_key_and_families_apart() {
        assert_eq!(
            v4(Ipv4Addr::new(10, 1, 2, 3), 24),
            v4(Ipv4Addr::new(10, 1, 2, 250), 24)
        );
        assert_ne!(
            v4(Ipv4Addr::new(10, 1, 2, 3), 24),
            v4(Ipv4Addr::new(10, 1, 3, 3), 24)
        );
        // ::a01:200/24-ish bytes equal to 10.1.2.0 in the first 4 bytes still differ by family.
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&[10, 1, 2, 0]);
        let as_v6 = ClientKey::new(CLIENT_FAMILY_V6, bytes, client_mask(CLIENT_FAMILY_V6, 128));
        assert_ne!(as_v6, v4(Ipv4Addr::new(10, 1, 2, 0), 32));
        assert_eq!(
            ClientKey {
                family: 5,
                ..ClientKey::default()
            }
            .ip(),
            None
        );
    }
}
