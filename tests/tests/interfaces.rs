//! The counted interface changing under a running daemon. Defect: after `ip link del` and a new
//! interface of the same name, the daemon went on without a word and counted nothing more. Now
//! it says the interface is gone, attaches again when one of that name appears, follows a rename,
//! treats a move to another namespace as a detach, and every report says how long each interface
//! was attached in it.

use std::collections::BTreeMap;
use std::time::Duration;

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::{ReportFile, diff_counts, summed_top_counts};
use dns_counter_tests::{Counter, Lab, Workload, require_privileges};

/// Longer than the test: one report, written on SIGTERM.
const INTERVAL: &str = "1h";
/// The daemon looks at its interfaces every second.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(10);

fn start(lab: &Lab, out_dir: &std::path::Path) -> Counter {
    start_with(lab, out_dir, &[])
}

/// A counter with one report for the whole test, and `extra` arguments.
fn start_with(lab: &Lab, out_dir: &std::path::Path, extra: &[&str]) -> Counter {
    let privileges = require_privileges().expect("checked by the caller");
    let mut args = vec!["--top", "0", "--interval", INTERVAL];
    args.extend_from_slice(extra);
    Counter::start(&privileges.dns_counter, lab, out_dir, &args).expect("start the counter")
}

fn check_counts(reports: &[ReportFile], expected: &BTreeMap<String, u64>, counter: &Counter) {
    let got = summed_top_counts(reports).expect("names listed once");
    if let Err(problems) = diff_counts(expected, &got) {
        panic!("{problems}\ncounter stderr:\n{}", counter.stderr());
    }
    for report in reports {
        assert_eq!(report.report.check_consistent(), Ok(()), "{report:?}");
    }
}

/// The one report's `attached` seconds of `interface`.
fn attached_seconds(reports: &[ReportFile], interface: &str) -> f64 {
    assert_eq!(reports.len(), 1, "one report: {reports:#?}");
    let report = &reports[0].report;
    let attached = report
        .attached
        .iter()
        .find(|attached| attached.interface == interface)
        .unwrap_or_else(|| panic!("no attached time of {interface}: {:?}", report.attached));
    assert!(
        attached.seconds <= report.seconds + 1e-6,
        "{attached:?} within {}",
        report.seconds
    );
    attached.seconds
}

#[test]
fn a_deleted_interface_is_said_and_one_of_its_name_is_counted_on_when_it_appears() {
    deleted_and_made_again(&[]);
}

/// As at XDP, at the tc hook: its tcx link goes with the interface, and a new one is made.
#[test]
fn at_tc_too_a_deleted_interface_is_counted_on_when_it_appears_again() {
    deleted_and_made_again(&["--hook", "tc"]);
}

fn deleted_and_made_again(hook: &[&str]) {
    if require_privileges().is_none() {
        return;
    }
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x1f01, 300, 3_000);
    let out_dir = tempfile::tempdir().expect("report directory");
    let mut counter = start_with(&lab, out_dir.path(), hook);

    workload.send_all(&lab, RESOLVER_V4, "before");
    lab.resolver_ip(&["link", "del", lab.resolver_iface()])
        .expect("delete the interface");
    counter
        .wait_for_stderr("is gone", 1, NOTICE_TIMEOUT)
        .expect("the daemon says the interface is gone");
    // Gone for a while: the report must say it was attached for less than its length.
    std::thread::sleep(Duration::from_secs(2));
    lab.reconnect().expect("make the interface again");
    counter
        .wait_for_stderr("counting on it again", 1, NOTICE_TIMEOUT)
        .expect("the daemon attaches to the new interface");
    workload.send_all(&lab, RESOLVER_V4, "after");
    let reports = counter.stop().expect("stop the counter");

    check_counts(&reports, &workload.expected_names_times(2), &counter);
    let report = &reports[0].report;
    let attached = attached_seconds(&reports, lab.resolver_iface());
    assert!(
        attached > 0.0 && attached < report.seconds - 1.5,
        "attached {attached} s of {} s",
        report.seconds
    );
}

