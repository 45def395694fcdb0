//! A report directory that cannot be written is reported on stderr while counting goes on, and
//! once it can be written again every report kept meanwhile is written: no query is lost.

use std::time::{Duration, Instant};

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::check_against_workload;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const BLOCKED_MESSAGE: &str = "kept in memory to write later, counting goes on";

#[test]
fn reports_kept_while_the_out_dir_is_unwritable_are_written_when_it_returns() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x0d1, 500, 20_000);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("reports");
    // A file where the report directory should be: every write fails.
    std::fs::write(&out_dir, "not a directory").expect("block the report directory");

    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        &out_dir,
        &["--top", "0", "--interval", "1s"],
    )
    .expect("start the counter");
    let summary = Dnsperf::new(RESOLVER_V4, &datafile)
        .max_qps(10_000)
        .time_limit(Duration::from_secs(20))
        .run(&lab)
        .expect("run dnsperf");
    assert_eq!(summary.sent, workload.total());

    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.stderr().matches(BLOCKED_MESSAGE).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no report of the unwritable directory:\n{}",
            counter.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(&out_dir).expect("unblock the report directory");
    let reports = counter.stop().expect("stop the counter");

    assert!(
        reports.len() >= 3,
        "kept and later reports: {}",
        reports.len()
    );
    check_against_workload(&reports, &workload).expect("every query is in a report");
}
