//! dns-counter's report, without a kernel or a runtime: what one interval counted
//! ([`interval::Interval`], as the daemon drains it) becomes a [`model::Report`] through
//! [`analysis`] (exclusions, domains, organisations, clients); [`merge`] sums saved reports;
//! [`render`] writes a report in every format; [`read`] reads a saved one back.
//!
//! Data flows one way: interval → analysis → model → render; read → model → merge → model.

pub mod analysis;
pub mod interval;
pub mod merge;
pub mod model;
pub mod names;
pub mod read;
pub mod render;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
