//! dns-counter: the daemon's modules. Data flows one way:
//! loader (attach) → drain (kernel maps → `aggregate::Interval`) → aggregate (→ `report::Report`)
//! → report (render) → output (files); `publish` does the last three at the end of every interval.
//! `replay` feeds a capture file's packets to the same program with BPF_PROG_TEST_RUN instead of
//! attaching it.

pub mod aggregate;
pub mod batch;
pub mod cli;
pub mod clients;
pub mod config;
pub mod domains;
pub mod drain;
pub mod exclude;
pub mod formats;
pub mod grace;
pub mod loader;
pub mod merge;
pub mod names;
pub mod orgs;
pub mod output;
pub mod publish;
pub mod replay;
pub mod report;
