//! What the kernel charges for the maps of a loaded program: the `memlock` of each map's fdinfo,
//! and what it would charge for the same maps on a machine with another number of possible CPUs.

use std::{
    fs,
    os::fd::{AsFd as _, AsRawFd as _},
};

use anyhow::{Context as _, Result, bail};
use aya::maps::Map;
use dns_counter::kernel::{
    loader::Loaded,
    sys::{
        BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_RINGBUF,
    },
};
use serde::Serialize;
const BPF_F_NO_PREALLOC: u32 = 1;

/// One map of the program as the kernel sees it.
#[derive(Clone, Debug, Serialize)]
pub struct MapMemory {
    /// The name in the eBPF object (the kernel keeps 15 bytes of it).
    pub name: String,
    pub map_type: String,
    #[serde(skip)]
    pub type_id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// What the kernel charges for the map here (fdinfo `memlock`).
    pub memlock_bytes: u64,
}

/// Every map of the loaded object (the counting program's and the baseline's), with its
/// `memlock`, read through the object's own descriptors.
pub fn program_maps(loaded: &Loaded) -> Result<Vec<MapMemory>> {
    let mut maps = Vec::new();
    for (name, map) in loaded.ebpf.maps() {
        let data = match map {
            Map::Array(data)
            | Map::PerCpuArray(data)
            | Map::HashMap(data)
            | Map::PerCpuHashMap(data)
            | Map::LruHashMap(data)
            | Map::PerCpuLruHashMap(data)
            | Map::RingBuf(data) => data,
            _ => bail!("map {name} is of a type not handled here"),
        };
        let info = data.info().with_context(|| format!("map {name}"))?;
        let path = format!("/proc/self/fdinfo/{}", data.fd().as_fd().as_raw_fd());
        let fdinfo = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |field: &str| {
            fdinfo
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .with_context(|| format!("no {field} in {path}"))
        };
        maps.push(MapMemory {
            name: name.to_owned(),
            map_type: info
                .map_type()
                .map_or_else(|_| "?".to_owned(), |t| format!("{t:?}")),
            type_id: u32::try_from(field("map_type:")?).context("map_type")?,
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
            map_flags: info.map_flags(),
            memlock_bytes: field("memlock:")?,
        });
    }
    maps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(maps)
}

impl MapMemory {
    /// What the kernel would charge for this map with `cpus` possible CPUs, where it charges
    /// `memlock_bytes` with `possible` of them; `None` for a map type not modelled here.
    ///
    /// The model is the kernel's own accounting (`map_mem_usage`, the fdinfo `memlock` since
    /// Linux 6.4) reduced to its terms that grow with the possible CPUs:
    /// - array (`array_map_mem_usage`): none; per-CPU array: `max_entries` × the value rounded
    ///   up to 8 bytes, per CPU.
    /// - hash (`htab_map_mem_usage`, preallocated): 8 lock counters of 4 bytes per CPU; a plain
    ///   hash also preallocates one spare element (48-byte `htab_elem` + key and value rounded
    ///   up to 8) and one 8-byte pointer per CPU; a per-CPU hash `max_entries` × the value
    ///   rounded up to 8 per CPU. Without preallocation the per-CPU values follow the entries
    ///   in use, which a loaded map does not say: not modelled.
    /// - ring buffer: none.
    ///
    /// Everything else (the map's header, buckets, elements, pages) does not depend on the CPU
    /// count, so the figure is the one measured minus these terms at `possible` plus them at
    /// `cpus`: the struct sizes the model leaves out cancel.
    pub fn memlock_at(&self, possible: usize, cpus: usize) -> Option<u64> {
        let now = self.per_cpu_bytes(possible as u64)?;
        let then = self.per_cpu_bytes(cpus as u64)?;
        Some(self.memlock_bytes.saturating_sub(now) + then)
    }

    fn per_cpu_bytes(&self, cpus: u64) -> Option<u64> {
        let round8 = |size: u32| u64::from(size).div_ceil(8) * 8;
        let entries = u64::from(self.max_entries);
        let value = round8(self.value_size);
        let prealloc = self.map_flags & BPF_F_NO_PREALLOC == 0;
        const HTAB_ELEM: u64 = 48;
        const LOCKS: u64 = 8 * 4;
        match self.type_id {
            BPF_MAP_TYPE_ARRAY | BPF_MAP_TYPE_RINGBUF => Some(0),
            BPF_MAP_TYPE_PERCPU_ARRAY => Some(entries * value * cpus),
            BPF_MAP_TYPE_HASH if prealloc => {
                Some((LOCKS + HTAB_ELEM + round8(self.key_size) + value + 8) * cpus)
            }
            BPF_MAP_TYPE_LRU_HASH if prealloc => Some(LOCKS * cpus),
            BPF_MAP_TYPE_PERCPU_HASH | BPF_MAP_TYPE_LRU_PERCPU_HASH if prealloc => {
                Some((LOCKS + entries * value) * cpus)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(type_id: u32, value_size: u32, max_entries: u32, memlock_bytes: u64) -> MapMemory {
        MapMemory {
            name: "M".into(),
            map_type: String::new(),
            type_id,
            key_size: 8,
            value_size,
            max_entries,
            map_flags: 0,
            memlock_bytes,
        }
    }

    #[test]
    fn only_the_per_cpu_terms_scale() {
        // A per-CPU array of 65,536 u64 measured at 2 CPUs: 1 MiB more per CPU.
        let array = map(BPF_MAP_TYPE_PERCPU_ARRAY, 8, 65_536, 1_000 + 2 * 524_288);
        assert_eq!(array.memlock_at(2, 64), Some(1_000 + 64 * 524_288));
        assert_eq!(array.memlock_at(2, 2), Some(array.memlock_bytes));
        assert_eq!(
            map(BPF_MAP_TYPE_ARRAY, 8, 65_536, 525_000).memlock_at(2, 64),
            Some(525_000)
        );
        // A plain hash: 32 lock bytes, a 64-byte spare element and an 8-byte pointer per CPU.
        let hash = map(BPF_MAP_TYPE_HASH, 8, 1_000, 100_000);
        assert_eq!(hash.memlock_at(2, 3), Some(100_000 + 104));
        // A per-CPU hash: its values per CPU (rounded up to 8 bytes) and the locks.
        let clients = map(BPF_MAP_TYPE_PERCPU_HASH, 4, 10, 10_000);
        assert_eq!(clients.memlock_at(1, 2), Some(10_000 + 32 + 10 * 8));
        assert_eq!(map(3, 8, 10, 10).memlock_at(2, 64), None);
    }
}