#[test]
fn a_renamed_interface_is_counted_on_and_reported_by_its_new_name() {
    if require_privileges().is_none() {
        return;
    }
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x1f02, 300, 3_000);
    let out_dir = tempfile::tempdir().expect("report directory");
    let mut counter = start(&lab, out_dir.path());

    workload.send_all(&lab, RESOLVER_V4, "before");
    let iface = lab.resolver_iface();
    // A rename needs the link down; its IPv4 address stays.
    for args in [
        &["link", "set", iface, "down"][..],
        &["link", "set", iface, "name", "vres-wan"],
        &["link", "set", "vres-wan", "up"],
    ] {
        lab.resolver_ip(args).expect("rename the interface");
    }
    counter
        .wait_for_stderr("is now named vres-wan", 1, NOTICE_TIMEOUT)
        .expect("the daemon follows the rename");
    workload.send_all(&lab, RESOLVER_V4, "after");
    let reports = counter.stop().expect("stop the counter");

    check_counts(&reports, &workload.expected_names_times(2), &counter);
    assert_eq!(reports[0].report.interfaces, ["vres-wan"]);
    let attached = attached_seconds(&reports, "vres-wan");
    assert!(
        attached > reports[0].report.seconds - 1.0,
        "attached all along: {attached}"
    );
}

#[test]
fn an_interface_moved_to_another_namespace_is_detached() {
    if require_privileges().is_none() {
        return;
    }
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x1f03, 300, 3_000);
    let out_dir = tempfile::tempdir().expect("report directory");
    let mut counter = start(&lab, out_dir.path());
    let elsewhere = lab.extra_namespace("away").expect("another namespace");

    workload.send_all(&lab, RESOLVER_V4, "before");
    let iface = lab.resolver_iface();
    lab.resolver_ip(&["link", "set", iface, "netns", elsewhere.name()])
        .expect("move the interface");
    counter
        .wait_for_stderr("is gone", 1, NOTICE_TIMEOUT)
        .expect("the daemon says the interface is gone");
    // Our program is not left on it in the other namespace.
    let link = dns_counter_tests::process::run_checked(
        "ip",
        &["-n", elsewhere.name(), "-d", "-j", "link", "show", iface],
        Duration::from_secs(10),
    )
    .expect("ip link show");
    let link: serde_json::Value = serde_json::from_str(&link).expect("ip -j");
    assert!(
        link[0].get("xdp").is_none(),
        "still attached in {}: {link}",
        elsewhere.name()
    );
    let reports = counter.stop().expect("stop the counter");
    check_counts(&reports, &workload.expected_names_times(1), &counter);
    let attached = attached_seconds(&reports, iface);
    assert!(attached < reports[0].report.seconds, "{attached}");
}

/// Defect: a second dns-counter on the interface failed with a raw errno (`bpf_link_create failed
/// ... File exists`), naming neither the program in the way nor what to do.
#[test]
fn an_interface_holding_another_xdp_program_is_refused_naming_it() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x1f04, 300, 3_000);
    let out_dir = tempfile::tempdir().expect("report directory");
    let mut counter = start(&lab, out_dir.path());

    let second_out = tempfile::tempdir().expect("report directory");
    let mut second = Lab::netns_command(lab.resolver_ns(), &privileges.dns_counter);
    second
        .args(["run", "--iface", lab.resolver_iface(), "--out-dir"])
        .arg(second_out.path());
    let output = dns_counter_tests::process::run_bounded(&mut second, Duration::from_secs(60))
        .expect("the second one exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("vres holds another XDP program already (program ")
            && stderr.contains("(dns_counter))")
            && stderr.contains("ip link set dev vres xdp off")
            && stderr.contains("--hook tc"),
        "{stderr}"
    );
    // The first one counts on, untouched.
    workload.send_all(&lab, RESOLVER_V4, "queries");
    let reports = counter.stop().expect("stop the counter");
    check_counts(&reports, &workload.expected_names_times(1), &counter);
}
