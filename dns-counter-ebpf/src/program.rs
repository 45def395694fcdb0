use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::{
    EbpfContext,
    bindings::{
        BPF_NOEXIST, BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP,
        tcx_action_base::TCX_NEXT, xdp_action,
    },
    helpers::generated::{bpf_skb_load_bytes, bpf_xdp_load_bytes},
    macros::{classifier, map, xdp},
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::{error, warn};
use dns_counter_common::{
    Reason,
    maps::{
        ClientKey, Config, DEFAULT_MAX_NAMES, MAX_CLIENT_PREFIXES, NAME_BUF_LEN, NAME_WORDS,
        NAMES_RING_BYTES, NAMES_WAKEUP_BYTES, NameRecord, PORT_WORDS, QTYPE_PER_CPU_SLOTS,
        QTYPE_SLOTS, STAT_CLIENTS_UNTRACKED, STAT_COUNTED, STAT_PACKETS, STAT_REASONS,
        STATS_PER_SET, Scratch,
    },
    walk::{Packet, Query, SourceAt, locate_question, read_question, read_source},
};

/// Packet offsets beyond this are not read; keeps every offset provably bounded for the verifier.
const MAX_PACKET_OFFSET: usize = 0x3fff;
const EEXIST: i32 = 17;
const E2BIG: i32 = 7;

#[map]
static CONFIG: Array<Config> = Array::with_max_entries(1, 0);
#[map]
// One shared count per name, not one per CPU: a name costs the same kernel memory on 2 CPUs as
// on 64. The price is an atomic add, contended only by a name hot on several CPUs at once.
static COUNTS_0: HashMap<u64, u64> = HashMap::with_max_entries(DEFAULT_MAX_NAMES, 0);
#[map]
static COUNTS_1: HashMap<u64, u64> = HashMap::with_max_entries(DEFAULT_MAX_NAMES, 0);
#[map]
static CLIENTS_0: PerCpuHashMap<ClientKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_CLIENT_PREFIXES, 0);
#[map]
static CLIENTS_1: PerCpuHashMap<ClientKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_CLIENT_PREFIXES, 0);
#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2 * STATS_PER_SET, 0);
#[map]
// Qtypes split in two so their memory does not grow with the CPUs and the hot counters are never
// contended: those below 256 (A, AAAA, HTTPS, nearly every query) per CPU, 2 KiB per CPU and
// set; the rest on counters shared by all CPUs with atomic adds, 512 KiB per set whatever the
// CPU count, contended only by queries of rare qtypes on several CPUs at once. One per-CPU
// counter for every qtype took 1 MiB per possible CPU (64 MiB on 64); one shared counter for
// every qtype would make all CPUs contend on the cache lines of A and AAAA.
static QTYPES: PerCpuArray<u64> = PerCpuArray::with_max_entries(2 * QTYPE_PER_CPU_SLOTS, 0);
#[map]
static QTYPES_SHARED: Array<u64> = Array::with_max_entries(2 * QTYPE_SLOTS, 0);
#[map]
static NAMES: RingBuf = RingBuf::with_byte_size(NAMES_RING_BYTES, 0);
#[map]
static PORTS: Array<u64> = Array::with_max_entries(PORT_WORDS, 0);
#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);
/// One word the verifier cannot see through; see `Packet::opaque`.
#[map]
static OPAQUE: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

struct XdpPacket<'a>(&'a XdpContext);

impl XdpPacket<'_> {
    // Volatile reads keep LLVM from proving one bounds check from another (e.g. "the DNS header
    // fits, so its flags fit") and dropping it: the verifier needs each check next to its load.
    #[inline(always)]
    fn data(&self) -> usize {
        // SAFETY: ctx points at the xdp_md the kernel passed in.
        unsafe { core::ptr::read_volatile(&raw const (*self.0.ctx).data) as usize }
    }

    #[inline(always)]
    fn data_end(&self) -> usize {
        // SAFETY: as above.
        unsafe { core::ptr::read_volatile(&raw const (*self.0.ctx).data_end) as usize }
    }
}

