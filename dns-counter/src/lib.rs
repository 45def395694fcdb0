//! dns-counter: the daemon's modules. Data flows one way:
//! loader (attach) → drain (kernel maps → `aggregate::Interval`) → aggregate (→ `report::Report`)
//! → report (render) → output (files).

pub mod aggregate;
pub mod cli;
pub mod config;
pub mod drain;
pub mod exclude;
pub mod grace;
pub mod loader;
pub mod names;
pub mod output;
pub mod report;
