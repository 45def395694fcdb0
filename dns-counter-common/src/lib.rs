//! Everything the XDP program and the daemon must agree on: map names and layouts, the reasons a
//! packet is not counted, and the packet walk itself (kunai's pattern: one walk, generic over how
//! bytes are read, so the kernel and host tests run the same code).
#![cfg_attr(target_arch = "bpf", no_std)]

pub mod hash;
pub mod maps;
pub mod qname;
pub mod reason;
#[cfg(feature = "testing")]
pub mod testing;
pub mod walk;

pub use reason::Reason;
