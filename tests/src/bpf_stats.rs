//! The kernel's own account of what an eBPF program costs: `run_time_ns` and `run_cnt`, which it
//! keeps only while run-time statistics are enabled (`kernel.bpf_stats_enabled`, or a
//! `BPF_ENABLE_STATS` file descriptor). Read from any process, so they also measure a program
//! the daemon loaded.

use std::os::fd::OwnedFd;

use anyhow::Context;
use aya::programs::{ProgramInfo, loaded_programs};
use aya::sys::{Stats, enable_stats};

/// Keeps run-time statistics on while alive. It holds a `BPF_ENABLE_STATS` descriptor rather
/// than writing `kernel.bpf_stats_enabled`: the kernel counts such holders, so the sysctl keeps
/// whatever value it had (restored by construction) and two benches enabling statistics at once
/// cannot switch them off under each other.
pub struct BpfStatsEnabled {
    _holder: OwnedFd,
}

impl BpfStatsEnabled {
    pub fn enable() -> anyhow::Result<Self> {
        let holder = enable_stats(Stats::RunTime)
            .context("BPF_ENABLE_STATS (run time) needs root or CAP_SYS_ADMIN and Linux 5.8")?;
        Ok(Self { _holder: holder })
    }
}

/// What the kernel counted for a program while statistics were on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgramRunStats {
    pub run_time_ns: u64,
    pub run_count: u64,
}

impl ProgramRunStats {
    /// What was counted between `earlier` and `self`.
    pub fn since(&self, earlier: &ProgramRunStats) -> ProgramRunStats {
        ProgramRunStats {
            run_time_ns: self.run_time_ns.saturating_sub(earlier.run_time_ns),
            run_count: self.run_count.saturating_sub(earlier.run_count),
        }
    }

    /// Mean nanoseconds per run; 0 when the program did not run.
    pub fn ns_per_run(&self) -> f64 {
        if self.run_count == 0 {
            0.0
        } else {
            self.run_time_ns as f64 / self.run_count as f64
        }
    }
}

/// The statistics of every loaded program named `name` (as the kernel keeps it: at most 15
/// bytes), summed. Fails if no such program is loaded, so a typo cannot read as zero cost.
pub fn program_run_stats(name: &str) -> anyhow::Result<ProgramRunStats> {
    sum_matching(|info| info.name_as_str() == Some(name))
        .with_context(|| format!("no loaded eBPF program is named {name:?}"))
}

/// The ids of the loaded programs named `name`. Comparing the ids before and after a process
/// starts tells its program apart from others of the same name (another bench, a test).
pub fn program_ids(name: &str) -> anyhow::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for info in loaded_programs() {
        let info = info.context("listing the loaded eBPF programs")?;
        if info.name_as_str() == Some(name) {
            ids.push(info.id());
        }
    }
    Ok(ids)
}

/// The statistics of the loaded programs with these ids, summed. Fails if none is loaded.
pub fn run_stats_of(ids: &[u32]) -> anyhow::Result<ProgramRunStats> {
    sum_matching(|info| ids.contains(&info.id()))
        .with_context(|| format!("no loaded eBPF program has an id in {ids:?}"))
}

/// Sums the statistics of the programs `matches` picks; `None` when it picks none.
fn sum_matching(matches: impl Fn(&ProgramInfo) -> bool) -> anyhow::Result<ProgramRunStats> {
    let mut total = ProgramRunStats::default();
    let mut found = false;
    for info in loaded_programs() {
        let info = info.context("listing the loaded eBPF programs")?;
        if matches(&info) {
            found = true;
            total.run_time_ns += u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX);
            total.run_count += info.run_count();
        }
    }
    anyhow::ensure!(found, "none matched");
    Ok(total)
}
