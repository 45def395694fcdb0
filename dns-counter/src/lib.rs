//! dns-counter's daemon: the kernel side, where packets come from, and where reports go. Data
//! flows one way: [`source`] (live interfaces or a replayed capture) → [`kernel`] (the XDP
//! program's maps drained into an interval) → `dns_counter_report` (the interval analysed into a
//! report and rendered) → [`sinks`] (report files, the terminal). [`daemon`] is the live run's
//! loop; [`config`] turns the command line ([`cli`]) into what the layers below take.

pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod kernel;
pub mod schedule;
pub mod sinks;
pub mod source;