impl Packet for XdpPacket<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.data_end() - self.data()
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        if offset > MAX_PACKET_OFFSET {
            return None;
        }
        let start = self.data() + offset;
        if start + N > self.data_end() {
            return None;
        }
        // SAFETY: the N bytes at `start` lie inside the packet, checked just above.
        Some(unsafe { (start as *const [u8; N]).read_unaligned() })
    }

    #[inline(always)]
    fn copy_name(&self, offset: usize, max: usize, words: &mut [u64; NAME_WORDS]) -> usize {
        let Some(n) = name_copy_len(self.len(), offset, max) else {
            return 0;
        };
        // SAFETY: `words` has room for NAME_BUF_LEN bytes and n ≤ NAME_BUF_LEN; the helper
        // checks the packet bounds itself.
        let ret = unsafe {
            bpf_xdp_load_bytes(
                self.0.ctx,
                offset as u32,
                words.as_mut_ptr().cast(),
                n as u32,
            )
        };
        if ret < 0 { 0 } else { n }
    }

    #[inline(always)]
    fn opaque(&self, value: usize) -> usize {
        opaque(value)
    }
}

/// How many bytes of a name to copy from `offset` of a `len`-byte packet: at most `max` and the
/// name buffer; `None` for nothing. Each bound checked where the verifier can see it.
#[inline(always)]
fn name_copy_len(len: usize, offset: usize, max: usize) -> Option<usize> {
    if offset >= len || offset > MAX_PACKET_OFFSET {
        return None;
    }
    let n = core::cmp::min(core::cmp::min(len - offset, max), NAME_BUF_LEN);
    (n != 0 && n <= NAME_BUF_LEN).then_some(n)
}

/// `value`, through a map slot the verifier cannot see through; see `Packet::opaque`.
#[inline(always)]
fn opaque(value: usize) -> usize {
    match OPAQUE.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, used only within this program run.
        Some(cell) => unsafe {
            core::ptr::write_volatile(cell, value as u64);
            core::ptr::read_volatile(cell) as usize
        },
        None => value,
    }
}

/// A packet at the tc hook, read only through `bpf_skb_load_bytes`: direct access covers just the
/// linear head of an skb, and a query may lie past it.
struct SkbPacket<'a>(&'a TcContext);

impl Packet for SkbPacket<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len() as usize
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        if offset > MAX_PACKET_OFFSET {
            return None;
        }
        self.0.load::<[u8; N]>(offset).ok()
    }

    #[inline(always)]
    fn copy_name(&self, offset: usize, max: usize, words: &mut [u64; NAME_WORDS]) -> usize {
        let Some(n) = name_copy_len(self.len(), offset, max) else {
            return 0;
        };
        // SAFETY: `words` has room for NAME_BUF_LEN bytes and n ≤ NAME_BUF_LEN; the helper
        // checks the packet bounds itself.
        let ret = unsafe {
            bpf_skb_load_bytes(
                self.0.skb.skb.cast(),
                offset as u32,
                words.as_mut_ptr().cast(),
                n as u32,
            )
        };
        if ret < 0 { 0 } else { n }
    }

    #[inline(always)]
    fn opaque(&self, value: usize) -> usize {
        opaque(value)
    }
}

#[inline(always)]
fn counted_port(port: u16) -> bool {
    PORTS
        .get(u32::from(port >> 6))
        .is_some_and(|word| word & (1 << (port & 63)) != 0)
}

#[xdp]
pub fn dns_counter(ctx: XdpContext) -> u32 {
    count_packet(&XdpPacket(&ctx), &ctx);
    xdp_action::XDP_PASS
}

/// The same count at the tc ingress hook (`--hook tc`), beside an XDP program that holds the
/// interface. A passive link in the chain: TCX_NEXT lets the programs and filters behind it see
/// the packet (TC_ACT_OK would end the chain there); on the legacy clsact path the same value is
/// TC_ACT_UNSPEC, which goes on to the next filter too.
#[classifier]
pub fn dns_counter_tc(ctx: TcContext) -> i32 {
    count_packet(&SkbPacket(&ctx), &ctx);
    TCX_NEXT
}

