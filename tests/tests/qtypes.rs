//! Counting by qtype in the compiled XDP program, run by the kernel through BPF_PROG_TEST_RUN:
//! every query counted by name is counted under exactly its qtype, 0 to 65,535, from several
//! CPUs at once and across interval flips, in qtype maps whose kernel memory does not grow with
//! the number of possible CPUs.

use std::collections::BTreeMap;

use dns_counter::kernel::{drain::Drainer, loader};
use dns_counter_common::{
    maps::{QTYPES_MAP, QTYPES_SHARED_MAP},
    testing as frames,
};
use dns_counter_tests::{
    map_memory::program_maps,
    require_root,
    test_run::{drain, program, run},
};

/// What the qtype maps may cost in all, as the kernel charges them here and as it would on a
/// machine with [`MANY_CPUS`] possible CPUs. The counters take 1 MiB shared plus 4 KiB per
/// possible CPU (256 KiB at 64); the bound leaves room for the maps' headers. One per-CPU
/// counter per qtype and set costs 3 MiB already on 2 CPUs (the values and a pointer per slot),
/// 65 MiB on 64.
const QTYPE_MAPS_BOUND: u64 = 1536 << 10;
/// A large resolver: 64 hardware threads.
const MANY_CPUS: usize = 64;

#[test]
fn the_qtype_maps_cost_about_the_same_whatever_the_cpu_count() {
    let Some(()) = require_root() else { return };
    let loaded = loader::load(1_000).expect("load");
    let possible = aya::util::nr_cpus().expect("possible CPUs");
    let maps = program_maps(&loaded).expect("the program's maps");
    let qtype_maps: Vec<_> = maps
        .iter()
        .filter(|map| [QTYPES_MAP, QTYPES_SHARED_MAP].contains(&map.name.as_str()))
        .collect();
    assert_eq!(qtype_maps.len(), 2, "the qtype maps in {maps:?}");
    let here: u64 = qtype_maps.iter().map(|map| map.memlock_bytes).sum();
    let many: u64 = qtype_maps
        .iter()
        .map(|map| {
            map.memlock_at(possible, MANY_CPUS)
                .expect("a modelled map type")
        })
        .sum();
    let shown: Vec<String> = qtype_maps
        .iter()
        .map(|map| {
            format!(
                "{} ({}, {} entries): {} B",
                map.name, map.map_type, map.max_entries, map.memlock_bytes
            )
        })
        .collect();
    eprintln!(
        "qtype maps: {here} B on {possible} possible CPUs, {many} B on {MANY_CPUS}: {shown:?}"
    );
    assert!(
        here <= QTYPE_MAPS_BOUND,
        "the qtype maps take {here} B on {possible} possible CPUs: {shown:?}"
    );
    assert!(
        many <= QTYPE_MAPS_BOUND,
        "the qtype maps would take {many} B on {MANY_CPUS} possible CPUs: {shown:?}"
    );
}

/// Queries per qtype: the common ones, the edges of the per-CPU range (0, 255) and of the
/// shared one (256, 65,535), and some rare ones between.
const MIX: [(u16, u32); 12] = [
    (0, 3),
    (1, 500),
    (28, 300),
    (65, 70),
    (12, 9),
    (255, 2),
    (256, 4),
    (257, 11),
    (4096, 1),
    (32_769, 5),
    (65_534, 6),
    (65_535, 8),
];
/// Senders running the mix at once: each on a CPU of its own as far as the machine has them.
const SENDERS: u32 = 2;

#[test]
fn every_query_is_counted_under_exactly_its_qtype() {
    let Some(()) = require_root() else { return };
    let mut loaded = loader::load(1_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let frames: Vec<(u16, Vec<u8>, u32)> = MIX
        .iter()
        .map(|&(qtype, repeat)| {
            let frame = frames::query_frame(&format!("q{qtype}.example"), qtype);
            (qtype, frame, repeat)
        })
        .collect();
    let want: BTreeMap<u16, u64> = MIX
        .iter()
        .map(|&(qtype, repeat)| (qtype, u64::from(repeat * SENDERS)))
        .collect();
    // Three intervals: set 0, set 1, and set 0 again after its clear.
    for round in 0..3 {
        std::thread::scope(|scope| {
            let program = program(&loaded);
            for _ in 0..SENDERS {
                scope.spawn(|| {
                    for (_, frame, repeat) in &frames {
                        run(program, frame, *repeat);
                    }
                });
            }
        });
        let interval = drain(&mut drainer);
        let got: BTreeMap<u16, u64> = interval.qtypes.iter().copied().collect();
        assert_eq!(got.len(), interval.qtypes.len(), "a qtype came twice");
        assert_eq!(got, want, "interval {round}");
        let named: u64 = interval.names.iter().map(|(_, count)| count).sum();
        assert_eq!(named, want.values().sum::<u64>(), "interval {round}");
    }
    // An interval without queries has no qtypes.
    assert_eq!(drain(&mut drainer).qtypes, []);
}
