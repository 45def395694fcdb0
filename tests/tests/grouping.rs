//! Domains and organisations: with a wildcard exclusion and an org file, the report groups exactly
//! the queries sent by registered domain (Public Suffix List, ICANN section) and by organisation,
//! and the excluded names are in neither.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use dns_counter_tests::counter::wait_for_room_in_interval;
use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::diff_counts;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

const SEED: u64 = 0x6d0a;
/// An hour-long interval, started with at least a minute left, holds the whole run in one report.
const INTERVAL: Duration = Duration::from_secs(3600);
const ROOM_FOR_THE_RUN: Duration = Duration::from_secs(60);

/// Name, queries, its registered domain (worked out by hand from the Public Suffix List), and its
/// organisation in [`ORG_FILE`].
const SENT: [(&str, u64, &str, Option<&str>); 13] = [
    ("www.example.com", 3_000, "example.com", None),
    ("img.example.com", 1_500, "example.com", None),
    ("example.com", 500, "example.com", None),
    // co.uk is a two-label public suffix.
    ("news.bbc.co.uk", 1_200, "bbc.co.uk", None),
    ("www.bbc.co.uk", 800, "bbc.co.uk", None),
    // github.io is a private suffix: the registered domain is the one under io.
    ("alice.github.io", 700, "github.io", Some("GitHub")),
    ("bob.github.io", 300, "github.io", Some("GitHub")),
    ("scontent.xx.fbcdn.net", 900, "fbcdn.net", Some("Meta")),
    ("static.xx.fbcdn.net", 400, "fbcdn.net", Some("Meta")),
    ("www.facebook.com", 600, "facebook.com", Some("Meta")),
    // Ends in the text "fbcdn.net" but is not under it.
    ("notfbcdn.net", 250, "notfbcdn.net", None),
    // The wildcard *.cdn.example.org does not exclude its own domain.
    ("cdn.example.org", 200, "example.org", Some("Example Org")),
    // No such TLD: the list's default rule makes the last label the suffix.
    ("printer.office.lan", 100, "office.lan", None),
];
const WILDCARD: &str = "*.cdn.example.org";
/// Names under [`WILDCARD`]: counted apart, in neither domains nor orgs.
const EXCLUDED: [(&str, u64); 2] = [("a.cdn.example.org", 1_000), ("b.x.cdn.example.org", 700)];
const ORG_FILE: &str = "# suffix        organisation\n\
                        fbcdn.net       Meta\n\
                        facebook.com    Meta   # and its CDN above\n\
                        github.io       GitHub\n\
                        \n\
                        example.org     Example Org\n";

#[test]
fn domains_and_orgs_group_what_was_sent_without_excluded_names() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let counts = SENT
        .iter()
        .map(|(name, count, ..)| (*name, *count))
        .chain(EXCLUDED)
        .map(|(name, count)| (name.to_owned(), count));
    let workload = Workload::from_counts(SEED, counts);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let org_file = lab.work_dir().join("orgs.txt");
    fs::write(&org_file, ORG_FILE).expect("write the org file");
    let out_dir = tempfile::tempdir().expect("report directory");

    wait_for_room_in_interval(INTERVAL, ROOM_FOR_THE_RUN);
    let org_file_arg = org_file.to_string_lossy();
    let args = [
        "--top",
        "0",
        "--interval",
        "1h",
        "--exclude",
        WILDCARD,
        "--org-file",
        &org_file_arg,
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

    let excluded: BTreeMap<String, u64> = report
        .excluded
        .iter()
        .map(|entry| (entry.name.clone(), entry.count))
        .collect();
    let expected_excluded = EXCLUDED
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect();
    if let Err(difference) = diff_counts(&expected_excluded, &excluded) {
        panic!("excluded names differ: {difference}; {context}");
    }
    let sent_counted: u64 = SENT.iter().map(|(_, count, ..)| count).sum();
    assert_eq!(report.totals.counted, sent_counted, "{context}");
    assert_eq!(report.totals.distinct_names, SENT.len() as u64, "{context}");

    let mut expected_domains: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut expected_orgs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut expected_unassigned = (0, 0);
    for (_, count, domain, org) in SENT {
        add(
            expected_domains.entry(domain.to_owned()).or_default(),
            count,
        );
        match org {
            Some(org) => add(expected_orgs.entry(org.to_owned()).or_default(), count),
            None => add(&mut expected_unassigned, count),
        }
    }

    let domains = report.domains.as_ref().expect("a domains section");
    assert_eq!(domains.grouping, "psl", "{context}");
    assert_eq!(domains.rest.domains, 0, "--top 0 lists every domain");
    let got_domains = report
        .domain_tallies()
        .unwrap_or_else(|problem| panic!("{problem}"));
    compare("domains", &expected_domains, &got_domains, &context);
    // Had the excluded names been grouped, example.org would hold them too.
    assert_eq!(got_domains.get("example.org"), Some(&(200, 1)), "{context}");

    let orgs = report
        .orgs
        .as_ref()
        .expect("an orgs section with --org-file");
    assert_eq!(orgs.rest.orgs, 0, "--top 0 lists every organisation");
    let got_orgs = report
        .org_tallies()
        .unwrap_or_else(|problem| panic!("{problem}"));
    compare("orgs", &expected_orgs, &got_orgs, &context);
    assert_eq!(
        (orgs.unassigned.count, orgs.unassigned.names),
        expected_unassigned,
        "unassigned; {context}"
    );
}

fn add(tally: &mut (u64, u64), count: u64) {
    tally.0 += count;
    tally.1 += 1;
}

/// Compares key → (count, names) maps, counts and names apart, so a failure says which differs.
fn compare(
    section: &str,
    expected: &BTreeMap<String, (u64, u64)>,
    got: &BTreeMap<String, (u64, u64)>,
    context: &str,
) {
    let counts = |map: &BTreeMap<String, (u64, u64)>| -> BTreeMap<String, u64> {
        map.iter()
            .map(|(key, tally)| (key.clone(), tally.0))
            .collect()
    };
    let names = |map: &BTreeMap<String, (u64, u64)>| -> BTreeMap<String, u64> {
        map.iter()
            .map(|(key, tally)| (key.clone(), tally.1))
            .collect()
    };
    if let Err(difference) = diff_counts(&counts(expected), &counts(got)) {
        panic!("{section}: queries differ: {difference}; {context}");
    }
    if let Err(difference) = diff_counts(&names(expected), &names(got)) {
        panic!("{section}: names differ: {difference}; {context}");
    }
}
