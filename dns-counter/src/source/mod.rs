//! Where packets come from: live interfaces (the program attached, see
//! [`crate::kernel::loader`], and followed as they come and go: [`interfaces`]) or a capture
//! replayed through the program.

pub mod interfaces;
pub mod replay;
