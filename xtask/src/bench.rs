//! `cargo xtask bench`: every part of the benchmark, one after the other, then one table of all
//! targets. Each part is a binary in the `tests` crate that prints its own table, writes
//! `<target>/bench/<part>.json` and its section of BENCHMARKS.md; the summary reads those JSON
//! files. All parts need root (XDP, BPF_PROG_TEST_RUN, network namespaces).

use std::{ffi::OsString, path::Path};

use anyhow::{Result, bail};
use clap::ValueEnum;

use crate::command::run_tests_bin;

/// The parts, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// The XDP program per packet with BPF_PROG_TEST_RUN, against an empty and a count-only
    /// program.
    KernelPath,
    /// Flip + drain + top-N + every format at 1 k to 5 M names; batch against per-entry map
    /// reads; kernel map memory per name.
    Drain,
    /// Packets per second on a veth with no program, a count-only program and dns-counter;
    /// dnsperf against unbound; kernel cost per query at 1 k and 1 M names.
    Veth,
    /// tcpdump and dnstop against dns-counter on the same traffic; the seeds' workload; the
    /// daemon's peak RSS at 1 M names.
    Peers,
}

impl Part {
    const ALL: [Part; 4] = [Part::KernelPath, Part::Drain, Part::Veth, Part::Peers];

    fn binary(self) -> &'static str {
        match self {
            Part::KernelPath => "dns-counter-kernel-bench",
            Part::Drain => "dns-counter-drain-bench",
            Part::Veth => "dns-counter-veth-bench",
            Part::Peers => "dns-counter-peers-bench",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Part::KernelPath => "kernel-path",
            Part::Drain => "drain",
            Part::Veth => "veth",
            Part::Peers => "peers",
        }
    }
}

const SUMMARY_BIN: &str = "dns-counter-bench-summary";
/// The flags the binaries take (clap, in the tests crate): every part's `--quick`
/// (`bench::PartArgs`), the summary's `--write`.
const QUICK_FLAG: &str = "--quick";
const WRITE_FLAG: &str = "--write";

/// Runs `parts` (all when empty), then the summary. A part that cannot measure does not stop
/// the others; the run fails at the end if any did. A missed target is a result, not a failure.
pub fn run_parts(dns_counter: &Path, parts: &[Part], quick: bool) -> Result<()> {
    let parts = if parts.is_empty() {
        &Part::ALL[..]
    } else {
        parts
    };
    let mut failed = Vec::new();
    let flag = |name: &str, given: bool| -> Vec<OsString> {
        if given { vec![name.into()] } else { Vec::new() }
    };
    for &part in parts {
        println!("xtask: bench part {}", part.name());
        if let Err(err) = run_tests_bin(dns_counter, part.binary(), &flag(QUICK_FLAG, quick)) {
            eprintln!(
                "xtask: bench part {} could not measure: {err:#}",
                part.name()
            );
            failed.push(part.name());
        }
    }
    run_tests_bin(dns_counter, SUMMARY_BIN, &flag(WRITE_FLAG, !quick))?;
    if !failed.is_empty() {
        bail!("bench parts that could not measure: {}", failed.join(", "));
    }
    Ok(())
}
