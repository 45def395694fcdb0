//! Wall-clock steps: the daemon times intervals on the monotonic clock and labels them with
//! wall-clock boundaries. The daemon runs with libfaketime preloaded, its wall clock read from a
//! file the test rewrites (the monotonic clock left alone), and is stepped 1 h forward, then
//! back.
//!
//! Before: the forward step wrote one empty report per interval of the hour (1,800 here), so
//! `--keep` deleted the real ones; the backward step left it without a report for an hour.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::{ReportFile, diff_counts, summed_top_counts};
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_faketime, require_privileges};

const INTERVAL: &str = "2s";
const HOUR_SECONDS: f64 = 3_600.0;
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// Far fewer than the 1,800 empty reports an hour's step used to make.
const KEEP: &str = "60";

fn send(lab: &Lab, datafile: &Path, workload: &Workload) {
    let summary = Dnsperf::new(RESOLVER_V4, datafile)
        .max_qps(5_000)
        .time_limit(Duration::from_secs(20))
        .run(lab)
        .expect("run dnsperf");
    assert_eq!(summary.sent, workload.total(), "dnsperf sent it all");
}

/// Waits until the daemon has written `more` reports beyond `seen`.
fn wait_for_reports(counter: &Counter, seen: usize, more: usize) -> Vec<ReportFile> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let reports = counter.reports().expect("read the reports");
        if reports.len() >= seen + more {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "only {} reports within {STEP_TIMEOUT:?} (wanted {}): reporting stalled; stderr:\n{}",
            reports.len(),
            seen + more,
            counter.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wall_clock_steps_give_one_report_for_the_gap_and_never_stall() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(faketime) = require_faketime() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0xc10c, 200, 3_000);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let clock = lab.work_dir().join("faketime");
    fs::write(&clock, "+0\n").expect("write the fake clock");
    let out_dir = tempfile::tempdir().expect("report directory");
    let env: [(&str, &OsStr); 4] = [
        ("LD_PRELOAD", faketime.as_os_str()),
        ("FAKETIME_TIMESTAMP_FILE", clock.as_os_str()),
        // Read the file at every clock call, so a step takes effect at once.
        ("FAKETIME_NO_CACHE", OsStr::new("1")),
        ("FAKETIME_DONT_FAKE_MONOTONIC", OsStr::new("1")),
    ];
    let mut counter = Counter::start_with_env(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", INTERVAL, "--keep", KEEP],
        &env,
    )
    .expect("start the counter");

    send(&lab, &datafile, &workload);
    fs::write(&clock, "+1h\n").expect("step the clock forward");
    counter
        .wait_for_stderr("the wall clock stepped forward by 1h", 1, STEP_TIMEOUT)
        .expect("the forward step is said");
    send(&lab, &datafile, &workload);
    let seen = counter.reports().expect("reports").len();
    fs::write(&clock, "+0\n").expect("step the clock back");
    counter
        .wait_for_stderr("the wall clock stepped back by", 1, STEP_TIMEOUT)
        .expect("the backward step is said");
    // Reports go on every interval after the step back: two more within a few intervals.
    wait_for_reports(&counter, seen, 2);
    send(&lab, &datafile, &workload);
    let reports = counter.stop().expect("stop the counter");
    let context = format!("stderr:\n{}", counter.stderr());

    for file in &reports {
        let report = &file.report;
        report
            .check_consistent()
            .unwrap_or_else(|problem| panic!("{}: {problem}; {context}", file.path.display()));
        let time = |text: &str| humantime::parse_rfc3339(text).expect("RFC 3339");
        assert!(
            report.seconds >= 0.0 && time(&report.start) <= time(&report.end),
            "{} runs backwards: {} to {} ({} s)",
            file.path.display(),
            report.start,
            report.end,
            report.seconds
        );
    }
    let spans_gap: Vec<&ReportFile> = reports
        .iter()
        .filter(|file| file.report.seconds >= HOUR_SECONDS)
        .collect();
    assert_eq!(
        spans_gap.len(),
        1,
        "one report covers the hour skipped; {context}"
    );
    assert!(
        reports.len() < 40,
        "{} reports for well under a minute of counting; {context}",
        reports.len()
    );
    // Nothing deleted by --keep, nothing lost or counted twice.
    let expected: BTreeMap<String, u64> = workload
        .expected_names()
        .iter()
        .map(|(name, count)| (name.clone(), count * 3))
        .collect();
    let counted = summed_top_counts(&reports).expect("top counts");
    diff_counts(&expected, &counted).unwrap_or_else(|diff| panic!("{diff}; {context}"));
}