#[inline(always)]
fn bump_stat(set: u32, slot: u32) {
    bump_stat_from(set, slot);
}

/// Adds one to a stat; returns what this CPU's slot held before (0: the first this interval, as
/// the daemon zeroes a set's stats when it drains it).
#[inline(always)]
fn bump_stat_from(set: u32, slot: u32) -> u64 {
    match STATS.get_ptr_mut(set * STATS_PER_SET + slot) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        Some(counter) => unsafe {
            let before = *counter;
            *counter = before + 1;
            before
        },
        None => 1,
    }
}

#[inline(always)]
fn count_packet<P: Packet, C: EbpfContext>(packet: &P, ctx: &C) {
    let Some(config) = CONFIG.get(0) else { return };
    let set = config.active_set & 1;
    bump_stat(set, STAT_PACKETS);
    match count_query(packet, ctx, set, config.hash_key) {
        Ok(source) => {
            bump_stat(set, STAT_COUNTED);
            // Without --clients, this check is all that clients cost.
            if config.count_clients != 0 {
                count_client(packet, set, config, source);
            }
        }
        Err(reason) => {
            let before = bump_stat_from(set, STAT_REASONS + reason.index());
            // Rare events, said once an interval per CPU: a line in the daemon's log, not a cost
            // on the packets that count.
            if matches!(reason, Reason::NameTableFull | Reason::NameBufferFull) && before == 0 {
                say_first(ctx, reason);
            }
        }
    }
}

/// The first query of the interval (on this CPU) that a full table or ring left uncounted by
/// name, in the daemon's log through aya-log.
#[inline(never)]
fn say_first<C: EbpfContext>(ctx: &C, reason: Reason) {
    if matches!(reason, Reason::NameTableFull) {
        warn!(
            ctx,
            "the name table is full: new names go uncounted by name (name_table_full) for the rest of the interval; a larger --max-names makes room"
        );
    } else {
        warn!(
            ctx,
            "the names ring buffer is full: new names go uncounted by name (name_buffer_full) until the daemon has read it"
        );
    }
}

/// Counts the query just counted by name, in `set`, under its client's prefix. Every query
/// counted by name is counted here or under `STAT_CLIENTS_UNTRACKED`, so the clients always sum
/// to the names. A function of its own: the second map's lookup and insert stay out of the
/// name path's code.
#[inline(never)]
fn count_client<P: Packet>(packet: &P, set: u32, config: &Config, at: SourceAt) {
    let Ok(source) = read_source(packet, at) else {
        return bump_stat(set, STAT_CLIENTS_UNTRACKED);
    };
    let key = config.client_key(&source);
    // One lookup call per map, as for names.
    let count = if set == 0 {
        CLIENTS_0.get_ptr_mut(&key)
    } else {
        CLIENTS_1.get_ptr_mut(&key)
    };
    if let Some(count) = count {
        // SAFETY: this CPU's value of a per-CPU map.
        unsafe { *count += 1 };
        return;
    }
    let clients = if set == 0 { &CLIENTS_0 } else { &CLIENTS_1 };
    let counted = match clients.insert(&key, &1, BPF_NOEXIST as u64) {
        Ok(()) => true,
        // Another CPU inserted it first: count on top of its entry.
        Err(err) if err == -EEXIST => match clients.get_ptr_mut(&key) {
            Some(count) => {
                // SAFETY: this CPU's value of a per-CPU map.
                unsafe { *count += 1 };
                true
            }
            None => false,
        },
        // The map is full (E2BIG).
        Err(_) => false,
    };
    if !counted {
        bump_stat(set, STAT_CLIENTS_UNTRACKED);
    }
}

