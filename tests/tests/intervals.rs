//! Interval boundaries: traffic spread over several 1 s intervals is split between reports
//! without losing or double-counting a query at any flip.

use std::time::Duration;

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::{LATEST_JSON, check_against_workload, read_report};
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const SEED: u64 = 0x1f1f;
const DISTINCT_NAMES: usize = 20_000;
const TOTAL_QUERIES: u64 = 200_000;
/// 200,000 queries at 40,000/s take about 5 s, so they cross at least four 1 s boundaries.
const SEND_RATE_QPS: u32 = 40_000;
const MIN_BUSY_REPORTS: usize = 3;

#[test]
fn reports_split_traffic_at_interval_boundaries_without_loss() {
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

    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", "1s"],
    )
    .expect("start the counter");
    let summary = Dnsperf::new(RESOLVER_V4, &datafile)
        .max_qps(SEND_RATE_QPS)
        .time_limit(Duration::from_secs(30))
        .run(&lab)
        .expect("run dnsperf");
    assert_eq!(
        summary.sent,
        workload.total(),
        "dnsperf sent the whole workload ({summary:?})"
    );
    let reports = counter.stop().expect("stop the counter");

    let busy = reports
        .iter()
        .filter(|file| file.report.totals.counted > 0)
        .count();
    assert!(
        busy >= MIN_BUSY_REPORTS,
        "traffic spans {busy} of {} reports, expected at least {MIN_BUSY_REPORTS}",
        reports.len()
    );
    if let Err(problems) = check_against_workload(&reports, &workload) {
        panic!(
            "reports do not add up to the workload:\n{problems}\ncounter stderr:\n{}",
            counter.stderr()
        );
    }

    // latest.json is a copy of the newest report.
    let latest = read_report(&out_dir.path().join(LATEST_JSON)).expect("read latest.json");
    let newest = reports.last().expect("at least one report");
    assert_eq!(
        latest,
        newest.report,
        "latest.json matches {}",
        newest.path.display()
    );
}
