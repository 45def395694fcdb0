//! Merges checked against the truth: the report of the combined traffic, built from the sum of the
//! inputs' intervals.

use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use dns_counter_common::Reason;

use super::*;
use crate::analysis::clients::ClientOptions;
use crate::analysis::domains::Grouping;
use crate::analysis::exclude::Exclusions;
use crate::analysis::orgs::OrgMap;
use crate::analysis::{ReportOptions, build_report};
use crate::interval::{ClientCounts, ClientPrefix, Interval, Meta};
use crate::render::Format;
use crate::testing::golden;
use crate::testing::{fixture_orgs, wire};

/// 2026-11-22T01:00:00Z.
const T0: u64 = 1_795_309_200;

/// Names under a few domains and organisations (see [`fixture_orgs`]), hostile ones among them.
fn pool() -> Vec<Vec<u8>> {
    let names: [&[&[u8]]; 20] = [
        &[b"www", b"example", b"com"],
        &[b"mail", b"example", b"com"],
        &[b"example", b"com"],
        &[b"a.b", b"example"],
        &[b"b", b"example"],
        &[b"x", b"b", b"example"],
        &[b"_dmarc", b"mail-1", b"example"],
        &[b"-a1-b2", b"example"],
        &[b"\"q\"", b"example", b"net"],
        &[b"cdn", b"example", b"co", b"uk"],
        &[b"img", b"example", b"co", b"uk"],
        &[b"example", b"co", b"uk"],
        &[b"co", b"uk"],
        &[b"uk"],
        &[],
        &[b"new\nline", b"example", b"org"],
        &[&[0xff, 0x00], b"example", b"org"],
        &[b"api", b"service", b"example", b"org"],
        &[b"corp", b"example"],
        &[b"health", b"example", b"net"],
    ];
    names.iter().map(|labels| wire(labels)).collect()
}

