//! Names and layouts of the BPF maps, so the loader cannot drift from the program.
//!
//! Counting is split into two map sets (0 and 1). The program counts into the set named by
//! `Config::active_set`; at the end of an interval the daemon flips it, waits for an RCU grace
//! period (no program still runs against the old set), then drains and clears the idle set.
//! Names are keyed by a keyed 64-bit SipHash of the folded wire name, so a lookup hashes 8 bytes,
//! not 256; the name itself reaches the daemon once per set through the `NAMES` ring buffer.

use core::mem::size_of;

pub const PROGRAM_NAME: &str = "dns_counter";

/// `Array<Config>` with one entry.
pub const CONFIG_MAP: &str = "CONFIG";
/// `PerCpuHashMap<u64 name hash, u64 count>` for set 0 and set 1.
pub const COUNTS_MAPS: [&str; 2] = ["COUNTS_0", "COUNTS_1"];
/// `PerCpuArray<u64>`: `STATS_PER_SET` slots for set 0, then for set 1.
pub const STATS_MAP: &str = "STATS";
/// `PerCpuArray<u64>`: 65536 qtype counters for set 0, then for set 1.
pub const QTYPES_MAP: &str = "QTYPES";
/// `RingBuf` of `NameRecord` headers, each followed by `len` bytes of wire name.
pub const NAMES_MAP: &str = "NAMES";
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
/// Size of the names ring buffer: about 500k new names of typical length before the daemon reads.
pub const NAMES_RING_BYTES: u32 = 32 << 20;

pub const QTYPE_SLOTS: u32 = 1 << 16;

/// Fixed slots at the start of each set's stats; reason `r` lives at `STAT_REASONS + r`.
pub const STAT_PACKETS: u32 = 0;
pub const STAT_COUNTED: u32 = 1;
pub const STAT_REASONS: u32 = 2;
pub const STATS_PER_SET: u32 = STAT_REASONS + crate::reason::REASON_COUNT;

/// Largest wire-form name (RFC 1035 3.1), terminating zero included.
pub const MAX_NAME_LEN: usize = 255;
/// Room for a name copied out of the packet: 32 words of 8 bytes.
pub const NAME_WORDS: usize = 32;
pub const NAME_BUF_LEN: usize = NAME_WORDS * 8;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Map set the program counts into: 0 or 1.
    pub active_set: u32,
    pub _pad: u32,
    /// SipHash key, random per daemon run, so nobody can craft colliding names.
    pub hash_key: [u64; 2],
}
const _: () = assert!(size_of::<Config>() == 24);

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
}
