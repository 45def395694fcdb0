//! The kernel side: loading and attaching the XDP program ([`loader`]), draining its maps into
//! an [`Interval`](dns_counter_report::interval::Interval) ([`drain`]), and [`sys`], the one
//! place that calls `bpf(2)` by hand.

pub mod drain;
pub mod loader;
pub mod sys;
