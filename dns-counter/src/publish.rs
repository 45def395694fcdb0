//! The end of an interval, the same for `run` and `replay`: where intervals end, and what happens
//! to the counts of one that did (build the report, check it adds up, write it, log a line).

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use crate::{
    aggregate::{Interval, Meta, ReportOptions, build_report},
    output::{self, OutputError},
};

/// The end of the interval that contains `at`: intervals end on multiples of `length` since the
/// Unix epoch, so reports of several hosts line up. An `at` on a boundary starts an interval.
pub fn interval_end(at: SystemTime, length: Duration) -> SystemTime {
    let since_epoch = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let step = length.as_nanos().max(1);
    let ends = (since_epoch.as_nanos() / step + 1) * step;
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ends as u64)
}

/// Reports one interval: builds the report, warns if it does not add up, writes its files into
/// `out_dir` and logs one line saying where. Returns the paths written; what a failure to write
/// means is the caller's to say (`run` counts on, `replay` stops).
pub fn report(
    interval: &Interval,
    meta: &Meta,
    options: &ReportOptions,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, OutputError> {
    let report = build_report(interval, meta, options);
    if let Err(problem) = report.check_invariants() {
        eprintln!("dns-counter: warning: report does not add up: {problem}");
    }
    let paths = output::write_report(out_dir, &report)?;
    eprintln!(
        "dns-counter: {} queries, {} names counted -> {}",
        report.totals.queries,
        report.totals.distinct_names,
        paths.first().map(|p| p.display().to_string()).unwrap_or_default()
    );
    Ok(paths)
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
        assert_eq!(interval_end(at(60_000_000_000), minute), at(120_000_000_000));
        let stamp = SystemTime::UNIX_EPOCH + Duration::new(1_795_309_230, 5);
        assert_eq!(interval_end(stamp, minute), SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_309_260));
    }
}
