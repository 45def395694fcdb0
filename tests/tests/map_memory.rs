//! The map memory `dns-counter run` checks against the host before loading
//! (`kernel::memory::map_bytes`) is what the kernel then charges for the loaded program's maps:
//! never less (a check that passes must not be followed by an ENOMEM), and little more.

use dns_counter::kernel::{loader, memory::map_bytes};
use dns_counter_common::maps::MAX_CLIENT_PREFIXES;
use dns_counter_tests::{map_memory::program_maps, require_root};

/// What the model may charge beyond the kernel's figure: the per-map headers it bounds.
const SLACK: u64 = 64 << 10;

#[test]
fn the_checked_map_memory_is_what_the_kernel_charges() {
    let Some(()) = require_root() else { return };
    let cpus = u32::try_from(aya::util::nr_cpus().expect("possible CPUs")).expect("fits");
    for (max_names, clients) in [(1_000, false), (1_000_000, false), (300_000, true)] {
        let loaded = loader::load_sized(max_names, if clients { MAX_CLIENT_PREFIXES } else { 0 })
            .expect("load");
        let charged: u64 = program_maps(&loaded)
            .expect("the program's maps")
            .iter()
            .map(|map| map.memlock_bytes)
            .sum();
        let modelled = map_bytes(max_names, clients, cpus);
        eprintln!(
            "--max-names {max_names} clients {clients}: the kernel charges {charged} B, the check counts {modelled} B"
        );
        assert!(
            (charged..=charged + SLACK).contains(&modelled),
            "--max-names {max_names}, clients {clients}: charged {charged} B, modelled {modelled} B"
        );
    }
}
