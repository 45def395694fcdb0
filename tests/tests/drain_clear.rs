//! The drain reads the idle map set and leaves it for `Drainer::clear_idle`: every count is still
//! reported once, whether the daemon clears the set after its report or the next flip has to.

use std::time::SystemTime;

use dns_counter::kernel::{drain::Drainer, loader};
use dns_counter_common::testing as frames;
use dns_counter_report::interval::Interval;
use dns_counter_tests::require_root;
use dns_counter_tests::test_run::{program, run};

fn counted(interval: &Interval) -> u64 {
    interval.names.iter().map(|(_, count)| count).sum()
}

fn flip_and_drain(drainer: &mut Drainer) -> Interval {
    let now = SystemTime::now();
    drainer.flip_and_drain(now, now).expect("drain")
}

#[test]
fn a_set_not_cleared_is_cleared_before_the_program_counts_into_it_again() {
    let Some(()) = require_root() else { return };
    let mut loaded = loader::load(1_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let www = frames::query_frame("www.example.com", 1);
    let mail = frames::query_frame("mail.example.com", 1);
    // Four intervals, so each set is drained twice, and clear_idle is never called.
    for (round, repeat) in [3u32, 5, 7, 11].into_iter().enumerate() {
        run(program(&loaded), &www, repeat);
        run(program(&loaded), &mail, 1);
        let interval = flip_and_drain(&mut drainer);
        assert!(drainer.idle_is_dirty(), "round {round}");
        assert_eq!(
            interval.names.len(),
            2,
            "round {round}: {:?}",
            interval.names
        );
        assert_eq!(counted(&interval), u64::from(repeat) + 1, "round {round}");
        assert_eq!(interval.packets, u64::from(repeat) + 1, "round {round}");
    }
}

#[test]
fn clear_idle_deletes_what_the_drain_read_once() {
    let Some(()) = require_root() else { return };
    let mut loaded = loader::load(1_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    assert_eq!(drainer.clear_idle().expect("nothing to clear"), 0);
    for name in ["a.example", "b.example", "c.example"] {
        run(program(&loaded), &frames::query_frame(name, 1), 2);
    }
    let interval = flip_and_drain(&mut drainer);
    assert_eq!(counted(&interval), 6);
    assert_eq!(drainer.clear_idle().expect("clear"), 3);
    assert!(!drainer.idle_is_dirty());
    assert_eq!(drainer.clear_idle().expect("clear again"), 0);
    // Both sets empty: the next two intervals see only what is counted in them.
    run(program(&loaded), &frames::query_frame("a.example", 1), 1);
    assert_eq!(counted(&flip_and_drain(&mut drainer)), 1);
    assert_eq!(drainer.clear_idle().expect("clear"), 1);
    assert_eq!(counted(&flip_and_drain(&mut drainer)), 0);
}
