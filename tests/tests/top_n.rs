//! `--top N`: the report lists exactly the N most queried names with exact counts and sums the
//! rest under `rest`.

use std::time::Duration;

use dns_counter_tests::counter::wait_for_room_in_interval;
use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::diff_counts;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const SEED: u64 = 0x7042;
const DISTINCT_NAMES: usize = 5_000;
const TOTAL_QUERIES: u64 = 50_000;
const TOP: usize = 50;
/// An hour-long interval, started with at least a minute left, holds the whole run in one report.
const INTERVAL: Duration = Duration::from_secs(3600);
const ROOM_FOR_THE_RUN: Duration = Duration::from_secs(60);

#[test]
fn top_lists_the_most_queried_names_and_sums_the_rest() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(SEED, DISTINCT_NAMES, TOTAL_QUERIES);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let out_dir = tempfile::tempdir().expect("report directory");

    let mut by_count: Vec<(&String, &u64)> = workload.expected_names().iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    assert!(
        by_count[TOP - 1].1 > by_count[TOP].1,
        "the workload has no tie at the top-{TOP} cut"
    );
    let expected_top = by_count[..TOP]
        .iter()
        .map(|(name, count)| ((*name).clone(), **count))
        .collect();
    let expected_top_sum: u64 = by_count[..TOP].iter().map(|(_, count)| **count).sum();

    wait_for_room_in_interval(INTERVAL, ROOM_FOR_THE_RUN);
    let top_arg = TOP.to_string();
    let args = ["--top", &top_arg, "--interval", "1h"];
    let mut counter = Counter::start(&privileges.dns_counter, &lab, out_dir.path(), &args)
        .expect("start the counter");
    let summary = Dnsperf::new(RESOLVER_V4, &datafile)
        .time_limit(Duration::from_secs(30))
        .run(&lab)
        .expect("run dnsperf");
    assert_eq!(
        summary.sent,
        workload.total(),
        "dnsperf sent the whole workload ({summary:?})"
    );
    let reports = counter.stop().expect("stop the counter");
    let context = format!("counter stderr:\n{}", counter.stderr());

    assert_eq!(
        reports.len(),
        1,
        "one report for one partial interval: {reports:#?}"
    );
    let report = &reports[0].report;
    if let Err(problems) = report.check_consistent() {
        panic!("report is inconsistent: {problems}; {context}");
    }
    assert_eq!(
        report.totals.counted,
        workload.total(),
        "every query counted; {context}"
    );
    assert_eq!(
        report.totals.distinct_names, DISTINCT_NAMES as u64,
        "distinct names; {context}"
    );
    let top = report
        .top_counts()
        .unwrap_or_else(|problem| panic!("{problem}"));
    if let Err(difference) = diff_counts(&expected_top, &top) {
        panic!(
            "top {TOP} differs from the workload's {TOP} most queried names: {difference}; {context}"
        );
    }
    assert_eq!(
        report.rest.names,
        (DISTINCT_NAMES - TOP) as u64,
        "names beyond the top; {context}"
    );
    assert_eq!(
        report.rest.count,
        workload.total() - expected_top_sum,
        "queries beyond the top; {context}"
    );
}
