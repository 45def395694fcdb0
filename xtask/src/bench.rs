//! `cargo xtask bench`: the kernel-path benchmark. The XDP program, an empty program and one that
//! only bumps a counter run through BPF_PROG_TEST_RUN on typical, long, encapsulated, non-DNS and
//! malformed packets; the binary prints a table, writes `<target>/bench/kernel-path.json` and the
//! kernel-path section of BENCHMARKS.md. It needs root (loading XDP programs, test runs).

use std::ffi::OsString;

use anyhow::Result;

use crate::command::{cargo, run};

/// The benchmark binary in the `tests` crate (tests/src/bin/kernel_bench.rs).
const KERNEL_BENCH_BIN: &str = "dns-counter-kernel-bench";

/// Runs the benchmark with `args` (e.g. `--quick`); fails only if it could not measure, never
/// because a target was missed.
pub fn kernel_path(args: &[OsString]) -> Result<()> {
    println!("xtask: benchmarking the kernel path (root, BPF_PROG_TEST_RUN)");
    run(cargo()
        .args([
            "run",
            "--release",
            "-p",
            "dns-counter-tests",
            "--bin",
            KERNEL_BENCH_BIN,
            "--",
        ])
        .args(args))
}
