//! What aya 0.14 does not offer, through `bpf(2)` directly: batch map operations and the wait
//! for running programs to finish.

pub mod batch;
pub mod grace;
