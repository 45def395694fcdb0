//! Drains one interval out of the kernel: flip the active map set, wait for programs still on
//! the old set to finish, then read the old set, and clear it once the report is out. No query is
//! lost or counted twice: every program run counts entirely into the set it read at its start,
//! and a set is always cleared before the program is flipped back into it.
//!
//! Reading and clearing are apart because deleting a million entries costs the kernel about as
//! much again as reading them, and nothing writes the idle set until the next flip, an interval
//! later: the daemon reads the set ([`Drainer::flip_and_drain`]), builds and writes its report,
//! and only then clears it ([`Drainer::clear_idle`]). The set's few stats and qtype slots are
//! zeroed as they are read.

use std::{
    collections::{HashMap, hash_map::Entry},
    hash::{BuildHasher, Hasher},
    io,
    os::fd::{AsFd as _, OwnedFd},
    time::SystemTime,
};

use aya::{
    Ebpf,
    maps::{
        Array, HashMap as KernelHashMap, IterableMap as _, MapData, MapError, PerCpuArray,
        PerCpuHashMap, RingBuf,
    },
};
use dns_counter_common::{
    Reason,
    maps::{
        CLIENTS_MAPS, CONFIG_MAP, COUNTS_MAPS, ClientKey, Config, NAMES_MAP, NameRecord,
        QTYPE_PER_CPU_SLOTS, QTYPE_SLOTS, QTYPES_MAP, QTYPES_SHARED_MAP, STAT_CLIENTS_UNTRACKED,
        STAT_COUNTED, STAT_PACKETS, STAT_REASONS, STATS_MAP, STATS_PER_SET,
    },
};
use thiserror::Error;

use dns_counter_report::interval::{ClientCounts, Interval};

use crate::kernel::{
    sys::batch::{BatchError, BatchMap},
    sys::grace::GracePeriod,
};