fn exclusions() -> Exclusions {
    Exclusions::new(&["corp.example".into(), "health.example.net".into()], &[]).expect("valid")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

/// One interval of counts: `names` as (index into the pool, count), 2 packets not counted per name.
fn interval(
    start: u64,
    seconds: u64,
    names: &[(usize, u64)],
    clients: &[(&str, u64)],
    untracked: u64,
) -> Interval {
    let pool = pool();
    let named: u64 = names.iter().map(|(_, count)| count).sum();
    let uncounted = names.len() as u64 * 2;
    let mut by_client: u64 = clients.iter().map(|(_, count)| count).sum::<u64>() + untracked;
    // Clients add up to every query counted by name, excluded ones included.
    let mut prefixes: Vec<(IpAddr, u64)> = clients
        .iter()
        .map(|(client, count)| (ip(client), *count))
        .collect();
    if by_client < named {
        prefixes.push((ip("203.0.113.0"), named - by_client));
        by_client = named;
    }
    assert_eq!(by_client, named, "test clients add up");
    Interval {
        start: UNIX_EPOCH + Duration::from_secs(start),
        end: UNIX_EPOCH + Duration::from_secs(start + seconds),
        packets: named + uncounted,
        names: names
            .iter()
            .map(|&(index, count)| (pool[index].clone(), count))
            .collect(),
        qtypes: names
            .iter()
            .enumerate()
            .map(|(at, &(_, count))| ([1, 28, 65, 65280][at % 4], count))
            .collect(),
        uncounted: vec![
            (Reason::NotIp, names.len() as u64),
            (Reason::Response, names.len() as u64),
        ],
        clients: Some(ClientCounts {
            prefixes,
            untracked,
        }),
    }
}

/// The sum of intervals: what one host counting all of their traffic would have counted.
fn combined(intervals: &[&Interval]) -> Interval {
    Interval {
        start: intervals.iter().map(|i| i.start).min().expect("some"),
        end: intervals.iter().map(|i| i.end).max().expect("some"),
        packets: intervals.iter().map(|i| i.packets).sum(),
        names: intervals.iter().flat_map(|i| i.names.clone()).collect(),
        qtypes: intervals.iter().flat_map(|i| i.qtypes.clone()).collect(),
        uncounted: intervals.iter().flat_map(|i| i.uncounted.clone()).collect(),
        clients: Some(ClientCounts {
            prefixes: intervals
                .iter()
                .flat_map(|i| i.clients.as_ref().expect("clients").prefixes.clone())
                .collect(),
            untracked: intervals
                .iter()
                .map(|i| i.clients.as_ref().expect("clients").untracked)
                .sum(),
        }),
    }
}

/// The report of `interval` as a run with `--top top --org-file (fixture) --clients` writes it.
fn report(interval: &Interval, host: &str, top: usize, orgs: Option<&OrgMap>) -> Report {
    let exclusions = exclusions();
    let meta = Meta {
        host: host.into(),
        interfaces: vec!["eth0".into()],
    };
    let clients = ClientOptions {
        prefix: ClientPrefix { v4: 24, v6: 56 },
        anonymizer: None,
    };
    let options = ReportOptions {
        orgs,
        clients: Some(clients),
        ..ReportOptions::new(top, &exclusions)
    };
    let report = build_report(interval, &meta, &options);
    assert_eq!(report.check_invariants(), Ok(()));
    report
}

fn saved(report: Report) -> SavedReport {
    SavedReport {
        report,
        merge: None,
    }
}

fn merged(inputs: &[Report]) -> SavedReport {
    let inputs: Vec<SavedReport> = inputs.iter().cloned().map(saved).collect();
    let (merged, omitted) = merge(&inputs).expect("merge");
    assert_eq!(omitted, []);
    assert_eq!(
        merged.report.check_invariants(),
        Ok(()),
        "the merged report adds up"
    );
    merged
}

/// Two hosts in the same minute (sharing names and clients), then a third minute.
fn hosts() -> (Interval, Interval, Interval) {
    let a = interval(
        T0,
        60,
        &[(0, 50), (1, 20), (3, 7), (7, 3), (9, 11), (14, 2), (18, 4)],
        &[("192.0.2.0", 60), ("10.0.0.0", 20)],
        3,
    );
    let b = interval(
        T0,
        60,
        &[
            (0, 40),
            (2, 9),
            (3, 5),
            (8, 6),
            (10, 8),
            (15, 1),
            (16, 1),
            (19, 2),
        ],
        &[("192.0.2.0", 30), ("2001:db8::", 30)],
        0,
    );
    let c = interval(
        T0 + 60,
        60,
        &[
            (9, 1),
            (4, 2),
            (5, 3),
            (6, 4),
            (11, 5),
            (12, 6),
            (13, 7),
            (17, 8),
        ],
        &[("9.0.0.0", 36)],
        0,
    );
    (a, b, c)
}

#[test]
fn merging_complete_reports_equals_the_report_of_the_combined_traffic() {
    let (a, b, c) = hosts();
    // Without organisations: every count, domains' names included, is exact.
    let inputs = [
        report(&a, "res1", 0, None),
        report(&b, "res2", 0, None),
        report(&c, "res1", 0, None),
    ];
    let merged = merged(&inputs);
    let truth = report(&combined(&[&a, &b, &c]), "res1,res2", 0, None);
    assert_eq!(merged.report, truth);
    let merge = merged.merge.expect("merge section");
    assert!(merge.exact, "{merge:?}");
    assert_eq!(merge.inputs.len(), 3);
    assert_eq!(merge.distinct_names_max_error, 0);
    assert_eq!(merge.domains.expect("domains").names_max_error, Some(0));
}

#[test]
fn organisations_merge_exactly_when_no_name_is_shared() {
    let orgs = fixture_orgs();
    let (_, b, c) = hosts();
    let inputs = [
        report(&b, "res1", 0, Some(&orgs)),
        report(&c, "res1", 0, Some(&orgs)),
    ];
    let merged = merged(&inputs);
    let truth = report(&combined(&[&b, &c]), "res1", 0, Some(&orgs));
    assert_eq!(merged.report, truth);
    assert!(merged.merge.expect("merge").exact);
}

#[test]
fn organisations_names_are_bounded_when_names_are_shared() {
    // The report has no name-to-organisation map: a name listed by both hosts is counted once in
    // the union, but which organisation it is in cannot be told, so names are a lower bound.
    let orgs = fixture_orgs();
    let (a, b, _) = hosts();
    let merged = merged(&[
        report(&a, "res1", 0, Some(&orgs)),
        report(&b, "res2", 0, Some(&orgs)),
    ]);
    let truth = report(&combined(&[&a, &b]), "res1,res2", 0, Some(&orgs));
    let merge = merged.merge.as_ref().expect("merge");
    assert!(!merge.exact);
    assert_eq!(
        merge.distinct_names_max_error, 0,
        "the names themselves are exact"
    );
    let org_bounds = merge.orgs.as_ref().expect("orgs");
    assert_eq!(org_bounds.max_error, 0, "counts are exact");
    // www.example.com and a\.b.example are listed by both hosts: 2 names too many at most.
    assert_eq!(org_bounds.names_max_error, Some(2));
    let (merged_orgs, true_orgs) = (
        merged.report.orgs.as_ref().expect("orgs"),
        truth.orgs.as_ref().expect("orgs"),
    );
    assert_eq!(
        merged_orgs
            .list
            .top
            .iter()
            .map(|o| (&o.key, o.count))
            .collect::<Vec<_>>(),
        true_orgs
            .list
            .top
            .iter()
            .map(|o| (&o.key, o.count))
            .collect::<Vec<_>>()
    );
    assert_bounds(&merged, &truth);
    // Everything but the organisations' names and the rest that absorbs them is the truth.
    let mut without = merged.report.clone();
    without.orgs = truth.orgs.clone();
    assert_eq!(without, truth);
}

#[test]
fn cut_reports_mark_lower_bounds_with_their_error_bounds() {
    // Host A lists a:100 b:50 and hides c:30 d:20; host B lists b:80 c:60 and hides a:10 e:5.
    let names = |counts: &[(usize, u64)]| interval(T0, 60, counts, &[], 0);
    let a = names(&[(0, 100), (1, 50), (2, 30), (4, 20)]);
    let b = names(&[(1, 80), (2, 60), (0, 10), (5, 5)]);
    let merged = merged(&[report(&a, "res1", 2, None), report(&b, "res2", 2, None)]);
    let top: Vec<(&str, u64)> = merged
        .report
        .names
        .top
        .iter()
        .map(|e| (e.key.as_str(), e.count))
        .collect();
    assert_eq!(
        top,
        [
            ("mail.example.com", 130),
            ("www.example.com", 100),
            ("example.com", 60)
        ]
    );
    assert_eq!(
        merged.report.names.rest,
        Rest {
            keys: 1,
            count: 65,
            names: 0
        }
    );
    let merge = merged.merge.as_ref().expect("merge");
    assert!(!merge.exact);
    // www.example.com is missing from B's list, where it had at most B's smallest listed count
    // (60) and at most B's rest (15); example.com is missing from A's, at most min(50, 50).
    assert_eq!(
        merge.names,
        ListBounds {
            exact: false,
            max_error: 50,
            unlisted_max: 65,
            names_max_error: None,
            lower_bounds: vec![
                EntryBound {
                    rank: 2,
                    max_error: 15,
                    names_max_error: 0
                },
                EntryBound {
                    rank: 3,
                    max_error: 50,
                    names_max_error: 0
                },
            ],
        }
    );
    // At least one name outside the union of the lists (each host hid two, one of them the
    // other's listed name); at most four.
    assert_eq!(merged.report.totals.distinct_names, 4);
    assert_eq!(merge.distinct_names_max_error, 3);
    assert_bounds(&merged, &report(&combined(&[&a, &b]), "res1,res2", 0, None));
}

#[test]
fn a_list_cut_in_one_input_only_bounds_what_that_input_did_not_list() {
    let (a, b, _) = hosts();
    let merged = merged(&[report(&a, "res1", 3, None), report(&b, "res2", 0, None)]);
    let merge = merged.merge.as_ref().expect("merge");
    // Names host A listed are exact: B listed all of its names.
    for entry in merged.report.names.top.iter().take(2) {
        assert!(
            merge
                .names
                .lower_bounds
                .iter()
                .all(|bound| bound.rank != entry.rank),
            "{entry:?}"
        );
    }
    assert_bounds(&merged, &report(&combined(&[&a, &b]), "res1,res2", 0, None));
}

#[test]
fn merging_merged_reports_carries_the_bounds() {
    let orgs = fixture_orgs();
    let (a, b, c) = hosts();
    let ab = merged(&[
        report(&a, "res1", 2, Some(&orgs)),
        report(&b, "res2", 3, Some(&orgs)),
    ]);
    let (abc, omitted) = merge(&[ab, saved(report(&c, "res1", 1, Some(&orgs)))]).expect("merge");
    assert_eq!(omitted, []);
    assert_eq!(abc.report.check_invariants(), Ok(()));
    let merge = abc.merge.as_ref().expect("merge");
    assert_eq!(
        merge
            .inputs
            .iter()
            .map(|input| input.host.as_str())
            .collect::<Vec<_>>(),
        ["res1", "res2", "res1"]
    );
    assert_eq!(abc.report.host, "res1,res2");
    assert_bounds(
        &abc,
        &report(&combined(&[&a, &b, &c]), "res1,res2", 0, Some(&orgs)),
    );
}

/// A small deterministic generator (xorshift), for the many-merges test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn bounds_hold_for_many_random_merges() {
    let orgs = fixture_orgs();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let clients = [
        "192.0.2.0",
        "198.51.100.0",
        "10.0.0.0",
        "9.0.0.0",
        "2001:db8::",
        "2001:db8:0:100::",
    ];
    for trial in 0..300 {
        let hosts = 2 + rng.below(3) as usize;
        let intervals: Vec<Interval> = (0..hosts)
            .map(|_| {
                let mut names: Vec<(usize, u64)> = Vec::new();
                for index in 0..pool().len() {
                    if rng.below(3) > 0 {
                        names.push((index, 1 + rng.below(60)));
                    }
                }
                let named: u64 = names.iter().map(|(_, count)| count).sum();
                let mut by_client = Vec::new();
                let mut left = named;
                for client in clients {
                    let take = rng.below(left / 2 + 1);
                    left -= take;
                    by_client.push((client, take));
                }
                let untracked = left.min(rng.below(3));
                let start = T0 + 60 * rng.below(3);
                interval(start, 60, &names, &by_client, untracked)
            })
            .collect();
        let inputs: Vec<Report> = intervals
            .iter()
            .enumerate()
            .map(|(at, interval)| {
                report(
                    interval,
                    &format!("res{at}"),
                    rng.below(6) as usize,
                    Some(&orgs),
                )
            })
            .collect();
        let truth_interval = combined(&intervals.iter().collect::<Vec<_>>());
        let hosts_joined = (0..hosts)
            .map(|at| format!("res{at}"))
            .collect::<Vec<_>>()
            .join(",");
        let truth = report(&truth_interval, &hosts_joined, 0, Some(&orgs));
        let all = merged(&inputs);
        assert_bounds(&all, &truth);
        // Merged in two steps: the first two, then the others.
        let (first, others) = inputs.split_at(2);
        let mut staged = vec![merged(first)];
        staged.extend(others.iter().cloned().map(saved));
        let (twice, _) = merge(&staged).expect("merge");
        assert_eq!(twice.report.check_invariants(), Ok(()), "trial {trial}");
        assert_bounds(&twice, &truth);
        // Every input listed everything: exact.
        if inputs.iter().all(|input| input.names.rest.keys == 0) {
            assert_eq!(
                all.merge.as_ref().expect("merge").distinct_names_max_error,
                0
            );
            assert_eq!(
                all.report.totals.distinct_names,
                truth.totals.distinct_names
            );
        }
    }
}

