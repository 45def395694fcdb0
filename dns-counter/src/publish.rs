//! The end of an interval, the same for `run` and `replay`: where intervals end, and what happens
//! to the counts of one that did (build the report, check it adds up, write it, log a line).

use std::{
    collections::VecDeque,
    path::PathBuf,
    time::{Duration, SystemTime},
};

use crate::{
    aggregate::{Interval, Meta, ReportOptions, build_report},
    output::{self, OutputError, Target},
    report::Report,
};

/// Reports kept in memory while the report directory cannot be written: a day of one-minute
/// intervals.
pub const MAX_UNWRITTEN: usize = 1440;

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

/// Reports one interval: builds the report, warns if it does not add up, writes its files as
/// `target` says and logs one line saying where. Returns the paths written; what a failure to
/// write means is the caller's to say (`run` keeps the report for later, `replay` stops).
pub fn report(
    interval: &Interval,
    meta: &Meta,
    options: &ReportOptions,
    target: Target,
) -> Result<Vec<PathBuf>, OutputError> {
    write(&build(interval, meta, options), target)
}

/// The report of one interval; warns if it does not add up.
pub fn build(interval: &Interval, meta: &Meta, options: &ReportOptions) -> Report {
    let report = build_report(interval, meta, options);
    if let Err(problem) = report.check_invariants() {
        eprintln!("dns-counter: warning: report does not add up: {problem}");
    }
    report
}

/// Writes a report's files, logs one line saying where, then deletes the reports beyond
/// `--keep` (a failure to is a warning: the report itself was written).
pub fn write(report: &Report, target: Target) -> Result<Vec<PathBuf>, OutputError> {
    let written = output::write_report(&target, report)?;
    eprintln!(
        "dns-counter: {} queries, {} names counted -> {}",
        report.totals.queries,
        report.totals.distinct_names,
        written
            .paths
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    if let Some(keep) = target.keep
        && let Err(err) = output::prune(target.dir, keep, &written.base)
    {
        eprintln!("dns-counter: warning: {err}");
    }
    Ok(written.paths)
}

/// Reports not written yet, oldest first. A live run keeps a report it could not write and tries
/// again at the end of every interval, so a report directory that comes back loses nothing.
#[derive(Default)]
pub struct Backlog {
    reports: VecDeque<Report>,
}

impl Backlog {
    /// Queues `report` and writes every queued report it can, oldest first. Says on stderr what
    /// failed and how many reports wait; past `MAX_UNWRITTEN` the oldest is dropped, saying so.
    pub fn publish(&mut self, report: Report, target: Target) {
        self.reports.push_back(report);
        while let Some(oldest) = self.reports.front() {
            if let Err(err) = write(oldest, target) {
                eprintln!(
                    "dns-counter: {err}; {} report(s) kept in memory to write later, counting goes on",
                    self.reports.len()
                );
                break;
            }
            self.reports.pop_front();
        }
        if self.reports.len() > MAX_UNWRITTEN
            && let Some(dropped) = self.reports.pop_front()
        {
            eprintln!(
                "dns-counter: dropped the unwritten report that ended {}",
                dropped.end
            );
        }
    }

    /// Reports still unwritten.
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{aggregate::Interval, exclude::Exclusions};

    fn report_ending(second: u64) -> Report {
        let interval = Interval {
            start: at((second - 1) * 1_000_000_000),
            end: at(second * 1_000_000_000),
            packets: second,
            names: vec![(b"\x01a\x00".to_vec(), second)],
            qtypes: vec![(1, second)],
            uncounted: vec![],
            clients: None,
        };
        let meta = Meta {
            host: "h".into(),
            interfaces: vec!["eth0".into()],
        };
        build(
            &interval,
            &meta,
            &ReportOptions::new(0, &Exclusions::default()),
        )
    }

    #[test]
    fn reports_wait_while_the_directory_is_unwritable_and_are_written_when_it_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out_dir = dir.path().join("reports");
        std::fs::write(&out_dir, "a file where the directory should be").expect("block");
        let formats = [crate::cli::Format::Json, crate::cli::Format::Txt];
        let target = Target {
            dir: &out_dir,
            formats: &formats,
            keep: None,
        };
        let mut backlog = Backlog::default();
        backlog.publish(report_ending(1_800_000_001), target);
        backlog.publish(report_ending(1_800_000_002), target);
        assert_eq!(backlog.len(), 2);

        std::fs::remove_file(&out_dir).expect("unblock");
        backlog.publish(report_ending(1_800_000_003), target);
        assert!(backlog.is_empty());
        let mut written: Vec<String> = std::fs::read_dir(&out_dir)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".json") && name != "latest.json")
            .collect();
        written.sort();
        assert_eq!(written.len(), 3, "{written:?}");
        let latest = std::fs::read_to_string(out_dir.join("latest.json")).expect("latest");
        assert!(
            latest.contains(&crate::report::rfc3339_utc(at(1_800_000_003_000_000_000))),
            "{latest}"
        );
    }

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
