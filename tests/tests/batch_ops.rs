//! The batch map operations (`dns_counter::kernel::sys::batch`) against real kernel maps: they return exactly
//! what is in the map, per CPU, in as many calls as it takes, delete only when asked, and say
//! clearly what went wrong on a descriptor that is not the map they were told it is.

use std::{collections::BTreeMap, os::fd::AsFd as _};

use aya::maps::{IterableMap as _, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues};
use dns_counter::kernel::sys::batch::{BatchError, BatchMap, Operation};
use dns_counter_common::maps::ClientKey;
use dns_counter_tests::require_root;

fn nr_cpus() -> usize {
    aya::util::nr_cpus().expect("possible CPUs")
}

/// CPU `cpu`'s value of key `key`: distinct for every CPU of a key, so a mixed-up CPU shows, and
/// small enough that sums across CPUs cannot overflow.
fn value_of(key: u64, cpu: usize) -> u64 {
    (key >> 24) * 1000 + cpu as u64 + 1
}

/// A per-CPU hash map holding keys `0..n` (scattered) with `value_of` per CPU.
fn filled_hash(
    n: u64,
    capacity: u32,
) -> (PerCpuHashMap<MapData, u64, u64>, BTreeMap<u64, Vec<u64>>) {
    let mut map =
        PerCpuHashMap::<MapData, u64, u64>::create(capacity, 0).expect("create a per-CPU hash map");
    let mut want = BTreeMap::new();
    for i in 0..n {
        let key = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 8;
        let values: Vec<u64> = (0..nr_cpus()).map(|cpu| value_of(key, cpu)).collect();
        map.insert(
            key,
            PerCpuValues::try_from(values.clone()).expect("values"),
            0,
        )
        .expect("insert");
        want.insert(key, values);
    }
    (map, want)
}

fn as_map(entries: &dns_counter::kernel::sys::batch::Entries<u64, u64>) -> BTreeMap<u64, Vec<u64>> {
    let map: BTreeMap<u64, Vec<u64>> = entries
        .iter()
        .map(|(key, values)| (*key, values.to_vec()))
        .collect();
    assert_eq!(map.len(), entries.len(), "a key came back twice");
    map
}

fn keys_left(map: &PerCpuHashMap<MapData, u64, u64>) -> usize {
    map.keys()
        .collect::<Result<Vec<_>, _>>()
        .expect("keys")
        .len()
}

#[test]
fn lookup_returns_every_entry_with_each_cpus_value_and_leaves_the_map_as_it_was() {
    let Some(()) = require_root() else { return };
    let (map, want) = filled_hash(1000, 4096);
    let batch = BatchMap::<u64, u64>::new(map.map().fd().as_fd(), nr_cpus()).expect("batch map");
    assert_eq!(batch.per_entry(), nr_cpus());
    let entries = batch.lookup_all().expect("lookup batch");
    assert_eq!(as_map(&entries), want);
    assert_eq!(keys_left(&map), 1000);
    // And a second walk sees the same.
    assert_eq!(
        as_map(&batch.lookup_all().expect("lookup batch again")),
        want
    );
}

#[test]
fn lookup_and_delete_returns_every_entry_and_leaves_the_map_empty() {
    let Some(()) = require_root() else { return };
    let (map, want) = filled_hash(1000, 4096);
    let batch = BatchMap::<u64, u64>::new(map.map().fd().as_fd(), nr_cpus()).expect("batch map");
    let entries = batch
        .lookup_and_delete_all()
        .expect("lookup and delete batch");
    assert_eq!(as_map(&entries), want);
    let sums: BTreeMap<u64, u64> = entries.sums().collect();
    assert_eq!(
        sums[&want.keys().next().copied().unwrap()],
        want.values().next().unwrap().iter().sum::<u64>()
    );
    assert_eq!(keys_left(&map), 0);
    assert!(batch.lookup_and_delete_all().expect("again").is_empty());
}

#[test]
fn an_empty_map_gives_nothing() {
    let Some(()) = require_root() else { return };
    let (map, _) = filled_hash(0, 64);
    let batch = BatchMap::<u64, u64>::new(map.map().fd().as_fd(), nr_cpus()).expect("batch map");
    assert!(batch.lookup_all().expect("lookup").is_empty());
    assert!(
        batch
            .lookup_and_delete_all()
            .expect("lookup and delete")
            .is_empty()
    );
}

#[test]
fn maps_larger_than_one_call_come_whole_over_many_calls() {
    let Some(()) = require_root() else { return };
    let (map, want) = filled_hash(100_000, 100_000);
    let fd = map.map().fd().as_fd();
    for chunk in [1, 7, 4096] {
        // Chunk 1 is smaller than many buckets of a full map: the walk must grow on ENOSPC.
        let batch = BatchMap::<u64, u64>::new(fd, nr_cpus())
            .expect("batch map")
            .with_chunk(chunk);
        assert_eq!(
            as_map(&batch.lookup_all().expect("lookup")),
            want,
            "chunk {chunk}"
        );
    }
    let batch = BatchMap::<u64, u64>::new(fd, nr_cpus())
        .expect("batch map")
        .with_chunk(333);
    assert_eq!(
        as_map(&batch.lookup_and_delete_all().expect("lookup and delete")),
        want
    );
    assert_eq!(keys_left(&map), 0);
}