/// Checks every count of `merged` against the truth: exact where it says so, else within its bounds.
fn assert_bounds(merged: &SavedReport, truth: &Report) {
    let report = &merged.report;
    let merge = merged.merge.as_ref().expect("merge");
    assert_eq!(report.check_invariants(), Ok(()));
    assert_eq!(report.totals.queries, truth.totals.queries);
    assert_eq!(report.totals.counted, truth.totals.counted);
    assert_eq!(report.totals.excluded, truth.totals.excluded);
    assert_eq!(report.totals.uncounted, truth.totals.uncounted);
    assert_eq!(report.qtypes, truth.qtypes);
    assert_eq!(report.excluded, truth.excluded);
    let distinct = report.totals.distinct_names;
    assert!(
        (distinct..=distinct + merge.distinct_names_max_error)
            .contains(&truth.totals.distinct_names),
        "distinct names {distinct} + {} against {}",
        merge.distinct_names_max_error,
        truth.totals.distinct_names
    );

    check_list(&report.names, &truth.names, &merge.names);
    if let (Some(domains), Some(truth_domains)) = (&report.domains, &truth.domains) {
        let bounds = merge.domains.as_ref().expect("domain bounds");
        check_list(&domains.list, &truth_domains.list, bounds);
    }
    if let (Some(orgs), Some(truth_orgs)) = (&report.orgs, &truth.orgs) {
        let bounds = merge.orgs.as_ref().expect("org bounds");
        check_list(&orgs.list, &truth_orgs.list, bounds);
        assert_eq!(orgs.unassigned.count, truth_orgs.unassigned.count);
        let names_error = bounds.names_max_error.expect("orgs have names");
        assert!(
            (orgs.unassigned.names..=orgs.unassigned.names + names_error)
                .contains(&truth_orgs.unassigned.names)
        );
    }
    if let (Some(clients), Some(truth_clients)) = (&report.clients, &truth.clients) {
        let bounds = merge.clients.as_ref().expect("client bounds");
        check_list(&clients.list, &truth_clients.list, bounds);
        assert_eq!(clients.untracked, truth_clients.untracked);
    }
    if merge.exact {
        assert!(merge.names.exact && merge.distinct_names_max_error == 0);
    }
}

