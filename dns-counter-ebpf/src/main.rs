//! The XDP program: counts DNS query names per interval. It never drops, aborts or alters a
//! packet; every packet it does not count is counted under a `Reason`.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
// The BPF target has no compare-and-swap, so `AtomicU64::fetch_add` does not exist there; the
// intrinsic lowers to the BPF atomic add instruction.
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

#[cfg(target_arch = "bpf")]
mod baseline;
#[cfg(target_arch = "bpf")]
#[expect(
    clippy::needless_borrows_for_generic_args,
    reason = "aya-ebpf's map methods take `impl Borrow<K>`; a key passed by value is copied to the \
              stack for each call, which made count_client 27 instructions longer"
)]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
