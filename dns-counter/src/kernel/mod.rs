//! The kernel side: loading and attaching the XDP program ([`loader`]), draining its maps into
//! an [`Interval`](dns_counter_report::interval::Interval) ([`drain`]), what its maps cost and
//! whether the host has it ([`memory`]), which program holds an interface ([`occupant`]), and [`sys`], the one place that calls `bpf(2)` by hand.

pub mod drain;
pub mod loader;
pub mod memory;
pub mod occupant;
pub mod sys;

#[cfg(test)]
mod tests {
    use std::io;

    use super::{drain::DrainError, sys::batch::BatchError};
    use crate::config::ConfigError;

    /// Defect: a cause was in the message and its `source()` as well, so `{:#}` said it twice
    /// (`cannot wait for running XDP programs: Operation not permitted (os error 1): Operation
    /// not permitted (os error 1)`).
    #[test]
    fn a_cause_is_said_once() {
        let denied = || io::Error::from_raw_os_error(libc::EPERM);
        let errors: Vec<anyhow::Error> = vec![
            DrainError::Grace(denied()).into(),
            DrainError::Cpus(denied()).into(),
            DrainError::Batch {
                map: "COUNTS_0",
                source: BatchError::Syscall {
                    operation: super::sys::batch::Operation::LookupAndDelete,
                    fd: 3,
                    source: denied(),
                },
            }
            .into(),
            ConfigError::RouteTable {
                path: "/proc/net/route",
                source: denied(),
            }
            .into(),
        ];
        let cause = denied().to_string();
        for err in errors {
            let text = format!("{err:#}");
            assert_eq!(text.matches(&cause).count(), 1, "{text}");
        }
    }
}