/// Checks a merged list against the truth, which lists every entry.
fn check_list<K: ListKind>(merged: &Ranked<K>, truth: &Ranked<K>, bounds: &ListBounds) {
    let list = K::NOUNS[1];
    let entries = |list: &Ranked<K>| -> Vec<(String, u64, u64)> {
        let entries = list.top.iter();
        entries.map(|e| (e.key.clone(), e.count, e.names)).collect()
    };
    let (merged, truth) = (entries(merged), entries(truth));
    let errors: HashMap<u64, &EntryBound> = bounds
        .lower_bounds
        .iter()
        .map(|bound| (bound.rank, bound))
        .collect();
    for (rank, (key, count, names)) in (1..).zip(&merged) {
        let (count_error, names_error) = errors
            .get(&rank)
            .map_or((0, 0), |bound| (bound.max_error, bound.names_max_error));
        let (_, true_count, true_names) = truth
            .iter()
            .find(|(k, ..)| k == key)
            .unwrap_or_else(|| panic!("{list}: {key} is not in the truth"));
        assert!(
            (*count..=count + count_error).contains(true_count),
            "{list}: {key}: {count} + {count_error} against {true_count}"
        );
        assert!(
            (*names..=names + names_error).contains(true_names),
            "{list}: {key}: {names} names + {names_error} against {true_names}"
        );
        assert!(count_error <= bounds.max_error);
    }
    for (key, true_count, _) in truth
        .iter()
        .filter(|(key, ..)| !merged.iter().any(|(k, ..)| k == key))
    {
        assert!(
            *true_count <= bounds.unlisted_max,
            "{list}: unlisted {key} had {true_count} > {}",
            bounds.unlisted_max
        );
    }
    if bounds.exact {
        assert_eq!(bounds.max_error, 0);
    }
}

