//! One interval's raw counts (as drained from the kernel) to a [`Report`].

use std::collections::BTreeMap;
use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
use std::ops::Range;

use dns_counter_common::{Reason, reason::ReasonKind};
use hickory_proto::rr::RecordType;

pub mod clients;
pub mod domains;
pub mod exclude;
pub mod orgs;

use self::clients::ClientOptions;
use self::domains::Grouping;
use self::exclude::Exclusions;
use self::orgs::OrgMap;
use crate::interval::{Interval, Meta};
use crate::model::{self, ExcludedName, QtypeCount, Ranked, Report, Settings, Totals, Uncounted};
use crate::names;

#[derive(Debug, Clone, Copy)]
pub struct ReportOptions<'a> {
    /// How many names to list; 0 lists every name. Domains and organisations are cut alike.
    pub top: usize,
    pub exclusions: &'a Exclusions,
    /// How names are grouped into the `domains` section.
    pub grouping: Grouping,
    /// With --org-file: the `orgs` section.
    pub orgs: Option<&'a OrgMap>,
    /// With --clients: how the `clients` section writes prefixes (cut at `top` too).
    pub clients: Option<ClientOptions>,
    /// Recorded in the report as they are (see [`settings`]).
    pub settings: Option<&'a Settings>,
}

impl<'a> ReportOptions<'a> {
    /// Domains by registered domain (Public Suffix List), no organisations.
    pub fn new(top: usize, exclusions: &'a Exclusions) -> Self {
        Self {
            top,
            exclusions,
            grouping: Grouping::Psl,
            orgs: None,
            clients: None,
            settings: None,
        }
    }
}

/// The settings a report records: `version` is the counting program's, the rest as given.
pub fn settings(
    version: &str,
    ports: &[u16],
    top: usize,
    max_names: u32,
    exclusions: &Exclusions,
    orgs: Option<&OrgMap>,
    grouping: Grouping,
) -> Settings {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    Settings {
        version: version.to_owned(),
        ports,
        top: top as u64,
        max_names: u64::from(max_names),
        exclusions: exclusions.digest(),
        orgs: orgs.map(OrgMap::digest),
        grouping: grouping.to_string(),
    }
}

/// `sha256:` and the hex digest of `lines`, each ended by a newline.
fn digest<'l>(lines: impl Iterator<Item = &'l str>) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for line in lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Builds the report. `totals.packets` is the kernel's packet count as given, so
/// [`Report::check_invariants`] checks the kernel's figures against each other rather than a sum against
/// itself; `totals.queries` is what of it were queries: those counted by name, excluded or not, and
/// those not counted for a reason of [`ReasonKind::Query`]. Entries with a zero count are dropped; entries repeated in the input are added up.
pub fn build_report(interval: &Interval, meta: &Meta, options: &ReportOptions) -> Report {
    // Every name's text in one buffer: a String per name is a million allocations and frees.
    let (text, spans) = present_all(&interval.names);
    let mut counted: Vec<(&str, u64)> = spans
        .into_iter()
        .map(|(span, count)| (&text[span], count))
        .collect();
    add_up_repeats(&mut counted);
    let mut excluded: Vec<(&str, u64)> = counted
        .extract_if(.., |(name, _)| options.exclusions.contains_canonical(name))
        .collect();
    // Excluded names are all listed.
    excluded.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));

    let sum = |entries: &[(&str, u64)]| {
        entries
            .iter()
            .fold(0u64, |sum, (_, count)| sum.saturating_add(*count))
    };
    let not_queries = reasons(&interval.uncounted, ReasonKind::NotAQuery);
    let uncounted = reasons(&interval.uncounted, ReasonKind::Query);
    let (counted_total, excluded_total) = (sum(&counted), sum(&excluded));
    let queries =
        u64::try_from(u128::from(counted_total) + u128::from(excluded_total) + uncounted.total())
            .unwrap_or(u64::MAX);
    let totals = Totals {
        packets: interval.packets,
        queries,
        counted: counted_total,
        excluded: excluded_total,
        distinct_names: counted.len() as u64,
        not_queries,
        uncounted,
    };

    // Grouped from every counted name, before the top list is cut; excluded names are in neither.
    let domains = domains::domains(&counted, options.grouping, options.top, queries);
    let orgs = options
        .orgs
        .map(|map| orgs::orgs(&counted, map, options.top, queries));

    let names = Ranked::cut(counted, options.top, queries);
    let unmatched_exclusions = (!options.exclusions.is_empty()).then(|| {
        options
            .exclusions
            .unmatched(excluded.iter().map(|(name, _)| *name))
    });

    Report {
        schema: model::SCHEMA.to_owned(),
        host: meta.host.clone(),
        interfaces: meta.interfaces.clone(),
        // The live run adds it: only it knows when interfaces came and went.
        attached: Vec::new(),
        snapshot: false,
        start: model::rfc3339_utc(interval.start),
        end: model::rfc3339_utc(interval.end),
        seconds: seconds_between(interval.start, interval.end),
        totals,
        names,
        qtypes: qtypes(&interval.qtypes),
        excluded: excluded
            .into_iter()
            .map(|(name, count)| ExcludedName {
                name: name.to_owned(),
                count,
            })
            .collect(),
        unmatched_exclusions,
        domains: Some(domains),
        orgs,
        clients: options
            .clients
            .zip(interval.clients.as_ref())
            .map(|(how, counts)| clients::section(counts, &how, options.top, queries)),
        settings: options.settings.cloned(),
    }
}

