//! The lab for dns-counter's privileged integration tests and its demo.
//!
//! A [`Lab`] is two fresh network namespaces (client and resolver) joined by a veth pair, with
//! unbound answering in the resolver namespace and, if asked, resolver addresses the client
//! reaches only through VLAN tags ([`tagging`]). A [`Counter`] runs `dns-counter run` on the
//! resolver's interface, [`Dnsperf`] sends a [`Workload`] with known per-name counts from the
//! client ([`client`] sends single queries from sockets with IP options, extension headers or
//! over TCP), and [`report`] reads and checks what the counter wrote. Every namespace and process
//! is removed on drop, also when a test panics.

pub mod bench;
pub mod bpf_stats;
pub mod client;
pub mod counter;
pub mod dnsperf;
pub mod lab;
pub mod map_memory;
pub mod netdev;
pub mod prereq;
pub mod process;
pub mod pty;
pub mod report;
pub mod tagging;
pub mod test_run;
pub mod tmpfs;
pub mod traffic;
pub mod workload;

pub use counter::Counter;
pub use dnsperf::{Dnsperf, DnsperfSummary};
pub use lab::{Lab, TaggedAddress};
pub use prereq::{
    Privileges, require_corpus, require_faketime, require_lab_tools, require_privileges,
    require_program, require_root, require_root_and_cpus,
};
pub use report::{Report, ReportFile};
pub use tagging::VlanTag;
pub use workload::{Qtype, Workload};