#[test]
fn struct_keys_of_the_clients_maps_round_trip() {
    let Some(()) = require_root() else { return };
    let mut map = PerCpuHashMap::<MapData, ClientKey, u64>::create(1024, 0).expect("create");
    let mut want = BTreeMap::new();
    for i in 0..300u64 {
        let key = ClientKey {
            addr: [i << 32, i],
            family: if i % 2 == 0 { 4 } else { 6 },
            _pad: 0,
        };
        let values: Vec<u64> = (0..nr_cpus()).map(|cpu| value_of(i, cpu)).collect();
        map.insert(
            key,
            PerCpuValues::try_from(values.clone()).expect("values"),
            0,
        )
        .expect("insert");
        want.insert((key.addr, key.family), values.iter().sum::<u64>());
    }
    let batch = BatchMap::<ClientKey, u64>::new(map.map().fd().as_fd(), nr_cpus())
        .expect("batch map")
        .with_chunk(50);
    let got: BTreeMap<_, u64> = batch
        .lookup_and_delete_all()
        .expect("lookup and delete")
        .sums()
        .map(|(key, sum)| ((key.addr, key.family), sum))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn array_ranges_are_read_and_zeroed_in_batches() {
    let Some(()) = require_root() else { return };
    let len = 2 * 65_536;
    let mut array = PerCpuArray::<MapData, u64>::create(len, 0).expect("create a per-CPU array");
    let marked = [0u32, 1, 4242, 65_535, 65_536, 65_537, 99_999, len - 1];
    for &index in &marked {
        let values: Vec<u64> = (0..nr_cpus())
            .map(|cpu| value_of(u64::from(index), cpu))
            .collect();
        array
            .set(index, PerCpuValues::try_from(values).expect("values"), 0)
            .expect("set");
    }
    let batch = BatchMap::<u32, u64>::new(array.map().fd().as_fd(), nr_cpus()).expect("batch map");
    for first in [0, 65_536] {
        let slots = batch.lookup_range(first, 65_536).expect("lookup range");
        assert_eq!(
            slots.keys,
            (first..first + 65_536).collect::<Vec<_>>(),
            "slots from {first}"
        );
        for (&index, values) in slots.iter() {
            let want: Vec<u64> = if marked.contains(&index) {
                (0..nr_cpus())
                    .map(|cpu| value_of(u64::from(index), cpu))
                    .collect()
            } else {
                vec![0; nr_cpus()]
            };
            assert_eq!(values, want, "slot {index}");
        }
    }
    // Zero the second half's marked slots in one update; the first half keeps its values.
    let second: Vec<u32> = marked
        .iter()
        .copied()
        .filter(|&index| index >= 65_536)
        .collect();
    batch
        .update(&second, &vec![0; second.len() * nr_cpus()], 0)
        .expect("update batch");
    let sums: Vec<u64> = batch
        .lookup_range(0, len)
        .expect("lookup")
        .sums()
        .map(|(_, sum)| sum)
        .collect();
    for &index in &marked {
        let want = if index >= 65_536 {
            0
        } else {
            (0..nr_cpus())
                .map(|cpu| value_of(u64::from(index), cpu))
                .sum()
        };
        assert_eq!(sums[index as usize], want, "slot {index}");
    }
    assert!(
        batch.lookup_range(65_537, 65_536).is_err(),
        "a range past the end is refused"
    );
    assert!(
        batch.lookup_and_delete_all().is_err(),
        "an array cannot delete"
    );
}

#[test]
fn wrong_descriptors_and_types_are_clear_errors() {
    let Some(()) = require_root() else { return };
    let not_a_map = std::fs::File::open("/dev/null").expect("/dev/null");
    match BatchMap::<u64, u64>::new(not_a_map.as_fd(), nr_cpus()) {
        Err(BatchError::Syscall {
            operation: Operation::Info,
            source,
            ..
        }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EINVAL), "{source}");
        }
        other => panic!("want an info error, got {:?}", other.err()),
    }
    let (map, _) = filled_hash(10, 64);
    let fd = map.map().fd().as_fd();
    let err = BatchMap::<u32, u64>::new(fd, nr_cpus())
        .err()
        .expect("4-byte keys on an 8-byte map");
    assert!(
        matches!(
            err,
            BatchError::Size {
                what: "key",
                map: 8,
                ours: 4,
                ..
            }
        ),
        "{err}"
    );
    let err = BatchMap::<u64, [u64; 2]>::new(fd, nr_cpus())
        .err()
        .expect("16-byte values on an 8-byte map");
    assert!(err.to_string().contains("value size 8"), "{err}");
}

#[test]
fn a_map_the_caller_may_not_read_is_a_clear_error_with_nothing_read() {
    let Some(()) = require_root() else { return };
    // BPF_F_WRONLY: the kernel refuses batch lookups with EPERM before it walks the map, so it
    // never writes `count` back.
    const BPF_F_WRONLY: u32 = 1 << 4;
    let mut map = PerCpuHashMap::<MapData, u64, u64>::create(64, BPF_F_WRONLY)
        .expect("create a write-only map");
    for key in 0..10u64 {
        let values: Vec<u64> = (0..nr_cpus()).map(|cpu| value_of(key, cpu)).collect();
        map.insert(key, PerCpuValues::try_from(values).expect("values"), 0)
            .expect("insert");
    }
    let batch = BatchMap::<u64, u64>::new(map.map().fd().as_fd(), nr_cpus()).expect("batch map");
    for (operation, result) in [
        (Operation::Lookup, batch.lookup_all()),
        (Operation::LookupAndDelete, batch.lookup_and_delete_all()),
    ] {
        match result {
            Err(BatchError::Syscall {
                operation: failed,
                source,
                ..
            }) => {
                assert_eq!(failed, operation);
                assert_eq!(source.raw_os_error(), Some(libc::EPERM), "{source}");
            }
            Ok(entries) => panic!("{operation} read {} entries", entries.len()),
            Err(other) => panic!("{operation}: want EPERM, got {other}"),
        }
    }
}
