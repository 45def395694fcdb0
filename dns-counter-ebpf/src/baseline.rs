//! Yardsticks for `cargo xtask bench`: the cheapest XDP programs there are, built into the same
//! object as `dns_counter` so one run compares like with like (same kernel, same loader, same
//! BPF_PROG_TEST_RUN overhead). The daemon never loads them, so they cost nothing at run time.

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::PerCpuArray,
    programs::XdpContext,
};

/// The one counter `baseline_count` bumps.
#[map]
static BASELINE_COUNTER: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The floor: what running any XDP program costs.
#[xdp]
pub fn baseline_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// The floor for a program that keeps a count: one per-CPU array lookup and increment.
#[xdp]
pub fn baseline_count(_ctx: XdpContext) -> u32 {
    if let Some(counter) = BASELINE_COUNTER.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; only this CPU writes it while the program runs.
        unsafe { *counter += 1 };
    }
    xdp_action::XDP_PASS
}
