//! Exclusions: names given with `--exclude` or in an `--exclude-file` are counted apart, whatever
//! case they are sent in, and kept out of the top list and the counted total.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::{diff_counts, summed_top_counts};
use dns_counter_tests::workload::zipf_name_counts;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const SEED: u64 = 0xe7c1;
/// The name hard-coded in customer routers, excluded on the command line.
const ROUTER_NAME: &str = "time.router-vendor.example";
const ROUTER_QUERIES: u64 = 12_000;
/// A second excluded name, from the exclude file.
const WPAD_NAME: &str = "wpad.isp-broadband.example";
const WPAD_QUERIES: u64 = 3_000;
/// An exclusion no query matches: a vendor's names the customers no longer ask for.
const STALE_WILDCARD: &str = "*.stale-vendor.example";

#[test]
fn excluded_names_are_counted_apart() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let mut counts = zipf_name_counts(SEED, 2_000, 40_000);
    counts.push((ROUTER_NAME.to_owned(), ROUTER_QUERIES));
    counts.push((WPAD_NAME.to_owned(), WPAD_QUERIES));
    let workload = Workload::from_counts(SEED, counts);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let exclude_file = lab.work_dir().join("exclude.txt");
    fs::write(
        &exclude_file,
        format!("# names every customer's equipment asks for\n{WPAD_NAME}\n{STALE_WILDCARD}\n"),
    )
    .expect("write the exclude file");
    let out_dir = tempfile::tempdir().expect("report directory");

    let exclude_file_arg = exclude_file.to_string_lossy();
    let args = [
        "--top",
        "0",
        "--interval",
        "600s",
        "--exclude",
        ROUTER_NAME,
        "--exclude-file",
        &exclude_file_arg,
    ];
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
    assert!(!reports.is_empty(), "the counter wrote a report");
    let context = format!("counter stderr:\n{}", counter.stderr());

    // Everything below adds up over reports, in case the run straddled an interval boundary.
    let mut excluded = BTreeMap::new();
    for file in &reports {
        if let Err(problems) = file.report.check_consistent() {
            panic!(
                "{} is inconsistent: {problems}; {context}",
                file.path.display()
            );
        }
        for entry in &file.report.excluded {
            *excluded.entry(entry.name.clone()).or_insert(0) += entry.count;
        }
    }
    let expected_excluded = BTreeMap::from([
        (ROUTER_NAME.to_owned(), ROUTER_QUERIES),
        (WPAD_NAME.to_owned(), WPAD_QUERIES),
    ]);
    if let Err(difference) = diff_counts(&expected_excluded, &excluded) {
        panic!("excluded counts differ (sent in mixed case): {difference}; {context}");
    }

    let mut expected_counted = workload.expected_names().clone();
    expected_counted.retain(|name, _| !expected_excluded.contains_key(name));
    let counted_names = summed_top_counts(&reports).unwrap_or_else(|problem| panic!("{problem}"));
    if let Err(difference) = diff_counts(&expected_counted, &counted_names) {
        panic!("counted names differ (excluded names must not be listed): {difference}; {context}");
    }
    let counted: u64 = reports.iter().map(|file| file.report.totals.counted).sum();
    let excluded_total: u64 = reports.iter().map(|file| file.report.totals.excluded).sum();
    assert_eq!(
        counted,
        workload.total() - ROUTER_QUERIES - WPAD_QUERIES,
        "counted total leaves exclusions out; {context}"
    );
    assert_eq!(
        excluded_total,
        ROUTER_QUERIES + WPAD_QUERIES,
        "excluded total; {context}"
    );
    // Every report says the stale wildcard excluded nothing, and never an entry that excluded
    // a name in it.
    for file in &reports {
        let unmatched = file
            .report
            .unmatched_exclusions
            .as_ref()
            .unwrap_or_else(|| {
                panic!(
                    "no unmatched_exclusions in {}; {context}",
                    file.path.display()
                )
            });
        assert!(
            unmatched.iter().any(|entry| entry == STALE_WILDCARD),
            "{unmatched:?}; {context}"
        );
        for entry in &file.report.excluded {
            assert!(!unmatched.contains(&entry.name), "{unmatched:?}; {context}");
        }
    }
}
