//! A name's count is one value shared by every CPU: the program must add to it atomically, and
//! two CPUs creating the same name at once must both be counted. Two threads, pinned to two
//! CPUs, run the program on the same frames at the same time; nothing may be lost.

use std::{sync::Barrier, thread};

use dns_counter::kernel::{drain::Drainer, loader};
use dns_counter_common::testing as frames;
use dns_counter_report::names::presentation;
use dns_counter_tests::{
    bench::pin_to_cpu,
    require_root_and_cpus,
    test_run::{drain, program, run},
};

const ROUNDS: u32 = 200;
const REPEAT: u32 = 2_000;

#[test]
fn two_cpus_counting_one_name_at_once_lose_nothing() {
    let Some(()) = require_root_and_cpus(2) else {
        return;
    };
    let mut loaded = loader::load(10_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let hot = frames::query_frame("router.vendor.example", 1);
    let fresh: Vec<Vec<u8>> = (0..ROUNDS)
        .map(|round| frames::query_frame(&format!("r{round}.race.example"), 1))
        .collect();
    let xdp = program(&loaded);
    let start = Barrier::new(2);
    thread::scope(|scope| {
        for cpu in 0..2 {
            let (start, hot, fresh) = (&start, &hot, &fresh);
            scope.spawn(move || {
                pin_to_cpu(cpu).expect("pin");
                start.wait();
                for frame in fresh {
                    // Both CPUs meet a name new to the set at about the same time, then share a hot one.
                    run(xdp, frame, 1);
                    run(xdp, hot, REPEAT);
                }
            });
        }
    });
    let interval = drain(&mut drainer);
    let count_of = |name: &str| {
        interval
            .names
            .iter()
            .find(|(wire, _)| presentation(wire) == name)
            .map(|(_, count)| *count)
    };
    assert_eq!(
        count_of("router.vendor.example"),
        Some(u64::from(2 * ROUNDS * REPEAT))
    );
    for round in 0..ROUNDS {
        assert_eq!(
            count_of(&format!("r{round}.race.example")),
            Some(2),
            "round {round}"
        );
    }
    assert_eq!(interval.names.len(), ROUNDS as usize + 1);
    assert_eq!(interval.packets, u64::from(2 * ROUNDS * (REPEAT + 1)));
}