#[test]
fn seconds_span_the_inputs() {
    let (a, b, c) = hosts();
    // Two hosts' same minute: a minute, not two.
    assert_eq!(
        merged(&[report(&a, "res1", 0, None), report(&b, "res2", 0, None)])
            .report
            .seconds,
        60.0
    );
    // Two minutes of one host, one after the other.
    let two = merged(&[report(&c, "res1", 0, None), report(&a, "res1", 0, None)]);
    assert_eq!(
        (
            two.report.start.as_str(),
            two.report.end.as_str(),
            two.report.seconds
        ),
        ("2026-11-22T01:00:00Z", "2026-11-22T01:02:00Z", 120.0)
    );
}

#[test]
fn hosts_and_interfaces_are_each_named_once() {
    let (a, b, c) = hosts();
    let mut second = report(&b, "res2", 0, None);
    second.interfaces = vec!["eth1".into(), "eth0".into()];
    let merged = merged(&[
        report(&a, "res1", 0, None),
        second,
        report(&c, "res1", 0, None),
    ]);
    assert_eq!(merged.report.host, "res1,res2");
    assert_eq!(merged.report.interfaces, ["eth0", "eth1"]);
    let inputs = &merged.merge.as_ref().expect("merge").inputs;
    assert_eq!(
        inputs[1],
        Input {
            host: "res2".into(),
            interfaces: vec!["eth1".into(), "eth0".into()],
            start: "2026-11-22T01:00:00Z".into(),
            end: "2026-11-22T01:01:00Z".into()
        }
    );
}

