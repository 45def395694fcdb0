//! The report directory under faults. One that cannot be written at start is refused before
//! anything is attached. One that becomes unwritable later (replaced, full) is reported on stderr
//! while counting goes on, and once it can be written again every report kept meanwhile is
//! written, each once: no query is lost or counted twice.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::process::run_bounded;
use dns_counter_tests::report::{ReportFile, check_against_workload};
use dns_counter_tests::tmpfs::Tmpfs;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const BLOCKED_MESSAGE: &str = "kept in memory to write later, counting goes on";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

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
    let aside = dir.path().join("reports.aside");

    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        &out_dir,
        &["--top", "0", "--interval", "1s"],
    )
    .expect("start the counter");
    // Once it runs, a file takes the directory's place: every write fails.
    fs::rename(&out_dir, &aside).expect("move the report directory aside");
    fs::write(&out_dir, "not a directory").expect("block the report directory");
    std::thread::scope(|scope| {
        let traffic = scope.spawn(|| {
            Dnsperf::new(RESOLVER_V4, &datafile)
                .max_qps(10_000)
                .time_limit(Duration::from_secs(20))
                .run(&lab)
                .expect("run dnsperf")
        });
        counter
            .wait_for_stderr(BLOCKED_MESSAGE, 2, Duration::from_secs(10))
            .expect("the unwritable directory is reported");
        let summary = traffic.join().expect("dnsperf thread");
        assert_eq!(summary.sent, workload.total());
    });
    fs::remove_file(&out_dir).expect("unblock the report directory");
    fs::rename(&aside, &out_dir).expect("put the report directory back");
    let reports = counter.stop().expect("stop the counter");

    assert!(
        reports.len() >= 3,
        "kept and later reports: {}",
        reports.len()
    );
    check_against_workload(&reports, &workload).expect("every query is in a report");
}

/// Defect: with a file as --out-dir the daemon attached, counted, and complained a minute later.
#[test]
fn an_out_dir_that_cannot_take_a_report_is_refused_before_attaching() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("reports");
    fs::write(&file, "not a directory").expect("write a file");
    let read_only = Tmpfs::mount(&dir.path().join("read-only"), 1 << 20, &["ro"])
        .expect("mount a read-only tmpfs");

    let cases = [
        (file.clone(), "is not a directory"),
        (read_only.path().join("reports"), "cannot create it"),
        (read_only.path().to_owned(), "cannot write in it"),
    ];
    for (out_dir, expected) in cases {
        let output = run_bounded(
            Lab::netns_command(lab.resolver_ns(), &privileges.dns_counter)
                .args(["run", "--iface", lab.resolver_iface(), "--out-dir"])
                .arg(&out_dir),
            STARTUP_TIMEOUT,
        )
        .expect("run dns-counter");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{}: {stderr}", out_dir.display());
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one line for {}: {stderr}",
            out_dir.display()
        );
        assert!(
            lines[0].contains(&format!("--out-dir {}", out_dir.display()))
                && lines[0].contains(expected),
            "{}: {stderr}",
            out_dir.display()
        );
        assert!(
            !stderr.contains("counting on"),
            "refused before attaching: {stderr}"
        );
        let link = run_bounded(
            Command::new("ip").args([
                "-n",
                lab.resolver_ns(),
                "link",
                "show",
                "dev",
                lab.resolver_iface(),
            ]),
            STARTUP_TIMEOUT,
        )
        .expect("ip link show");
        let link = String::from_utf8_lossy(&link.stdout);
        assert!(!link.contains("xdp"), "nothing attached: {link}");
    }
}

/// Defect: a disk that filled between a report's `.json` and its `.txt` left the `.json`, and the
/// retry wrote the report again as `<stamp>-1.*`: a merge of the directory counted 12,000 queries
/// for 9,000 sent.
#[test]
fn a_full_disk_loses_no_report_and_writes_none_twice() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    // Few names, each in every report: every report's files are about the same size.
    let workload = Workload::zipf(0xf011, 40, 16_000);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), 4 << 20, &[]).expect("mount a small tmpfs");
    let out_dir = disk.path().join("reports");
    let filler = disk.path().join("filler");

    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        &out_dir,
        &["--top", "0", "--interval", "1s", "--format", "json,txt"],
    )
    .expect("start the counter");
    std::thread::scope(|scope| {
        let traffic = scope.spawn(|| {
            Dnsperf::new(RESOLVER_V4, &datafile)
                .max_qps(2_000)
                .time_limit(Duration::from_secs(20))
                .run(&lab)
                .expect("run dnsperf")
        });
        // Right after a report: room for about its .json, not for its .txt as well.
        let (json, txt) = wait_for_a_fresh_report(&out_dir);
        let page = 4096;
        let pages = |bytes: u64| bytes.div_ceil(page);
        let room = pages(json) * page + (pages(txt) * page).min(page) / 2;
        let free = disk.free_bytes().expect("free space");
        fs::write(&filler, vec![0u8; free.saturating_sub(room) as usize]).expect("fill the disk");
        eprintln!(
            "filled the disk to {} bytes free: a report is {json} + {txt} bytes",
            disk.free_bytes().unwrap_or(0)
        );
        counter
            .wait_for_stderr(BLOCKED_MESSAGE, 2, Duration::from_secs(10))
            .expect("the full disk is reported");
        fs::remove_file(&filler).expect("free the disk");
        let summary = traffic.join().expect("dnsperf thread");
        assert_eq!(summary.sent, workload.total());
    });
    let reports = counter.stop().expect("stop the counter");

    let leftovers: Vec<String> = fs::read_dir(&out_dir)
        .expect("list the reports")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // A second copy of a report would cover an interval again (`<stamp>-1` itself is only a report
    // ending in the same second, as the last partial one may).
    let time = |text: &str| humantime::parse_rfc3339(text).expect("an RFC 3339 time");
    let mut spans: Vec<_> = reports
        .iter()
        .map(|file| {
            let report = &file.report;
            (time(&report.start), time(&report.end), file.path.as_path())
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "{} and {} cover the same time",
            pair[0].2.display(),
            pair[1].2.display()
        );
    }
    for file in &reports {
        assert!(
            file.txt_path().is_file(),
            "{} has no .txt beside it",
            file.path.display()
        );
    }
    check_against_workload(&reports, &workload).expect("every query once");
    check_merge(&privileges.dns_counter, &reports, workload.total());
}

/// Waits for `latest.json` to be replaced, then returns the sizes of the report's .json and .txt.
fn wait_for_a_fresh_report(out_dir: &Path) -> (u64, u64) {
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let latest = out_dir.join("latest.json");
    let before = modified(&latest);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = modified(&latest);
        if now.is_some() && now != before {
            break;
        }
        assert!(Instant::now() < deadline, "no report within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let size = |name: &str| fs::metadata(out_dir.join(name)).map_or(0, |meta| meta.len());
    (size("latest.json"), size("latest.txt"))
}

/// `dns-counter merge` over the directory's reports counts what was sent.
fn check_merge(dns_counter: &Path, reports: &[ReportFile], sent: u64) {
    let output = run_bounded(
        Command::new(dns_counter)
            .arg("merge")
            .args(reports.iter().map(|file| &file.path)),
        STARTUP_TIMEOUT,
    )
    .expect("run merge");
    assert!(
        output.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged: serde_json::Value = serde_json::from_slice(&output.stdout).expect("merged JSON");
    assert_eq!(merged["totals"]["counted"].as_u64(), Some(sent), "merged");
}