/// Every name with a non-zero count in canonical presentation form, one after the other in one
/// buffer, and where each is in it, with its count.
fn present_all(names: &[(Vec<u8>, u64)]) -> (String, Vec<(Range<usize>, u64)>) {
    // Presentation form is as long as the wire form less one byte unless a byte is escaped.
    let mut text = String::with_capacity(names.iter().map(|(wire, _)| wire.len()).sum());
    let spans = names
        .iter()
        .filter(|(_, count)| *count != 0)
        .map(|(wire, count)| {
            let start = text.len();
            // The kernel folds case; folding again costs little and makes the name canonical for sure.
            if wire.iter().any(u8::is_ascii_uppercase) {
                names::push_presentation(&mut text, &wire.to_ascii_lowercase());
            } else {
                names::push_presentation(&mut text, wire);
            }
            (start..text.len(), *count)
        })
        .collect();
    (text, spans)
}

/// Adds a name repeated in `entries` to its first entry and drops the repeat. The kernel sends each
/// name once, so this is a check that nearly always finds nothing: it sorts hashes of the names
/// (cheap and cache-friendly, unlike a map of a million names) and compares names only where two
/// hashes are equal.
fn add_up_repeats(entries: &mut Vec<(&str, u64)>) {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut hashes: Vec<(u64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(at, (name, _))| (hasher.hash_one(name), at))
        .collect();
    hashes.sort_unstable();
    let mut repeated = false;
    // Within a run of equal hashes, entries are in input order: the first keeps the name.
    for run in hashes
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
    {
        for (i, &(_, first)) in run.iter().enumerate() {
            for &(_, later) in &run[i + 1..] {
                if entries[later].1 != 0 && entries[first].0 == entries[later].0 {
                    let count = std::mem::take(&mut entries[later].1);
                    entries[first].1 = entries[first].1.saturating_add(count);
                    repeated = true;
                }
            }
        }
    }
    if repeated {
        // Every entry came with a non-zero count; a repeat now has zero.
        entries.retain(|(_, count)| *count != 0);
    }
}

/// Every reason of `kind`, in the kernel's order, zeros included, with its counts added up.
fn reasons(counts: &[(Reason, u64)], kind: ReasonKind) -> Uncounted {
    Uncounted(
        Reason::ALL
            .iter()
            .filter(|reason| reason.kind() == kind)
            .map(|&reason| {
                let count = counts
                    .iter()
                    .filter(|(counted, _)| *counted == reason)
                    .fold(0u64, |sum, (_, count)| sum.saturating_add(*count));
                (reason.name().to_owned(), count)
            })
            .collect(),
    )
}

fn qtypes(counts: &[(u16, u64)]) -> Vec<QtypeCount> {
    let mut by_value: BTreeMap<u16, u64> = BTreeMap::new();
    for &(value, count) in counts.iter().filter(|(_, count)| *count != 0) {
        let total = by_value.entry(value).or_default();
        *total = total.saturating_add(count);
    }
    let mut sorted: Vec<(u16, u64)> = by_value.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sorted
        .into_iter()
        .map(|(value, count)| QtypeCount {
            qtype: qtype_mnemonic(value),
            count,
        })
        .collect()
}