/// An exclusion is unmatched in a merge only where no input matched it: every input that says
/// which of its exclusions matched nothing says it too, and no input excluded a name by it.
#[test]
fn an_exclusion_is_unmatched_in_a_merge_only_if_unmatched_in_every_input() {
    let entries = [
        "corp.example",
        "health.example.net",
        "*.example.co.uk",
        "stale.example",
        "mail.example.com",
    ];
    let exclusions = Exclusions::new(&entries.map(String::from), &[]).expect("valid");
    // Two hosts: reports of one host at one time overlap, and are not merged.
    let excluding = |interval: &Interval, host: &str| {
        let meta = Meta {
            host: host.into(),
            interfaces: vec![],
        };
        build_report(interval, &meta, &ReportOptions::new(0, &exclusions))
    };
    // As a report from before the field, or of a run without exclusions, has it.
    let silent = |interval: &Interval, host: &str| Report {
        unmatched_exclusions: None,
        ..excluding(interval, host)
    };
    let strings = |list: &[&str]| Some(list.iter().map(|entry| (*entry).to_owned()).collect());
    let (a, b, c) = hosts();
    let (a, b) = (excluding(&a, "h1"), excluding(&b, "h2"));
    assert_eq!(
        a.unmatched_exclusions,
        strings(&["health.example.net", "stale.example"])
    );
    assert_eq!(
        b.unmatched_exclusions,
        strings(&["corp.example", "mail.example.com", "stale.example"])
    );
    assert_eq!(
        merged(&[a.clone(), b.clone()]).report.unmatched_exclusions,
        strings(&["stale.example"])
    );
    // An input that does not say: nothing of its own, but a name it excluded was matched.
    assert_eq!(
        merged(&[a.clone(), silent(&c, "h1")])
            .report
            .unmatched_exclusions,
        a.unmatched_exclusions
    );
    assert_eq!(
        merged(&[a.clone(), silent(&hosts().1, "h2")])
            .report
            .unmatched_exclusions,
        strings(&["stale.example"])
    );
    assert_eq!(
        merged(&[silent(&c, "h1"), silent(&hosts().1, "h2")])
            .report
            .unmatched_exclusions,
        None
    );
    // A report whose unmatched exclusions match its own excluded names does not add up.
    let mut broken = a;
    broken.unmatched_exclusions = strings(&["corp.example"]);
    assert_eq!(
        broken.check_invariants().map_err(|err| err.to_string()),
        Err("unmatched_exclusions that match an excluded name = 0 does not hold: 1 != 0".into())
    );
    broken.unmatched_exclusions = strings(&["*.example"]);
    assert!(broken.check_invariants().is_err());
}

#[test]
fn sections_that_cannot_be_merged_are_left_out_saying_why() {
    let orgs = fixture_orgs();
    let (a, b, _) = hosts();
    let first = report(&a, "res1", 0, Some(&orgs));
    let mut second = report(&b, "res2", 0, None);
    if let Some(clients) = &mut second.clients {
        clients.prefix_v4 = 16;
    }
    if let Some(domains) = &mut second.domains {
        domains.grouping = "labels:2".into();
    }
    let (merged, omitted) = merge(&[saved(first), saved(second)]).expect("merge");
    assert_eq!(
        omitted,
        [
            Warning::Grouping {
                first: "psl".into(),
                other: "labels:2".into()
            },
            Warning::Missing {
                section: "orgs",
                input: 2
            },
            Warning::ClientSettings { first: 1, other: 2 },
        ]
    );
    assert_eq!(
        omitted.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "the domains section is left out: inputs group names differently (psl and labels:2)",
            "the orgs section is left out: input 2 has none",
            "the clients section is left out: input 1 and input 2 use different prefix lengths or anonymisation",
        ]
    );
    let report = &merged.report;
    assert!(report.domains.is_none() && report.orgs.is_none() && report.clients.is_none());
    assert_eq!(report.check_invariants(), Ok(()));
    let merge = merged.merge.expect("merge");
    assert!(merge.domains.is_none() && merge.orgs.is_none() && merge.clients.is_none());
}

#[test]
fn nothing_to_merge_and_bad_times_are_errors() {
    assert_eq!(merge(&[]), Err(MergeError::NoInputs));
    let (a, ..) = hosts();
    let mut bad = report(&a, "res1", 0, None);
    bad.start = "yesterday".into();
    assert_eq!(
        merge(&[saved(report(&a, "res1", 0, None)), saved(bad)]).map(|_| ()),
        Err(MergeError::BadTime {
            input: 2,
            field: "start",
            value: "yesterday".into()
        })
    );
}

/// The merged report behind the golden files: two hosts' same minute, cut, with every section.
fn golden_merged() -> SavedReport {
    let orgs = fixture_orgs();
    let (a, b, _) = hosts();
    merged(&[
        report(&a, "res1", 3, Some(&orgs)),
        report(&b, "res2", 4, Some(&orgs)),
    ])
}

