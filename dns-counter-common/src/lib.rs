//! Everything the XDP program and the daemon must agree on: map names and layouts, the reasons a
//! packet is not counted, and the packet walk itself (kunai's pattern: one walk, generic over how
//! bytes are read, so the kernel and host tests run the same code).
#![cfg_attr(target_arch = "bpf", no_std)]

// Names are copied into 64-bit words and read both as words and as bytes; the two views agree
// only on a little-endian machine (bpfel, x86_64, aarch64).
#[cfg(target_endian = "big")]
compile_error!("dns-counter-common assumes a little-endian target");

pub mod hash;
pub mod maps;
pub mod qname;
pub mod reason;
#[cfg(feature = "testing")]
pub mod testing;
pub mod walk;

pub use reason::Reason;
