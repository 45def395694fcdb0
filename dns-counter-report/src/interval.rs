//! What the kernel counted in one interval, as the daemon drains it: the input of [`crate::analysis`].

use std::time::{Duration, SystemTime};

use dns_counter_common::Reason;

/// What the kernel counted in one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub start: SystemTime,
    pub end: SystemTime,
    /// Every packet the XDP program looked at in the interval.
    pub packets: u64,
    /// Per distinct name: wire-form name (folded to lower case, terminating zero included) and count.
    pub names: Vec<(Vec<u8>, u64)>,
    /// Per qtype value with a non-zero count.
    pub qtypes: Vec<(u16, u64)>,
    /// Packets not counted by name, per reason (a reason may be missing or repeated: its counts
    /// are added up).
    pub uncounted: Vec<(Reason, u64)>,
    /// Queries per client prefix, with --clients.
    pub clients: Option<ClientCounts>,
}

/// What the kernel counted per client prefix in one interval.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientCounts {
    /// The prefix (address with the host bits cleared) and its queries.
    pub prefixes: Vec<(std::net::IpAddr, u64)>,
    /// Queries whose prefix did not fit in the kernel's client table.
    pub untracked: u64,
}

/// Where the counts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub host: String,
    pub interfaces: Vec<String>,
}

/// Prefix lengths that group clients: an IPv4 /v4 and an IPv6 /v6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientPrefix {
    pub v4: u8,
    pub v6: u8,
}

/// The end of the interval that contains `at`: intervals end on multiples of `length` since the
/// Unix epoch, so reports of several hosts line up. An `at` on a boundary starts an interval.
pub fn interval_end(at: SystemTime, length: Duration) -> SystemTime {
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let step = length.as_nanos().max(1);
    let ends = (since_epoch.as_nanos() / step + 1) * step;
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ends as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(nanos: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    #[test]
    fn intervals_end_on_multiples_of_their_length_since_the_epoch() {
        let minute = Duration::from_secs(60);
        assert_eq!(interval_end(at(0), minute), at(60_000_000_000));
        assert_eq!(interval_end(at(59_999_999_999), minute), at(60_000_000_000));
        assert_eq!(
            interval_end(at(60_000_000_000), minute),
            at(120_000_000_000)
        );
        let stamp = SystemTime::UNIX_EPOCH + Duration::new(1_795_309_230, 5);
        assert_eq!(
            interval_end(stamp, minute),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_309_260)
        );
    }
}
