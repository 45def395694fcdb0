//! Where packets come from: live interfaces (the program attached, see
//! [`crate::kernel::loader`]) or a capture replayed through the program.

pub mod replay;
