//! Signals the daemon handles without losing a count: SIGHUP reads the exclusion list again (a
//! file with a mistake keeps the lists in use), SIGUSR1 writes a snapshot of the interval so far
//! and resets nothing. Both used to kill the daemon (rc 129 and 138) and lose the interval.

use std::fs;
use std::time::Duration;

use dns_counter_tests::counter::wait_for_room_in_interval;
use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::{SNAPSHOT_JSON, diff_counts, read_report, summed_top_counts};
use dns_counter_tests::workload::zipf_name_counts;
use dns_counter_tests::{Counter, Lab, Workload, require_privileges};

/// Boundaries of a one-day interval come at midnight only, so the whole test is one interval.
const INTERVAL: &str = "1day";
const DAY: Duration = Duration::from_secs(86_400);
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);
const ROUTER_NAME: &str = "time.router-vendor.example";
const ROUTER_QUERIES: u64 = 2_000;
const WPAD_NAME: &str = "wpad.isp-broadband.example";
const WPAD_QUERIES: u64 = 1_000;

#[test]
fn sighup_reads_the_exclusion_list_again_and_keeps_it_when_the_file_is_wrong() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let mut counts = zipf_name_counts(0x5160, 300, 6_000);
    counts.push((ROUTER_NAME.to_owned(), ROUTER_QUERIES));
    counts.push((WPAD_NAME.to_owned(), WPAD_QUERIES));
    let workload = Workload::from_counts(0x5160, counts);
    let exclude_file = lab.work_dir().join("exclude.txt");
    fs::write(&exclude_file, format!("{ROUTER_NAME}\n")).expect("write the exclude file");
    let out_dir = tempfile::tempdir().expect("report directory");
    let exclude_arg = exclude_file.to_string_lossy();
    wait_for_room_in_interval(DAY, Duration::from_secs(300));
    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &[
            "--top",
            "0",
            "--interval",
            INTERVAL,
            "--exclude-file",
            &exclude_arg,
        ],
    )
    .expect("start the counter");

    workload.send_all(&lab, RESOLVER_V4, "queries");
    // The router's name is counted from now on, the WPAD name excluded.
    fs::write(&exclude_file, format!("# changed\n{WPAD_NAME}\n")).expect("rewrite the file");
    counter.signal(libc::SIGHUP).expect("SIGHUP");
    counter
        .wait_for_stderr("SIGHUP: read the exclusion", 1, SIGNAL_TIMEOUT)
        .expect("the lists were read again");
    // An empty label is a mistake: the lists in use stay.
    fs::write(&exclude_file, "www..example\n").expect("break the file");
    counter.signal(libc::SIGHUP).expect("SIGHUP");
    counter
        .wait_for_stderr("SIGHUP: kept the lists in use", 1, SIGNAL_TIMEOUT)
        .expect("the broken file was refused");
    assert!(
        counter.stderr().contains("exclude.txt:1"),
        "the refusal names the file and line:\n{}",
        counter.stderr()
    );
    workload.send_all(&lab, RESOLVER_V4, "queries");
    let reports = counter.stop().expect("the daemon survived both SIGHUPs");

    assert_eq!(reports.len(), 1, "one interval");
    let report = &reports[0].report;
    report.check_consistent().expect("consistent");
    assert_eq!(report.totals.queries, 2 * workload.total(), "no query lost");
    // The lists read on the first SIGHUP apply to the whole interval.
    let excluded: Vec<(&str, u64)> = report
        .excluded
        .iter()
        .map(|entry| (entry.name.as_str(), entry.count))
        .collect();
    assert_eq!(excluded, [(WPAD_NAME, 2 * WPAD_QUERIES)]);
    let mut expected = workload.expected_names_times(2);
    expected.remove(WPAD_NAME);
    let counted = summed_top_counts(&reports).expect("top counts");
    diff_counts(&expected, &counted).expect("every other name counted, the router's included");
}

#[test]
fn sigusr1_writes_a_snapshot_and_resets_nothing() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x5161, 400, 8_000);
    let out_dir = tempfile::tempdir().expect("report directory");
    wait_for_room_in_interval(DAY, Duration::from_secs(300));
    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", INTERVAL],
    )
    .expect("start the counter");

    workload.send_all(&lab, RESOLVER_V4, "queries");
    counter.signal(libc::SIGUSR1).expect("SIGUSR1");
    counter
        .wait_for_stderr("wrote a snapshot", 1, SIGNAL_TIMEOUT)
        .expect("a snapshot");
    let snapshot = read_report(&out_dir.path().join(SNAPSHOT_JSON)).expect("read the snapshot");
    assert!(snapshot.snapshot, "marked as a snapshot");
    snapshot.check_consistent().expect("the snapshot adds up");
    assert_eq!(snapshot.totals.counted, workload.total());
    let in_snapshot = snapshot.top_counts().expect("snapshot names");
    diff_counts(workload.expected_names(), &in_snapshot).expect("the snapshot is exact");
    assert!(snapshot.seconds > 0.0);

    workload.send_all(&lab, RESOLVER_V4, "queries");
    let reports = counter.stop().expect("the daemon survived SIGUSR1");
    assert_eq!(
        reports.len(),
        1,
        "one interval, the snapshot not among its reports"
    );
    assert!(!reports[0].report.snapshot);
    assert_eq!(reports[0].report.start, snapshot.start);
    // Nothing was reset: the interval's report holds both sends.
    let counted = summed_top_counts(&reports).expect("top counts");
    diff_counts(&workload.expected_names_times(2), &counted).expect("both sends, exactly");
}