#[test]
fn golden_merged_json_txt_csv() {
    let merged = golden_merged();
    golden("merged.golden.json", &merged.render(Format::Json));
    golden("merged.golden.txt", &merged.render(Format::Txt));
    golden("merged.golden.csv", &merged.render(Format::Csv));
}

#[test]
fn a_merged_report_reads_back_and_renders_alike() {
    let merged = golden_merged();
    let json = merged.render(Format::Json);
    let back: SavedReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, merged);
    let read = crate::read::parse(json.as_bytes(), std::path::Path::new("merged.json"));
    assert_eq!(read.expect("reads").saved, merged);
    for format in [Format::Json, Format::Csv, Format::Txt, Format::Prom] {
        assert_eq!(back.render(format), merged.render(format), "{format:?}");
    }
    // As a plain report, for readers that know nothing of merges.
    let plain: Report = serde_json::from_str(&json).expect("parse as a report");
    assert_eq!(plain, merged.report);
}

/// Defect: start and end were cut to whole seconds, so two 100 ms reports merged into `seconds` 0.
#[test]
fn sub_second_reports_merge_into_their_sum_and_attached_time_adds_up() {
    let at = |millis: u64| UNIX_EPOCH + Duration::from_millis(T0 * 1000 + millis);
    let tenth = |from: u64| Interval {
        start: at(from),
        end: at(from + 100),
        ..interval(T0, 1, &[(0, 5)], &[], 0)
    };
    let mut first = report(&tenth(0), "res1", 10, None);
    let mut second = report(&tenth(100), "res1", 10, None);
    for (report, seconds) in [(&mut first, 0.1), (&mut second, 0.05)] {
        report.attached = vec![model::Attached {
            interface: "eth0".into(),
            seconds,
        }];
    }
    assert_eq!(first.end, "2026-11-22T01:00:00.1Z");
    let merged = merged(&[first, second]).report;
    assert_eq!(merged.start, "2026-11-22T01:00:00Z");
    assert_eq!(merged.end, "2026-11-22T01:00:00.2Z");
    assert!((merged.seconds - 0.2).abs() < 1e-9, "{}", merged.seconds);
    assert_eq!(merged.attached.len(), 1);
    assert!((merged.attached[0].seconds - 0.15).abs() < 1e-9);
}

/// Defect: merging one report 100 times succeeded and multiplied every count.
#[test]
fn an_input_identical_to_another_is_skipped_saying_so() {
    let (a, b, _) = hosts();
    let (a, b) = (
        saved(report(&a, "res1", 0, None)),
        saved(report(&b, "res2", 0, None)),
    );
    let (once, warnings) = merge(&[a.clone(), b.clone()]).expect("merge");
    assert_eq!(warnings, []);
    let (again, warnings) =
        merge(&[a.clone(), b.clone(), a.clone(), b.clone(), a.clone()]).expect("merge");
    assert_eq!(again, once, "each report counts once");
    assert_eq!(
        warnings,
        [
            Warning::Duplicate {
                input: 3,
                same_as: 1
            },
            Warning::Duplicate {
                input: 4,
                same_as: 2
            },
            Warning::Duplicate {
                input: 5,
                same_as: 1
            },
        ]
    );
    // A report merged with itself is itself, counts and all.
    let (itself, _) = merge(&[a.clone(), a.clone()]).expect("merge");
    assert_eq!(itself.report.totals, a.report.totals);
    assert_eq!(itself.report.names, a.report.names);
}

#[test]
fn overlapping_intervals_of_one_host_and_interface_are_refused() {
    let (a, b, c) = hosts();
    let first = saved(report(&a, "res1", 0, None));
    // Another count of the same host, interface and minute: a copy with a change, or a snapshot.
    let overlapping = saved(report(&b, "res1", 0, None));
    let refused = merge(&[first.clone(), overlapping.clone()]).expect_err("overlap");
    assert_eq!(
        refused,
        MergeError::Overlap {
            first: 1,
            second: 2,
            host: "res1".into(),
            interface: "eth0".into(),
            start: "2026-11-22T01:00:00Z".into(),
            end: "2026-11-22T01:01:00Z".into(),
        }
    );
    assert!(
        refused.to_string().contains("would count twice"),
        "{refused}"
    );
    // The next minute only touches the first: merged.
    let next = saved(report(&c, "res1", 0, None));
    let (both, _) = merge(&[first.clone(), next.clone()]).expect("consecutive minutes merge");
    // A merged input stands for its own inputs, so the minute it holds is refused again; the
    // number is the file's, counted over the inputs as given (the duplicate skipped).
    let refused = merge(&[next.clone(), next.clone(), overlapping.clone(), both])
        .expect_err("a merged input overlaps");
    assert!(
        matches!(
            refused,
            MergeError::Overlap {
                first: 3,
                second: 4,
                ..
            }
        ),
        "{refused:?}"
    );
    // Another interface of the host, or another host, is not the same count.
    let mut other_interface = report(&b, "res1", 0, None);
    other_interface.interfaces = vec!["eth1".into()];
    merge(&[first.clone(), saved(other_interface)]).expect("another interface");
    merge(&[first, saved(report(&b, "res2", 0, None))]).expect("another host");
}