#[derive(Debug, Error)]
pub enum DrainError {
    #[error("the eBPF object has no map named {0}")]
    MissingMap(&'static str),
    #[error("cannot use map {map}")]
    Map { map: &'static str, source: MapError },
    #[error("cannot drain map {map}")]
    Batch {
        map: &'static str,
        source: BatchError,
    },
    #[error("map {map} gave {read} of its {want} slots")]
    ShortRead {
        map: &'static str,
        read: usize,
        want: u32,
    },
    #[error("cannot wait for running XDP programs")]
    Grace(#[source] io::Error),
    #[error("cannot count CPUs")]
    Cpus(#[source] io::Error),
}

fn map_err(map: &'static str) -> impl Fn(MapError) -> DrainError {
    move |source| DrainError::Map { map, source }
}

fn batch_err(map: &'static str) -> impl Fn(BatchError) -> DrainError {
    move |source| DrainError::Batch { map, source }
}

/// Every entry of a hash map with its count (summed across CPUs, for a per-CPU map), leaving the
/// map as it is: a few `bpf(2)` calls for the whole map, not two per entry.
fn read_all<K: aya::Pod>(
    map: &MapData,
    name: &'static str,
    nr_cpus: usize,
) -> Result<Vec<(K, u64)>, DrainError> {
    let batch = BatchMap::<K, u64>::new(map.fd().as_fd(), nr_cpus).map_err(batch_err(name))?;
    Ok(batch
        .lookup_all()
        .map_err(batch_err(name))?
        .sums()
        .collect())
}

/// Deletes every entry of a hash map; returns how many there were.
fn delete_all<K: aya::Pod>(
    map: &MapData,
    name: &'static str,
    nr_cpus: usize,
) -> Result<usize, DrainError> {
    let batch = BatchMap::<K, u64>::new(map.fd().as_fd(), nr_cpus).map_err(batch_err(name))?;
    Ok(batch
        .lookup_and_delete_all()
        .map_err(batch_err(name))?
        .len())
}

/// Keys that are the program's name hashes already — SipHash under a key random per run, so nobody
/// can make them collide — used as they are: hashing them again costs a million SipHash rounds at
/// every interval's end.
#[derive(Debug, Clone, Copy, Default)]
struct KernelHashed;

impl BuildHasher for KernelHashed {
    type Hasher = KernelHash;

    fn build_hasher(&self) -> KernelHash {
        KernelHash(0)
    }
}

/// The hash of a `u64` key is the key.
#[derive(Debug, Default)]
struct KernelHash(u64);

impl Hasher for KernelHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; anything else still gets a usable hash.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

/// The names the program announced for one map set.
#[derive(Default)]
struct Announced {
    /// Where each name is in `names`, by the program's hash of it.
    index: HashMap<u64, usize, KernelHashed>,
    /// In the order they came, each with its count once drained (0 until then).
    names: Vec<(Box<[u8]>, u64)>,
}

impl Announced {
    /// A name announced again (the program may, racing with itself) is kept once.
    fn add(&mut self, hash: u64, name: &[u8]) {
        if let Entry::Vacant(slot) = self.index.entry(hash) {
            slot.insert(self.names.len());
            self.names.push((name.into(), 0));
        }
    }
}

/// A map set read by [`Drainer::flip_and_drain`] and not cleared yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dirty {
    set: usize,
    /// Its clients map was read too (`--clients`).
    clients: bool,
}

/// One set's counts by name: wire name and count, and the count under names never announced.
struct Named {
    names: Vec<(Vec<u8>, u64)>,
    unnamed: u64,
}

pub struct Drainer {
    config: Array<MapData, Config>,
    counts: [KernelHashMap<MapData, u64, u64>; 2],
    clients: [PerCpuHashMap<MapData, ClientKey, u64>; 2],
    stats: PerCpuArray<MapData, u64>,
    /// Qtypes below `QTYPE_PER_CPU_SLOTS`, per CPU; the rest in `qtypes_shared`.
    qtypes: PerCpuArray<MapData, u64>,
    qtypes_shared: Array<MapData, u64>,
    names: RingBuf<MapData>,
    grace: GracePeriod,
    current: Config,
    /// Names announced by the program, per map set.
    announced: [Announced; 2],
    nr_cpus: usize,
    /// The idle set still holds the counts of the interval last drained.
    dirty: Option<Dirty>,
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, DrainError> {
    ebpf.take_map(name).ok_or(DrainError::MissingMap(name))
}

impl Drainer {
    /// Takes the counting maps out of a loaded program.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self, DrainError> {
        let config: Array<_, Config> = take(ebpf, CONFIG_MAP)?
            .try_into()
            .map_err(map_err(CONFIG_MAP))?;
        let current = config.get(&0, 0).map_err(map_err(CONFIG_MAP))?;
        let counts = [
            take(ebpf, COUNTS_MAPS[0])?
                .try_into()
                .map_err(map_err(COUNTS_MAPS[0]))?,
            take(ebpf, COUNTS_MAPS[1])?
                .try_into()
                .map_err(map_err(COUNTS_MAPS[1]))?,
        ];
        let clients = [
            take(ebpf, CLIENTS_MAPS[0])?
                .try_into()
                .map_err(map_err(CLIENTS_MAPS[0]))?,
            take(ebpf, CLIENTS_MAPS[1])?
                .try_into()
                .map_err(map_err(CLIENTS_MAPS[1]))?,
        ];
        let nr_cpus = aya::util::nr_cpus().map_err(|(_, err)| DrainError::Cpus(err))?;
        Ok(Self {
            config,
            counts,
            clients,
            stats: take(ebpf, STATS_MAP)?
                .try_into()
                .map_err(map_err(STATS_MAP))?,
            qtypes: take(ebpf, QTYPES_MAP)?
                .try_into()
                .map_err(map_err(QTYPES_MAP))?,
            qtypes_shared: take(ebpf, QTYPES_SHARED_MAP)?
                .try_into()
                .map_err(map_err(QTYPES_SHARED_MAP))?,
            names: take(ebpf, NAMES_MAP)?
                .try_into()
                .map_err(map_err(NAMES_MAP))?,
            grace: GracePeriod::new().map_err(DrainError::Grace)?,
            current,
            announced: [Announced::default(), Announced::default()],
            nr_cpus,
            dirty: None,
        })
    }

    /// A second descriptor of the names ring buffer, to wait on for readability.
    pub fn names_fd(&self) -> io::Result<OwnedFd> {
        self.names.as_fd().try_clone_to_owned()
    }

    /// Reads every name the program announced so far; returns how many records it read.
    pub fn read_names(&mut self) -> usize {
        let mut records = 0;
        while let Some(item) = self.names.next() {
            records += 1;
            let Some((header, rest)) = item.split_at_checked(size_of::<NameRecord>()) else {
                continue;
            };
            let hash = u64::from_ne_bytes(header[0..8].try_into().unwrap_or_default());
            let set = u32::from_ne_bytes(header[8..12].try_into().unwrap_or_default());
            let len = u32::from_ne_bytes(header[12..16].try_into().unwrap_or_default()) as usize;
            if let Some(name) = rest.get(..len) {
                self.announced[(set & 1) as usize].add(hash, name);
            }
        }
        records
    }

    /// Ends the interval: switches the program to the other map set and reads this one, which
    /// then holds its counts until [`Self::clear_idle`]. Call that once the report is written; if
    /// it was not called, this clears the set itself before flipping into it, so nothing is ever
    /// counted twice (the interval's end then takes the clear's time too).
    pub fn flip_and_drain(
        &mut self,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Interval, DrainError> {
        let idle = self.flip()?;
        // Counted only as the program was configured at the start (--clients).
        let count_clients = self.current.count_clients != 0;
        // From here on the set holds what this interval counted until `clear_idle`.
        self.dirty = Some(Dirty {
            set: idle as usize,
            clients: count_clients,
        });
        let Named { names, unnamed } = self.take_names(idle)?;
        let stats = take_slots(
            self.stats.map(),
            idle * STATS_PER_SET,
            STATS_PER_SET,
            self.nr_cpus,
            STATS_MAP,
        )?;
        let qtypes = self.take_qtypes(idle)?;
        let clients = if count_clients {
            Some(read_clients(
                &self.clients[idle as usize],
                CLIENTS_MAPS[idle as usize],
                stats[STAT_CLIENTS_UNTRACKED as usize],
                self.nr_cpus,
            )?)
        } else {
            None
        };

        let named: u64 = names.iter().map(|(_, count)| count).sum();
        if named + unnamed != stats[STAT_COUNTED as usize] {
            tracing::warn!(
                "names hold {} queries but the program counted {}",
                named + unnamed,
                stats[STAT_COUNTED as usize]
            );
        }
        let mut uncounted: Vec<(Reason, u64)> = Reason::ALL
            .iter()
            .map(|&reason| (reason, stats[(STAT_REASONS + reason.index()) as usize]))
            .collect();
        // Listed so the report still adds up if a name was ever lost.
        uncounted.push((Reason::NameUnknown, unnamed));
        Ok(Interval {
            start,
            end,
            packets: stats[STAT_PACKETS as usize],
            names,
            qtypes,
            uncounted,
            clients,
        })
    }

    /// The interval so far, read from the set the program counts into, which goes on counting
    /// (SIGUSR1): nothing is flipped, cleared or zeroed. Its counts are read while they grow, so
    /// `packets` is taken as the sum of what was read rather than the kernel's own figure, which
    /// runs ahead of it; a name announced since the names were read is under `name_unknown`.
    pub fn peek(&mut self, start: SystemTime, end: SystemTime) -> Result<Interval, DrainError> {
        let active = (self.current.active_set & 1) as usize;
        let counts = read_all::<u64>(self.counts[active].map(), COUNTS_MAPS[active], self.nr_cpus)?;
        // After the counts: every name counted so far has been announced by now.
        self.read_names();
        let announced = &self.announced[active];
        let mut unnamed = 0;
        let mut names = Vec::with_capacity(counts.len());
        for (key, count) in counts {
            match announced.index.get(&key) {
                Some(&at) if count != 0 => names.push((announced.names[at].0.to_vec(), count)),
                Some(_) => {}
                None => unnamed += count,
            }
        }
        let stats = read_slots(
            self.stats.map(),
            active as u32 * STATS_PER_SET,
            STATS_PER_SET,
            self.nr_cpus,
            STATS_MAP,
        )?;
        let qtypes = self.qtypes_of(active as u32, read_slots)?;
        let clients = if self.current.count_clients != 0 {
            Some(read_clients(
                &self.clients[active],
                CLIENTS_MAPS[active],
                stats[STAT_CLIENTS_UNTRACKED as usize],
                self.nr_cpus,
            )?)
        } else {
            None
        };
        let mut uncounted: Vec<(Reason, u64)> = Reason::ALL
            .iter()
            .map(|&reason| (reason, stats[(STAT_REASONS + reason.index()) as usize]))
            .collect();
        uncounted.push((Reason::NameUnknown, unnamed));
        let named: u64 = names.iter().map(|(_, count)| count).sum();
        let packets = uncounted
            .iter()
            .fold(named, |sum, (_, count)| sum.saturating_add(*count));
        Ok(Interval {
            start,
            end,
            packets,
            names,
            qtypes,
            uncounted,
            clients,
        })
    }

    /// Points the program at the other set and waits until no run still counts into the one it
    /// left, which is returned, its names read.
    fn flip(&mut self) -> Result<u32, DrainError> {
        self.clear_idle()?;
        let idle = self.current.active_set & 1;
        self.current.active_set = idle ^ 1;
        self.config
            .set(0, self.current, 0)
            .map_err(map_err(CONFIG_MAP))?;
        self.grace.wait().map_err(DrainError::Grace)?;
        self.read_names();
        Ok(idle)
    }

    /// Set `idle`'s counts under their names, and what was counted under a name never announced.
    fn take_names(&mut self, idle: u32) -> Result<Named, DrainError> {
        let mut announced = std::mem::take(&mut self.announced[idle as usize]);
        let counts = read_all::<u64>(
            self.counts[idle as usize].map(),
            COUNTS_MAPS[idle as usize],
            self.nr_cpus,
        )?;
        let mut unnamed = 0;
        for (key, count) in counts {
            match announced.index.get(&key) {
                Some(&at) => announced.names[at].1 = count,
                None => unnamed += count,
            }
        }
        // In the order the names were announced, which is the order they lie in memory: whoever
        // reads them all next (the report) streams through them instead of missing the cache on
        // each. Moved, not copied: a million names are a million allocations otherwise.
        let names = announced
            .names
            .into_iter()
            .filter(|(_, count)| *count != 0)
            .map(|(name, count)| (name.into_vec(), count))
            .collect();
        Ok(Named { names, unnamed })
    }

    /// Set `idle`'s queries per qtype, those with a count.
    fn take_qtypes(&self, idle: u32) -> Result<Vec<(u16, u64)>, DrainError> {
        self.qtypes_of(idle, take_slots)
    }

    /// Set `set`'s queries per qtype, each slot range read with `read`.
    fn qtypes_of(&self, set: u32, read: SlotReader) -> Result<Vec<(u16, u64)>, DrainError> {
        // Each qtype is counted in one map only: the low ones per CPU, the rest shared.
        let mut qtypes = read(
            self.qtypes.map(),
            set * QTYPE_PER_CPU_SLOTS,
            QTYPE_PER_CPU_SLOTS,
            self.nr_cpus,
            QTYPES_MAP,
        )?;
        qtypes.extend(read(
            self.qtypes_shared.map(),
            set * QTYPE_SLOTS + QTYPE_PER_CPU_SLOTS,
            QTYPE_SLOTS - QTYPE_PER_CPU_SLOTS,
            self.nr_cpus,
            QTYPES_SHARED_MAP,
        )?);
        Ok((0..QTYPE_SLOTS)
            .filter(|&qtype| qtypes[qtype as usize] != 0)
            .map(|qtype| (qtype as u16, qtypes[qtype as usize]))
            .collect())
    }

    /// Deletes the counts the last [`Self::flip_and_drain`] read from the idle set, so the
    /// program can be flipped back into it; does nothing if it is clear already. The daemon calls
    /// this after writing the report, off the interval's end. Returns how many entries it deleted.
    pub fn clear_idle(&mut self) -> Result<usize, DrainError> {
        let Some(Dirty { set, clients }) = self.dirty else {
            return Ok(0);
        };
        let mut deleted =
            delete_all::<u64>(self.counts[set].map(), COUNTS_MAPS[set], self.nr_cpus)?;
        if clients {
            deleted +=
                delete_all::<ClientKey>(self.clients[set].map(), CLIENTS_MAPS[set], self.nr_cpus)?;
        }
        self.dirty = None;
        Ok(deleted)
    }

    /// Whether the idle set still holds the counts of the interval last drained.
    pub fn idle_is_dirty(&self) -> bool {
        self.dirty.is_some()
    }
}

/// Reads one set's clients map; `untracked` is the set's `STAT_CLIENTS_UNTRACKED`.
fn read_clients(
    map: &PerCpuHashMap<MapData, ClientKey, u64>,
    name: &'static str,
    untracked: u64,
    nr_cpus: usize,
) -> Result<ClientCounts, DrainError> {
    let entries = read_all::<ClientKey>(map.map(), name, nr_cpus)?;
    let mut prefixes = Vec::with_capacity(entries.len());
    let mut untracked = untracked;
    for (key, count) in entries {
        match key.ip() {
            Some(prefix) => prefixes.push((prefix, count)),
            // Only the program writes keys, and only of the two families.
            None => untracked += count,
        }
    }
    Ok(ClientCounts {
        prefixes,
        untracked,
    })
}

/// Sums `len` slots of an array from `first`: [`read_slots`] or [`take_slots`].
type SlotReader = fn(&MapData, u32, u32, usize, &'static str) -> Result<Vec<u64>, DrainError>;

/// Sums `len` slots of an array from `first` (across CPUs, for a per-CPU array) in one batch
/// lookup, leaving them as they are.
fn read_slots(
    map: &MapData,
    first: u32,
    len: u32,
    nr_cpus: usize,
    name: &'static str,
) -> Result<Vec<u64>, DrainError> {
    Ok(sum_slots(map, first, len, nr_cpus, name)?.0)
}

/// The sums of [`read_slots`] and the indices of the non-zero slots.
fn sum_slots(
    map: &MapData,
    first: u32,
    len: u32,
    nr_cpus: usize,
    name: &'static str,
) -> Result<(Vec<u64>, Vec<u32>), DrainError> {
    let batch = BatchMap::<u32, u64>::new(map.fd().as_fd(), nr_cpus).map_err(batch_err(name))?;
    let slots = batch.lookup_range(first, len).map_err(batch_err(name))?;
    if slots.len() != len as usize {
        return Err(DrainError::ShortRead {
            map: name,
            read: slots.len(),
            want: len,
        });
    }
    let sums: Vec<u64> = slots.sums().map(|(_, sum)| sum).collect();
    let nonzero: Vec<u32> = slots
        .sums()
        .filter(|&(_, sum)| sum != 0)
        .map(|(index, _)| index)
        .collect();
    Ok((sums, nonzero))
}

/// Like [`read_slots`], and zeroes the non-zero slots in one batch update: one set's slots once
/// its interval is over.
fn take_slots(
    map: &MapData,
    first: u32,
    len: u32,
    nr_cpus: usize,
    name: &'static str,
) -> Result<Vec<u64>, DrainError> {
    let (sums, to_zero) = sum_slots(map, first, len, nr_cpus, name)?;
    let batch = BatchMap::<u32, u64>::new(map.fd().as_fd(), nr_cpus).map_err(batch_err(name))?;
    if !to_zero.is_empty() {
        let zeros = vec![0u64; to_zero.len() * batch.per_entry()];
        batch.update(&to_zero, &zeros, 0).map_err(batch_err(name))?;
    }
    Ok(sums)
}
