//! Running the loaded XDP program on frames with BPF_PROG_TEST_RUN, for the kernel tests.

use std::time::SystemTime;

use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use dns_counter::kernel::{drain::Drainer, loader::Loaded};
use dns_counter_common::maps::PROGRAM_NAME;
use dns_counter_report::interval::Interval;

const XDP_PASS: u32 = 2;

/// The counting program of a loaded object.
pub fn program(loaded: &Loaded) -> &Xdp {
    loaded
        .ebpf
        .program(PROGRAM_NAME)
        .expect("program")
        .try_into()
        .expect("an XDP program")
}

/// Runs `frame` through the program `repeat` times; the verdict must be XDP_PASS.
pub fn run(program: &Xdp, frame: &[u8], repeat: u32) {
    let result = program
        .test_run(TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    assert_eq!(result.return_value, XDP_PASS, "verdict for {frame:02x?}");
}

/// Ends the interval now and returns what it counted, clearing the drained set as the daemon does
/// once its report is written.
pub fn drain(drainer: &mut Drainer) -> Interval {
    let now = SystemTime::now();
    let interval = drainer.flip_and_drain(now, now).expect("drain");
    drainer.clear_idle().expect("clear the drained set");
    interval
}