fn with_settings(mut report: Report, settings: &Settings) -> SavedReport {
    report.settings = Some(settings.clone());
    saved(report)
}

#[test]
fn inputs_counted_with_different_settings_are_merged_with_a_warning() {
    let (a, b, c) = hosts();
    let plain = crate::analysis::settings(
        "0.1.0",
        &[53],
        10,
        1 << 20,
        &exclusions(),
        None,
        Grouping::Psl,
    );
    let more_excluded = Exclusions::new(
        &["corp.example".into(), "router.vendor.example".into()],
        &[],
    )
    .expect("valid");
    let other = crate::analysis::settings(
        "0.1.0",
        &[53],
        10,
        1 << 20,
        &more_excluded,
        None,
        Grouping::Psl,
    );
    assert_ne!(plain.exclusions, other.exclusions);
    let first = with_settings(report(&a, "res1", 0, None), &plain);
    let alike = with_settings(report(&b, "res2", 0, None), &plain);
    let (merged, warnings) = merge(&[first.clone(), alike]).expect("merge");
    assert_eq!(warnings, []);
    assert_eq!(merged.report.settings.as_ref(), Some(&plain));
    assert_eq!(
        merged.merge.as_ref().expect("merge").differing_settings,
        [] as [String; 0]
    );

    let differing = with_settings(report(&b, "res2", 0, None), &other);
    let (merged, warnings) = merge(&[first, differing]).expect("merge");
    assert_eq!(
        warnings,
        [Warning::Settings {
            setting: "exclusions",
            first: 1,
            other: 2,
            first_value: plain.exclusions.clone().expect("a list"),
            other_value: other.exclusions.clone().expect("a list"),
        }]
    );
    assert!(
        warnings[0].to_string().contains("different exclusions"),
        "{}",
        warnings[0]
    );
    assert_eq!(
        merged.report.settings, None,
        "no settings are common to all"
    );
    assert_eq!(
        merged.merge.as_ref().expect("merge").differing_settings,
        ["exclusions"]
    );
    // Merged again, what differed is still said.
    let later = with_settings(report(&c, "res1", 0, None), &plain);
    let (again, warnings) = merge(&[merged, later]).expect("merge");
    assert_eq!(warnings, []);
    assert_eq!(
        again.merge.expect("merge").differing_settings,
        ["exclusions"]
    );
}

#[test]
fn list_digests_depend_on_what_the_list_does_not_how_it_is_written() {
    let one = Exclusions::new(&["b.example".into(), "*.a.example".into()], &[]).expect("valid");
    let same = Exclusions::new(&["*.A.example.".into(), "B.example".into()], &[]).expect("valid");
    let other = Exclusions::new(&["b.example".into(), "a.example".into()], &[]).expect("valid");
    assert_eq!(one.digest(), same.digest());
    assert_ne!(one.digest(), other.digest());
    assert_eq!(Exclusions::default().digest(), None);
    let digest = one.digest().expect("a list");
    assert!(
        digest.starts_with("sha256:") && digest.len() == "sha256:".len() + 64,
        "{digest}"
    );
    let path = std::path::Path::new("orgs.txt");
    let orgs = OrgMap::parse(b"fbcdn.net Meta\nfacebook.com Meta\n", path).expect("valid");
    let reordered =
        OrgMap::parse(b"# Meta's\nfacebook.com   Meta\nfbcdn.net Meta\n", path).expect("valid");
    let moved = OrgMap::parse(b"fbcdn.net Akamai\nfacebook.com Meta\n", path).expect("valid");
    assert_eq!(orgs.digest(), reordered.digest());
    assert_ne!(orgs.digest(), moved.digest());
}
