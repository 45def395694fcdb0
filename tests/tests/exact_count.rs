//! One long interval over a large workload: the report must match the workload exactly, name by
//! name and qtype by qtype, over IPv4 and over IPv6.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dns_counter_tests::lab::{RESOLVER_V4, RESOLVER_V6};
use dns_counter_tests::report::check_against_workload;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const DISTINCT_NAMES: usize = 20_000;
const TOTAL_QUERIES: u64 = 200_000;
/// Far longer than the test, so normally the only report is the one written on SIGTERM.
const INTERVAL_SECS: u64 = 600;

#[test]
fn ipv4_queries_are_counted_exactly() {
    counts_workload_exactly(RESOLVER_V4, 0x0004);
}

#[test]
fn ipv6_queries_are_counted_exactly() {
    counts_workload_exactly(RESOLVER_V6, 0x0006);
}

fn counts_workload_exactly(server: IpAddr, seed: u64) {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(seed, DISTINCT_NAMES, TOTAL_QUERIES);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let out_dir = tempfile::tempdir().expect("report directory");

    let first_window = interval_window(SystemTime::now());
    let interval = format!("{INTERVAL_SECS}s");
    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", &interval],
    )
    .expect("start the counter");
    let summary = Dnsperf::new(server, &datafile)
        .time_limit(Duration::from_secs(30))
        .run(&lab)
        .expect("run dnsperf");
    assert_eq!(
        summary.sent,
        workload.total(),
        "dnsperf sent the whole workload ({summary:?})"
    );
    let reports = counter.stop().expect("stop the counter");
    let last_window = interval_window(SystemTime::now());

    // Intervals end on multiples of the interval since the Unix epoch; a run that happens to
    // straddle one of those boundaries legitimately gets a second report.
    let windows_touched = usize::try_from(last_window - first_window + 1).expect("few windows");
    if windows_touched == 1 {
        assert_eq!(
            reports.len(),
            1,
            "one report for one partial interval: {reports:#?}"
        );
    } else {
        assert!(
            (1..=windows_touched).contains(&reports.len()),
            "{} reports for {windows_touched} intervals",
            reports.len()
        );
    }
    if let Err(problems) = check_against_workload(&reports, &workload) {
        panic!(
            "reports do not match the workload:\n{problems}\ncounter stderr:\n{}",
            counter.stderr()
        );
    }
}

/// The index of the `INTERVAL_SECS` window since the Unix epoch that `time` falls in.
fn interval_window(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        / INTERVAL_SECS
}