/// Counts the query by name; returns where its source address lies.
#[inline(always)]
fn count_query<P: Packet, C: EbpfContext>(
    packet: &P,
    ctx: &C,
    set: u32,
    key: [u64; 2],
) -> Result<SourceAt, Reason> {
    let question = locate_question(packet, counted_port)?;
    // Index 0 of a one-entry array always exists; were it missing, there is no room for the name.
    let scratch = SCRATCH.get_ptr_mut(0).ok_or(Reason::NameBufferFull)?;
    // SAFETY: per-CPU scratch, not shared with another running program.
    let scratch = unsafe { &mut *scratch };
    let query = read_question(packet, question, key, &mut scratch.name)?;
    // One lookup call per map, so the verifier can turn each into a direct call.
    let count = if set == 0 {
        COUNTS_0.get_ptr_mut(&query.hash)
    } else {
        COUNTS_1.get_ptr_mut(&query.hash)
    };
    match count {
        Some(count) => add_one(count),
        None => {
            let counts = if set == 0 { &COUNTS_0 } else { &COUNTS_1 };
            announce_and_insert(ctx, set, &query, scratch, counts)?;
        }
    }
    count_qtype(set, query.qtype);
    Ok(question.source)
}

/// Counts a query counted by name under its qtype, in exactly one of the two qtype maps.
#[inline(always)]
fn count_qtype(set: u32, qtype: u16) {
    let qtype = u32::from(qtype);
    if qtype < QTYPE_PER_CPU_SLOTS {
        if let Some(count) = QTYPES.get_ptr_mut(set * QTYPE_PER_CPU_SLOTS + qtype) {
            // SAFETY: per-CPU slot.
            unsafe { *count += 1 };
        }
    } else if let Some(count) = QTYPES_SHARED.get_ptr_mut(set * QTYPE_SLOTS + qtype) {
        add_one(count);
    }
}

/// First sight of a name in this set: hand the name to the daemon, then start its count. Only a
/// name the daemon has been told about can have a count, so every count is reported by name.
#[inline(never)]
fn announce_and_insert<C: EbpfContext>(
    ctx: &C,
    set: u32,
    query: &Query,
    scratch: &mut Scratch,
    counts: &HashMap<u64, u64>,
) -> Result<(), Reason> {
    let name_len = query.name_len & 0xff;
    scratch.record = NameRecord {
        hash: query.hash,
        set,
        len: name_len as u32,
    };
    let record_len = size_of::<NameRecord>() + name_len;
    // SAFETY: `Scratch` is the header followed by NAME_BUF_LEN name bytes; record_len fits.
    let bytes = unsafe {
        core::slice::from_raw_parts((scratch as *const Scratch).cast::<u8>(), record_len)
    };
    let wakeup = if NAMES.query(BPF_RB_AVAIL_DATA as u64) >= NAMES_WAKEUP_BYTES {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    if NAMES.output::<[u8]>(bytes, wakeup as u64).is_err() {
        return Err(Reason::NameBufferFull);
    }
    match counts.insert(&query.hash, &1, BPF_NOEXIST as u64) {
        Ok(()) => Ok(()),
        // Another CPU inserted it first: count on top of its entry.
        Err(err) if err == -EEXIST => match counts.get_ptr_mut(&query.hash) {
            Some(count) => {
                add_one(count);
                Ok(())
            }
            None => Err(Reason::NameTableFull),
        },
        Err(err) => {
            // E2BIG is the table full; anything else is unexpected, said once an interval per
            // CPU as the full table is.
            let first = STATS
                .get(set * STATS_PER_SET + STAT_REASONS + Reason::NameTableFull.index())
                .is_some_and(|count| *count == 0);
            if err != -E2BIG && first {
                error!(
                    ctx,
                    "adding a name to the name table failed with errno {}: counted as name_table_full",
                    -err
                );
            }
            Err(Reason::NameTableFull)
        }
    }
}

/// Adds one to a count other CPUs may be adding to as well.
#[inline(always)]
fn add_one(count: *mut u64) {
    // SAFETY: a value pointer from a map lookup, valid and 8-byte aligned for this program run.
    // The old value is not used: the verifier accepts that as a plain atomic add on every kernel.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(count, 1) };
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