/// The qtype's mnemonic as dig prints it: `A`, `AAAA`, ..., and `TYPE<n>` (RFC 3597) for a type
/// hickory has no IANA mnemonic for.
pub fn qtype_mnemonic(value: u16) -> String {
    match RecordType::from(value) {
        // hickory prints "Unknown" for these, and has names of its own for 0 and for ANAME on a
        // private-use value; neither is an IANA mnemonic.
        RecordType::Unknown(_) | RecordType::ZERO | RecordType::ANAME => format!("TYPE{value}"),
        known => known.to_string(),
    }
}

/// `end - start` in seconds, negative if the wall clock stepped back.
fn seconds_between(start: std::time::SystemTime, end: std::time::SystemTime) -> f64 {
    // From whole nanoseconds, so the value is the nearest f64 to the decimal and reads back exactly.
    let nanos = |d: std::time::Duration| d.as_nanos() as f64 / 1e9;
    match end.duration_since(start) {
        Ok(forward) => nanos(forward),
        Err(back) => -nanos(back.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    use crate::model::Rest;
    use crate::testing::{fixture, fixture_report, wire};

    /// `interval`'s report, every name listed, nothing excluded.
    fn plain_report(interval: &Interval) -> Report {
        let meta = Meta {
            host: "h".into(),
            interfaces: vec![],
        };
        build_report(
            interval,
            &meta,
            &ReportOptions::new(0, &Exclusions::default()),
        )
    }

    #[test]
    fn fixture_holds_its_invariants_for_every_cut() {
        for top in 0..15 {
            let report = fixture_report(top);
            assert_eq!(report.check_invariants(), Ok(()), "top {top}");
            assert_eq!(
                report.names.top.len(),
                if top == 0 { 11 } else { top.min(11) }
            );
        }
    }

    #[test]
    fn sorted_by_count_then_name_and_cut() {
        let report = fixture_report(4);
        let top: Vec<(u64, &str, u64)> = report
            .names
            .top
            .iter()
            .map(|e| (e.rank, e.key.as_str(), e.count))
            .collect();
        // The tie at 120 goes by name: '\' (0x5c) sorts after 'a'.
        assert_eq!(
            top,
            [
                (1, "www.example.com", 500),
                (2, r"a\.b.example", 120),
                (3, r"back\\slash.example", 120),
                (4, r#"\"quoted\".example"#, 90)
            ]
        );
        assert_eq!(
            report.names.rest,
            Rest {
                keys: 7,
                count: 75 + 60 + 45 + 30 + 30 + 12 + 7,
                names: 0
            }
        );
        assert_eq!(report.totals.counted, 1_089);
        assert_eq!(report.totals.distinct_names, 11);
        assert_eq!(report.names.top[0].share, 0.440917108);
    }

    /// Defect: an exclusion that matched nothing (stale, or mistyped) said so nowhere.
    #[test]
    fn exclusions_that_excluded_no_query_are_listed() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            packets: 75,
            names: vec![
                (wire(&[b"www", b"example", b"com"]), 40),
                (wire(&[b"a", b"cdn", b"example", b"com"]), 20),
                (wire(&[b"ntp", b"vendor", b"example"]), 15),
                (wire(&[b"old", b"example"]), 0),
            ],
            qtypes: vec![],
            uncounted: vec![],
            clients: None,
        };
        let meta = Meta {
            host: "h".into(),
            interfaces: vec![],
        };
        let entries = [
            "*.cdn.example.com",
            "a.cdn.example.com",
            "NTP.vendor.example.",
            "*.vendor.example",
            "*.stale.example",
            "old.example",
            "*.www.example.com",
        ];
        let exclusions =
            Exclusions::new(&entries.map(String::from), &[]).expect("valid exclusions");
        let report = build_report(&interval, &meta, &ReportOptions::new(0, &exclusions));
        assert_eq!(report.check_invariants(), Ok(()));
        // A name matched by a name and a wildcard at once matches both; a name seen with no
        // queries (old.example) matched nothing, and a wildcard is not over its own domain.
        assert_eq!(
            report.unmatched_exclusions.as_deref(),
            Some(
                &[
                    "*.stale.example".to_owned(),
                    "*.www.example.com".to_owned(),
                    "old.example".to_owned()
                ][..]
            )
        );
        let text = crate::render::text::to_text(&report);
        assert!(
            text.ends_with(
                "\nexclusion that matched nothing\n*.stale.example\n*.www.example.com\nold.example\n"
            ),
            "{text}"
        );
        // Every one matched: said as an empty list; no exclusions: not said at all.
        let all = Exclusions::new(&["www.example.com".into()], &[]).expect("valid");
        let report = build_report(&interval, &meta, &ReportOptions::new(0, &all));
        assert_eq!(report.unmatched_exclusions, Some(vec![]));
        assert!(!crate::render::text::to_text(&report).contains("matched nothing"));
        assert_eq!(plain_report(&interval).unmatched_exclusions, None);
        let json = crate::render::json::to_json(&plain_report(&interval));
        assert!(!json.contains("unmatched_exclusions"), "{json}");
    }

    #[test]
    fn excluded_names_are_only_listed_as_excluded() {
        let report = fixture_report(0);
        assert_eq!(
            report.excluded,
            [
                ExcludedName {
                    name: "corp.example".into(),
                    count: 40
                },
                ExcludedName {
                    name: "health.example.net".into(),
                    count: 3
                },
            ]
        );
        assert_eq!(report.totals.excluded, 43);
        assert!(
            report
                .names
                .top
                .iter()
                .all(|e| !e.key.contains("corp") && !e.key.contains("health"))
        );
        // A name with a zero count was not seen.
        assert!(
            report
                .names
                .top
                .iter()
                .all(|e| e.key != "never-excluded.example")
        );
    }

    #[test]
    fn domains_and_orgs_group_every_counted_name_and_no_excluded_one() {
        let report = fixture_report(0);
        let domains = report.domains.as_ref().expect("always written");
        assert_eq!(domains.grouping, "psl");
        let listed: Vec<(&str, u64, u64)> = domains
            .list
            .top
            .iter()
            .map(|d| (d.key.as_str(), d.count, d.names))
            .collect();
        // Each `X.example` name is a domain of its own (`example` is no public suffix, so the
        // list's default rule makes it one); `_dmarc.mail-1.example` is under `mail-1.example`.
        assert_eq!(listed[0], ("example.com", 500, 1));
        assert!(listed.contains(&(r"a\.b.example", 120, 1)));
        assert!(listed.contains(&("mail-1.example", 12, 1)));
        assert!(listed.contains(&(".", 7, 1)));
        // Excluded: corp.example and health.example.net.
        assert!(
            listed
                .iter()
                .all(|(d, ..)| *d != "corp.example" && *d != "example.net")
        );
        assert_eq!(domains.list.rest, Rest::default());

        let orgs = report.orgs.as_ref().expect("with an org map");
        let listed: Vec<(&str, u64, u64)> = orgs
            .list
            .top
            .iter()
            .map(|o| (o.key.as_str(), o.count, o.names))
            .collect();
        assert_eq!(listed, [("Example Com Inc", 500, 1), ("Mail One", 12, 1)]);
        assert_eq!(
            orgs.unassigned,
            model::Unassigned {
                count: 1_089 - 512,
                names: 9
            }
        );
        assert_eq!(report.check_invariants(), Ok(()));

        let cut = fixture_report(1);
        let orgs = cut.orgs.as_ref().expect("with an org map");
        assert_eq!(orgs.list.top.len(), 1);
        assert_eq!(
            orgs.list.rest,
            Rest {
                keys: 1,
                count: 12,
                names: 1
            }
        );
        let domains = cut.domains.as_ref().expect("always written");
        assert_eq!((domains.list.top.len(), domains.list.rest.keys), (1, 10));
        assert_eq!(cut.check_invariants(), Ok(()));
        // Without an org file there is no orgs section.
        let (interval, meta, exclusions) = fixture();
        let plain = build_report(&interval, &meta, &ReportOptions::new(0, &exclusions));
        assert!(plain.orgs.is_none() && plain.domains.is_some());
    }

    #[test]
    fn wildcard_exclusions_keep_names_out_of_top_domains_and_orgs() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            packets: 100,
            names: vec![
                (wire(&[b"www", b"example", b"com"]), 40),
                (wire(&[b"example", b"com"]), 10),
                (wire(&[b"a", b"cdn", b"example", b"com"]), 20),
                (wire(&[b"b", b"cdn", b"example", b"com"]), 15),
                (wire(&[b"cdn", b"example", b"com"]), 5),
                (wire(&[b"x", b"other", b"net"]), 10),
            ],
            qtypes: vec![],
            uncounted: vec![],
            clients: None,
        };
        let meta = Meta {
            host: "h".into(),
            interfaces: vec![],
        };
        let exclusions = Exclusions::new(&["*.CDN.example.com".into()], &[]).expect("valid");
        let orgs =
            OrgMap::parse(b"example.com Example\n", std::path::Path::new("o.txt")).expect("valid");
        let report = build_report(
            &interval,
            &meta,
            &ReportOptions {
                orgs: Some(&orgs),
                grouping: Grouping::Labels(3),
                ..ReportOptions::new(0, &exclusions)
            },
        );
        assert_eq!(report.check_invariants(), Ok(()));
        let excluded: Vec<(&str, u64)> = report
            .excluded
            .iter()
            .map(|e| (e.name.as_str(), e.count))
            .collect();
        assert_eq!(
            excluded,
            [("a.cdn.example.com", 20), ("b.cdn.example.com", 15)]
        );
        // The wildcard's own domain is not under it.
        assert!(report.names.top.iter().any(|e| e.key == "cdn.example.com"));
        let domains = report.domains.expect("always written");
        assert_eq!(domains.grouping, "labels:3");
        let listed: Vec<(&str, u64, u64)> = domains
            .list
            .top
            .iter()
            .map(|d| (d.key.as_str(), d.count, d.names))
            .collect();
        assert_eq!(
            listed,
            [
                ("www.example.com", 40),
                ("example.com", 10),
                ("x.other.net", 10),
                ("cdn.example.com", 5)
            ]
            .map(|(domain, count)| (domain, count, 1))
        );
        let orgs = report.orgs.expect("with an org map");
        assert_eq!((orgs.list.top[0].count, orgs.list.top[0].names), (55, 3));
        assert_eq!(
            orgs.unassigned,
            model::Unassigned {
                count: 10,
                names: 1
            }
        );
    }

    #[test]
    fn totals_and_times() {
        let report = fixture_report(3);
        // 1,132 queries counted by name (excluded ones included) and 2 with a bad label are the
        // queries; the 66 other packets were not queries.
        assert_eq!(report.totals.packets, 1_200);
        assert_eq!(report.totals.queries, 1_134);
        assert_eq!(report.start, "2026-11-22T01:00:00.25Z");
        assert_eq!(report.end, "2026-11-22T01:01:00.5Z");
        assert_eq!(report.seconds, 60.25);
        let names = |reasons: &Uncounted| -> Vec<String> {
            reasons.0.iter().map(|(name, _)| name.clone()).collect()
        };
        let of_kind = |kind| -> Vec<String> {
            Reason::ALL
                .iter()
                .filter(|reason| reason.kind() == kind)
                .map(|reason| reason.name().to_owned())
                .collect()
        };
        // Every reason listed, zeros included, in the kernel's order, each under its kind.
        assert_eq!(
            names(&report.totals.not_queries),
            of_kind(ReasonKind::NotAQuery)
        );
        assert_eq!(names(&report.totals.uncounted), of_kind(ReasonKind::Query));
        assert_eq!(report.totals.not_queries.total(), 66);
        assert_eq!(report.totals.uncounted.total(), 2);
    }

    /// Defect: every packet the program looked at was called a query, so UDP to another port
    /// halved a name's share.
    #[test]
    fn shares_are_over_queries_not_packets() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH + Duration::from_secs(1),
            packets: 2_000,
            names: vec![(wire(&[b"only", b"example"]), 1_000)],
            qtypes: vec![(1, 1_000)],
            uncounted: vec![(Reason::OtherPort, 1_000)],
            clients: None,
        };
        let report = plain_report(&interval);
        assert_eq!(report.check_invariants(), Ok(()));
        assert_eq!(
            (report.totals.packets, report.totals.queries),
            (2_000, 1_000)
        );
        assert_eq!(report.names.top[0].share, 1.0);
        let domains = report.domains.as_ref().expect("domains");
        assert_eq!(domains.list.top[0].share, 1.0);
    }

    #[test]
    fn qtypes_sorted_with_rfc3597_names() {
        let qtypes: Vec<(String, u64)> = fixture_report(0)
            .qtypes
            .into_iter()
            .map(|q| (q.qtype, q.count))
            .collect();
        let expected = [
            ("A", 700),
            ("AAAA", 250),
            ("HTTPS", 80),
            ("MX", 30),
            ("TYPE65280", 30),
            ("TYPE0", 2),
        ];
        assert_eq!(qtypes, expected.map(|(q, c)| (q.to_owned(), c)));
    }

    #[test]
    fn mnemonics() {
        assert_eq!(qtype_mnemonic(1), "A");
        assert_eq!(qtype_mnemonic(255), "ANY");
        assert_eq!(qtype_mnemonic(252), "AXFR");
        assert_eq!(qtype_mnemonic(64), "SVCB");
        assert_eq!(qtype_mnemonic(0), "TYPE0");
        assert_eq!(qtype_mnemonic(256), "TYPE256");
        assert_eq!(qtype_mnemonic(65305), "TYPE65305");
        assert_eq!(qtype_mnemonic(u16::MAX), "TYPE65535");
    }

    #[test]
    fn empty_interval() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            packets: 0,
            names: vec![],
            qtypes: vec![],
            uncounted: vec![(Reason::OtherPort, 0)],
            clients: None,
        };
        let meta = Meta {
            host: "h".into(),
            interfaces: vec![],
        };
        let report = build_report(
            &interval,
            &meta,
            &ReportOptions::new(10, &Exclusions::default()),
        );
        assert_eq!(report.check_invariants(), Ok(()));
        assert_eq!(
            (report.names.top.len(), report.names.rest, report.seconds),
            (0, Rest::default(), 0.0)
        );
    }

    #[test]
    fn a_packet_count_below_the_names_is_caught() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH + Duration::from_secs(1),
            packets: 0,
            names: vec![(wire(&[b"a"]), 3)],
            qtypes: vec![],
            uncounted: vec![],
            clients: None,
        };
        let report = plain_report(&interval);
        // Three queries, all for one name, whatever the kernel's packet count says.
        assert_eq!(report.names.top[0].share, 1.0);
        // The kernel's total disagrees with its names, and the check says so.
        assert_eq!(
            report.check_invariants().map_err(|err| err.rule),
            Err("packets = queries + sum(not_queries)".to_owned())
        );
    }

    #[test]
    fn repeated_entries_are_added_up() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            packets: 10,
            names: vec![(wire(&[b"a"]), 3), (wire(&[b"a"]), 4)],
            qtypes: vec![(1, 2), (1, 5)],
            uncounted: vec![
                (Reason::OtherPort, 1),
                (Reason::NotIp, 1),
                (Reason::OtherPort, 1),
            ],
            clients: None,
        };
        let report = plain_report(&interval);
        assert_eq!(report.check_invariants(), Ok(()));
        assert_eq!((report.names.top.len(), report.names.top[0].count), (1, 7));
        assert_eq!(
            report.qtypes,
            [QtypeCount {
                qtype: "A".into(),
                count: 7
            }]
        );
        let nonzero: Vec<(String, u64)> = report
            .totals
            .not_queries
            .0
            .iter()
            .filter(|(_, count)| *count != 0)
            .cloned()
            .collect();
        assert_eq!(
            nonzero,
            [("not_ip".to_owned(), 1), ("other_port".to_owned(), 2)]
        );
    }

    #[test]
    fn names_differing_only_in_case_are_one_name() {
        let interval = Interval {
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            packets: 5,
            names: vec![
                (wire(&[b"WWW", b"Corp"]), 2),
                (wire(&[b"www", b"corp"]), 1),
                (wire(&[b"Ex"]), 2),
            ],
            qtypes: vec![],
            uncounted: vec![],
            clients: None,
        };
        let meta = Meta {
            host: "h".into(),
            interfaces: vec![],
        };
        let exclusions = Exclusions::new(&["EX.".into()], &[]).expect("valid");
        let report = build_report(&interval, &meta, &ReportOptions::new(0, &exclusions));
        assert_eq!(report.check_invariants(), Ok(()));
        assert_eq!(
            (report.names.top[0].key.as_str(), report.names.top[0].count),
            ("www.corp", 3)
        );
        assert_eq!(
            report.excluded,
            [ExcludedName {
                name: "ex".into(),
                count: 2
            }]
        );
    }

    #[test]
    fn seconds_read_back_exactly() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_309_200);
        for nanos in [
            1,
            999_999_999,
            60_000_000_001,
            59_999_999_999,
            86_400_123_456_789,
            3_123_456_789,
        ] {
            let seconds = seconds_between(start, start + Duration::from_nanos(nanos));
            let json = serde_json::to_string(&seconds).expect("serialize");
            assert_eq!(
                serde_json::from_str::<f64>(&json).expect("parse"),
                seconds,
                "{json}"
            );
        }
    }

    #[test]
    fn clock_stepping_back_gives_negative_seconds() {
        let start = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(
            seconds_between(start, start - Duration::from_millis(1500)),
            -1.5
        );
        assert_eq!(
            seconds_between(start, start + Duration::from_nanos(1)),
            1e-9
        );
    }
}
