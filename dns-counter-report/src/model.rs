//! The report for one interval: the `dns-counter/report/v3` JSON contract and its invariants; its
//! ranked lists are one type ([`Ranked`], in `ranked`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod ranked;

pub use self::ranked::{
    ByClient, ByDomain, ByName, ByOrg, Counts, Entry, InvariantError, ListKind, Of, Ranked, Rest,
    Sum, share,
};

/// The value of [`Report::schema`]; changes only with an incompatible change of the JSON.
pub const SCHEMA: &str = "dns-counter/report/v3";
/// The schema before `start` and `end` kept sub-seconds and reports said how long each interface
/// was attached; [`crate::read`] reads such reports as they are.
pub const SCHEMA_V2: &str = "dns-counter/report/v2";
/// The schema before `totals.packets` and `totals.not_queries` told packets and queries apart;
/// [`crate::read`] converts such reports.
pub const SCHEMA_V1: &str = "dns-counter/report/v1";

/// One interval's counts. Field names and meanings are an interface: consumers parse the JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    pub host: String,
    pub interfaces: Vec<String>,
    /// How long the program was attached to each interface in the interval, by the interface's
    /// name at the interval's end; empty for a replay. Absent in v2 reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<Attached>,
    /// RFC 3339, UTC, e.g. `2026-11-22T01:00:00Z`, with as many fraction digits as the time has
    /// (`2026-11-22T01:00:00.25Z`), none for a whole second.
    pub start: String,
    pub end: String,
    /// `end - start` with sub-second precision. The daemon never writes it negative: when the
    /// wall clock stepped back, it labels the interval's start by the new clock.
    pub seconds: f64,
    /// The interval so far, written on SIGUSR1 while it goes on (`snapshot.<ext>`): its counts
    /// are also in the interval's report, so it is never merged with it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub snapshot: bool,
    pub totals: Totals,
    /// The most queried names (`top`), most first, ties by name, and the names counted but not
    /// listed (`rest`).
    #[serde(flatten)]
    pub names: Ranked<ByName>,
    /// Query types, most first, ties by type value.
    pub qtypes: Vec<QtypeCount>,
    /// Excluded names that were seen, most first, ties by name.
    pub excluded: Vec<ExcludedName>,
    /// The exclusions (a name, or `*.domain`, in canonical form) that excluded no query in the
    /// interval, sorted: stale entries, or typing mistakes. `None` without exclusions, and in
    /// reports from before it existed; `Some` and empty when every exclusion matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched_exclusions: Option<Vec<String>>,
    /// Queries per registered domain (Public Suffix List), or per last N labels with
    /// --domain-depth. Always written; `None` only when reading a report from before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Domains>,
    /// Queries per organisation, with --org-file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orgs: Option<Orgs>,
    /// Queries per client prefix, with --clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<Clients>,
    /// What shaped the counts, so `merge` can tell inputs counted differently. `None` in reports
    /// from before it existed, and in a merge of inputs whose settings differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
}

/// The settings a report was counted and cut with. Lists are digests (`sha256:` and the hex of
/// their canonical form), so reports compare without carrying the lists.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The dns-counter version that counted it.
    pub version: String,
    /// The UDP and TCP ports counted, sorted.
    pub ports: Vec<u16>,
    /// How many entries each list keeps; 0 keeps every one.
    pub top: u64,
    /// How many distinct names an interval can count (`--max-names`).
    pub max_names: u64,
    /// The exclusion list's digest; `None` without one.
    pub exclusions: Option<String>,
    /// The organisation list's digest; `None` without `--org-file`.
    pub orgs: Option<String>,
    /// How names are grouped into domains: `psl` or `labels:N`.
    pub grouping: String,
}

impl Settings {
    /// Each setting by name, as `merge` names the ones that differ.
    pub fn named(&self) -> [(&'static str, String); 7] {
        let digest = |list: &Option<String>| list.clone().unwrap_or_else(|| "none".to_owned());
        [
            ("version", self.version.clone()),
            (
                "ports",
                self.ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("top", self.top.to_string()),
            ("max_names", self.max_names.to_string()),
            ("exclusions", digest(&self.exclusions)),
            ("orgs", digest(&self.orgs)),
            ("grouping", self.grouping.clone()),
        ]
    }
}

/// How long the program was attached to one interface in an interval.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Attached {
    pub interface: String,
    /// At most the report's `seconds`; less when the interface vanished or appeared meanwhile.
    pub seconds: f64,
}

/// Counted queries grouped by domain. Invariants: `sum(top.count) + rest.count = totals.counted`
/// and `sum(top.names) + rest.names = totals.distinct_names`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Domains {
    /// `"psl"` (registered domain under the Public Suffix List) or `"labels:N"` (--domain-depth N).
    pub grouping: String,
    #[serde(flatten)]
    pub list: Ranked<ByDomain>,
}

/// Counted queries grouped by organisation (--org-file). Invariants:
/// `sum(top.count) + rest.count + unassigned.count = totals.counted`, and the same for names
/// with `totals.distinct_names`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Orgs {
    #[serde(flatten)]
    pub list: Ranked<ByOrg>,
    /// Queries for names under no suffix of the file.
    pub unassigned: Unassigned,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Unassigned {
    pub count: u64,
    pub names: u64,
}

/// Queries per client prefix (--clients), counted in the kernel for every query it counted by
/// name, excluded names included. Invariant:
/// `sum(top.count) + rest.count + untracked = totals.counted + totals.excluded`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Clients {
    pub prefix_v4: u8,
    pub prefix_v6: u8,
    /// Prefixes are written as keyed hashes, stable for one run (--anonymize).
    pub anonymized: bool,
    #[serde(flatten)]
    pub list: Ranked<ByClient>,
    /// Queries whose client could not be recorded (the kernel's client table was full).
    pub untracked: u64,
}

/// Invariants: `packets = queries + sum(not_queries)` and
/// `queries = counted + excluded + sum(uncounted)`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Every packet the XDP program looked at; the kernel's own figure, not a sum.
    pub packets: u64,
    /// DNS queries to a counted port: packets with QR=0 after a complete DNS header. Every
    /// `share` is over this.
    pub queries: u64,
    /// Queries for names not excluded.
    pub counted: u64,
    /// Queries for excluded names.
    pub excluded: u64,
    /// Names counted (excluded ones are not).
    pub distinct_names: u64,
    /// Packets that are not queries, by reason, every such reason listed.
    pub not_queries: Uncounted,
    /// Queries not counted by name, by reason, every such reason listed.
    pub uncounted: Uncounted,
}

/// Reason → packets (or queries), kept in the order given (the kernel's fixed order) and written as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uncounted(pub Vec<(String, u64)>);

impl Uncounted {
    pub fn total(&self) -> u128 {
        self.0.iter().map(|(_, count)| u128::from(*count)).sum()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct QtypeCount {
    /// Mnemonic such as `AAAA`, or `TYPE65280` for a type without one (RFC 3597).
    pub qtype: String,
    pub count: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ExcludedName {
    pub name: String,
    pub count: u64,
}

impl Report {
    /// Checks that the totals agree with each other and with the lists. Sums are taken in `u128`, so a
    /// report read from anywhere cannot make this overflow.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let totals = &self.totals;
        let check = |rule: &str, left: u128, right: u128| {
            if left == right {
                Ok(())
            } else {
                let rule = rule.to_owned();
                Err(InvariantError { rule, left, right })
            }
        };
        check(
            "packets = queries + sum(not_queries)",
            totals.packets.into(),
            u128::from(totals.queries) + totals.not_queries.total(),
        )?;
        check(
            "queries = counted + excluded + sum(uncounted)",
            totals.queries.into(),
            u128::from(totals.counted) + u128::from(totals.excluded) + totals.uncounted.total(),
        )?;
        check(
            "excluded = sum(excluded[].count)",
            totals.excluded.into(),
            self.excluded
                .iter()
                .map(|entry| u128::from(entry.count))
                .sum(),
        )?;
        if let Some(unmatched) = &self.unmatched_exclusions {
            let matching = entries_matching(&self.excluded);
            check(
                "unmatched_exclusions that match an excluded name = 0",
                unmatched
                    .iter()
                    .filter(|entry| matching.contains(*entry))
                    .count() as u128,
                0,
            )?;
        }
        let counted = Sum::new(Of::Count, "counted", totals.counted.into());
        let distinct = |of| Sum::new(of, "distinct_names", totals.distinct_names.into());
        self.names.check(&[counted, distinct(Of::Keys)])?;
        if let Some(domains) = &self.domains {
            domains.list.check(&[counted, distinct(Of::Names)])?;
        }
        if let Some(orgs) = &self.orgs {
            let unassigned = &orgs.unassigned;
            orgs.list.check(&[
                counted.beside("unassigned.count", unassigned.count),
                distinct(Of::Names).beside("unassigned.names", unassigned.names),
            ])?;
        }
        if let Some(clients) = &self.clients {
            // The kernel counts a client for every query it counts by name; exclusions come later.
            let seen = u128::from(totals.counted) + u128::from(totals.excluded);
            let seen = Sum::new(Of::Count, "counted + excluded", seen);
            clients
                .list
                .check(&[seen.beside("untracked", clients.untracked)])?;
        }
        Ok(())
    }

    /// Sets every list's `share` to its count over `totals.queries`.
    pub fn reshare(&mut self) {
        let queries = self.totals.queries;
        self.names.reshare(queries);
        if let Some(domains) = &mut self.domains {
            domains.list.reshare(queries);
        }
        if let Some(orgs) = &mut self.orgs {
            orgs.list.reshare(queries);
        }
        if let Some(clients) = &mut self.clients {
            clients.list.reshare(queries);
        }
    }
}

/// Every exclusion entry, as `unmatched_exclusions` writes them (a name, or `*.domain`), that
/// matches one of `excluded`: an excluded name was excluded by such an entry, which so matched.
pub(crate) fn entries_matching(excluded: &[ExcludedName]) -> HashSet<String> {
    excluded
        .iter()
        .flat_map(|entry| {
            let wildcards = crate::names::suffixes(&entry.name)
                .skip(1)
                .map(|parent| format!("*.{parent}"));
            std::iter::once(entry.name.clone()).chain(wildcards)
        })
        .collect()
}

/// RFC 3339 in UTC, with the fraction digits the time needs (none for a whole second, up to
/// nanoseconds). Times outside what the format holds (before 1970, after 9999) are clamped
/// rather than panicking: a clock that far off is reported, not fatal.
pub fn rfc3339_utc(time: SystemTime) -> String {
    const LAST: Duration = Duration::new(253_402_300_799, 999_999_999); // 9999-12-31T23:59:59.999999999Z
    let time = time.clamp(UNIX_EPOCH, UNIX_EPOCH + LAST);
    let text = humantime::format_rfc3339_nanos(time).to_string();
    // `2026-11-22T01:00:00.250000000Z` → `2026-11-22T01:00:00.25Z`; `….000000000Z` → `…Z`.
    let digits = text.trim_end_matches('Z').trim_end_matches('0');
    format!("{}Z", digits.trim_end_matches('.'))
}

impl Serialize for Uncounted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (reason, count) in &self.0 {
            map.serialize_entry(reason, count)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Uncounted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Uncounted;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of reason to count")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Uncounted, A::Error> {
                let mut reasons = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, u64>()? {
                    reasons.push(entry);
                }
                Ok(Uncounted(reasons))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// A report as its JSON file holds it: one interval's (from `run` or `replay`), or a merged one
/// with its `merge` section.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SavedReport {
    #[serde(flatten)]
    pub report: Report,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInfo>,
}

/// The `merge` section of a merged report.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MergeInfo {
    /// The reports merged, in the order given; a merged input contributes its own inputs.
    pub inputs: Vec<Input>,
    /// Every count in the report is exact: no list was cut where it mattered.
    pub exact: bool,
    /// `totals.distinct_names` (and so every `rest.names`) is a lower bound, low by at most this.
    pub distinct_names_max_error: u64,
    /// The `top` list of names.
    pub names: ListBounds,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<ListBounds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orgs: Option<ListBounds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<ListBounds>,
    /// The settings (as [`Settings::named`] names them) that differ between inputs, or that
    /// some inputs do not record: their counts were not taken alike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differing_settings: Vec<String>,
}

/// One report that went into a merge.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub host: String,
    pub interfaces: Vec<String>,
    pub start: String,
    pub end: String,
}

/// How far a merged list's counts may be off.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct ListBounds {
    /// Every count in the list (and every `names` count, for domains and organisations) is exact.
    pub exact: bool,
    /// The largest `max_error` of `lower_bounds`: no listed count is low by more.
    pub max_error: u64,
    /// The most queries an entry that is not listed can have had: nothing in `rest` had more.
    pub unlisted_max: u64,
    /// Domains and organisations: the largest error of a `names` count (`unassigned.names`
    /// included); `None` for lists without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names_max_error: Option<u64>,
    /// The entries whose counts are lower bounds, by rank; entries not here are exact.
    pub lower_bounds: Vec<EntryBound>,
}

/// A listed entry whose count is a lower bound: the true count is at most `count + max_error`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EntryBound {
    pub rank: u64,
    pub max_error: u64,
    /// Domains and organisations: `names` is low by at most this.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub names_max_error: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{json::to_json, text::to_text};
    use crate::testing::golden;

    /// An entry of a list of 10 queries.
    fn entry(rank: u64, key: &str, count: u64, names: u64) -> Entry {
        Entry {
            rank,
            key: key.into(),
            count,
            names,
            share: share(count, 10),
        }
    }

    fn sample() -> Report {
        Report {
            schema: SCHEMA.into(),
            host: "gw1".into(),
            interfaces: vec!["vr0".into()],
            attached: Vec::new(),
            snapshot: false,
            start: "2026-11-22T01:00:00Z".into(),
            end: "2026-11-22T01:01:00Z".into(),
            seconds: 60.0,
            totals: Totals {
                packets: 11,
                queries: 10,
                counted: 7,
                excluded: 2,
                distinct_names: 3,
                not_queries: Uncounted(vec![("not_dns".into(), 1)]),
                uncounted: Uncounted(vec![("truncated".into(), 1)]),
            },
            names: Ranked::new(
                vec![entry(1, "a.example", 4, 0), entry(2, "b.example", 2, 0)],
                Rest {
                    keys: 1,
                    count: 1,
                    names: 0,
                },
            ),
            qtypes: vec![QtypeCount {
                qtype: "A".into(),
                count: 9,
            }],
            excluded: vec![ExcludedName {
                name: "corp.example".into(),
                count: 2,
            }],
            unmatched_exclusions: None,
            domains: None,
            orgs: None,
            clients: None,
            settings: None,
        }
    }

    #[test]
    fn sample_holds_its_invariants() {
        assert_eq!(sample().check_invariants(), Ok(()));
    }

    #[test]
    fn each_broken_total_is_caught() {
        let broken = |change: fn(&mut Report)| {
            let mut report = sample();
            change(&mut report);
            report
                .check_invariants()
                .expect_err("broken report passed")
                .rule
        };
        assert_eq!(
            broken(|r| r.totals.packets += 1),
            "packets = queries + sum(not_queries)"
        );
        assert_eq!(
            broken(|r| r.totals.not_queries.0[0].1 = 5),
            "packets = queries + sum(not_queries)"
        );
        assert_eq!(
            broken(|r| {
                r.totals.queries += 1;
                r.totals.packets += 1;
            }),
            "queries = counted + excluded + sum(uncounted)"
        );
        assert_eq!(
            broken(|r| r.totals.uncounted.0[0].1 = 5),
            "queries = counted + excluded + sum(uncounted)"
        );
        assert_eq!(
            broken(|r| r.names.rest.count += 1),
            "counted = sum(top[].count) + rest.count"
        );
        assert_eq!(
            broken(|r| r.names.top[0].count -= 1),
            "counted = sum(top[].count) + rest.count"
        );
        assert_eq!(
            broken(|r| r.names.rest.keys = 0),
            "distinct_names = len(top) + rest.names"
        );
        assert_eq!(
            broken(|r| r.excluded[0].count = 1),
            "excluded = sum(excluded[].count)"
        );
        assert_eq!(
            broken(|r| r.names.top.swap(0, 1)),
            "top ranks are 1, 2, 3, ..."
        );
        let mut report = sample();
        report.excluded.push(ExcludedName {
            name: "x".into(),
            count: 1,
        });
        assert_eq!(
            report.check_invariants().map_err(|e| e.to_string()),
            Err("excluded = sum(excluded[].count) does not hold: 2 != 3".into())
        );
    }

    /// [`sample`] with a `domains` and an `orgs` section that add up.
    fn sample_with_sections() -> Report {
        let mut report = sample();
        report.domains = Some(Domains {
            grouping: "psl".into(),
            list: Ranked::new(
                vec![entry(1, "a.example", 4, 1), entry(2, "b.example", 2, 1)],
                Rest {
                    keys: 1,
                    count: 1,
                    names: 1,
                },
            ),
        });
        report.orgs = Some(Orgs {
            list: Ranked::new(vec![entry(1, "Example Org", 6, 2)], Rest::default()),
            unassigned: Unassigned { count: 1, names: 1 },
        });
        report
    }

    #[test]
    fn broken_domains_and_orgs_are_caught() {
        assert_eq!(sample_with_sections().check_invariants(), Ok(()));
        let broken = |change: fn(&mut Domains, &mut Orgs)| {
            let mut report = sample_with_sections();
            let (mut domains, mut orgs) = (report.domains.take(), report.orgs.take());
            change(domains.as_mut().expect("set"), orgs.as_mut().expect("set"));
            (report.domains, report.orgs) = (domains, orgs);
            report
                .check_invariants()
                .expect_err("broken report passed")
                .rule
        };
        assert_eq!(
            broken(|d, _| d.list.rest.count += 1),
            "counted = sum(domains.top[].count) + domains.rest.count"
        );
        assert_eq!(
            broken(|d, _| d.list.top[1].count = 1),
            "counted = sum(domains.top[].count) + domains.rest.count"
        );
        assert_eq!(
            broken(|d, _| d.list.top[0].names = 2),
            "distinct_names = sum(domains.top[].names) + domains.rest.names"
        );
        assert_eq!(
            broken(|d, _| d.list.top.swap(0, 1)),
            "domains.top ranks are 1, 2, 3, ..."
        );
        assert_eq!(
            broken(|_, o| o.unassigned.count = 0),
            "counted = sum(orgs.top[].count) + orgs.rest.count + orgs.unassigned.count"
        );
        assert_eq!(
            broken(|_, o| o.list.rest.names = 1),
            "distinct_names = sum(orgs.top[].names) + orgs.rest.names + orgs.unassigned.names"
        );
        assert_eq!(
            broken(|_, o| o.list.top[0].rank = 2),
            "orgs.top ranks are 1, 2, 3, ..."
        );
        // An excluded name counted under a domain breaks the sums too.
        let mut report = sample_with_sections();
        if let Some(domains) = report.domains.as_mut() {
            domains.list.top.push(entry(3, "corp.example", 2, 1));
        }
        assert_eq!(
            report.check_invariants().map_err(|e| e.to_string()),
            Err(
                "counted = sum(domains.top[].count) + domains.rest.count does not hold: 7 != 9"
                    .into()
            )
        );
        // Absent sections are not checked.
        let mut report = sample();
        report.orgs = sample_with_sections().orgs;
        assert_eq!(report.check_invariants(), Ok(()));
    }

    #[test]
    fn huge_counts_do_not_overflow_the_check() {
        let mut report = sample();
        report.totals.queries = u64::MAX;
        report.totals.counted = u64::MAX;
        assert!(report.check_invariants().is_err());
    }

    #[test]
    fn uncounted_keeps_its_order_both_ways() {
        let uncounted = Uncounted(vec![
            ("zeta".into(), 0),
            ("alpha".into(), 2),
            ("mid".into(), 1),
        ]);
        let json = serde_json::to_string(&uncounted).expect("serialize");
        assert_eq!(json, r#"{"zeta":0,"alpha":2,"mid":1}"#);
        let back: Uncounted = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, uncounted);
        assert!(serde_json::from_str::<Uncounted>(r#"{"a":-1}"#).is_err());
    }

    #[test]
    fn json_field_names_are_the_contract() {
        let value: serde_json::Value = serde_json::from_str(&to_json(&sample())).expect("parse");
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(&value),
            [
                "end",
                "excluded",
                "host",
                "interfaces",
                "qtypes",
                "rest",
                "schema",
                "seconds",
                "start",
                "top",
                "totals"
            ]
        );
        assert_eq!(
            keys(&value["totals"]),
            [
                "counted",
                "distinct_names",
                "excluded",
                "not_queries",
                "packets",
                "queries",
                "uncounted"
            ]
        );
        assert_eq!(keys(&value["top"][0]), ["count", "name", "rank", "share"]);
        assert_eq!(keys(&value["rest"]), ["count", "names"]);
        assert_eq!(keys(&value["qtypes"][0]), ["count", "qtype"]);
        assert_eq!(keys(&value["excluded"][0]), ["count", "name"]);
        assert_eq!(value["schema"], "dns-counter/report/v3");
        assert_eq!(value["seconds"], 60.0);
        assert!(to_json(&sample()).ends_with("}\n"));
    }

    #[test]
    fn domains_and_orgs_field_names_are_the_contract() {
        let value: serde_json::Value =
            serde_json::from_str(&to_json(&sample_with_sections())).expect("parse");
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(&value["domains"]), ["grouping", "rest", "top"]);
        assert_eq!(
            keys(&value["domains"]["top"][0]),
            ["count", "domain", "names", "rank", "share"]
        );
        assert_eq!(
            keys(&value["domains"]["rest"]),
            ["count", "domains", "names"]
        );
        assert_eq!(keys(&value["orgs"]), ["rest", "top", "unassigned"]);
        assert_eq!(
            keys(&value["orgs"]["top"][0]),
            ["count", "names", "org", "rank", "share"]
        );
        assert_eq!(keys(&value["orgs"]["rest"]), ["count", "names", "orgs"]);
        assert_eq!(keys(&value["orgs"]["unassigned"]), ["count", "names"]);
        // A report from before the sections existed still reads.
        let mut old = value.clone();
        let object = old.as_object_mut().expect("object");
        object.remove("domains");
        object.remove("orgs");
        let back: Report = serde_json::from_value(old).expect("parse");
        assert_eq!((back.domains, back.orgs), (None, None));
    }

    #[test]
    fn text_has_domain_and_organisation_tables() {
        let text = to_text(&sample_with_sections());
        let expected = "\
rank  count   share  names  registered domain
   1      4  40.00%      1  a.example
   2      2  20.00%      1  b.example
rest      1  10.00%      1  (1 other domain)

rank  count   share  names  organisation
   1      6  60.00%      2  Example Org
   -      1  10.00%      1  (unassigned)
";
        assert!(text.contains(expected), "{text}");
        let mut report = sample_with_sections();
        if let Some(domains) = report.domains.as_mut() {
            domains.grouping = "labels:2".into();
        }
        assert!(to_text(&report).contains("names  domain (last 2 labels)\n"));
        // Sections present but empty (nothing counted) print nothing.
        report.domains = Some(Domains {
            grouping: "psl".into(),
            list: Ranked::default(),
        });
        report.orgs = Some(Orgs {
            list: Ranked::default(),
            unassigned: Unassigned::default(),
        });
        let text = to_text(&report);
        assert!(
            !text.contains("domain") && !text.contains("organisation"),
            "{text}"
        );
    }

    #[test]
    fn text_escapes_what_could_drive_a_terminal() {
        let mut report = sample();
        report.host = "evil\u{1b}]0;pwned\u{7}".into();
        report.interfaces = vec!["v\nr0".into(), "\u{202e}x".into()];
        report.names.top[0].key = "bad\u{1b}[2J".into();
        let text = to_text(&report);
        assert!(
            text.chars()
                .all(|c| c.is_ascii_graphic() || c == ' ' || c == '\n'),
            "{text}"
        );
        assert!(text.contains(r"evil\u{1b}]0;pwned\u{7}"));
        assert!(text.contains(r"v\nr0, \u{202e}x"));
        assert!(text.contains(r"bad\u{1b}[2J"));
    }

    #[test]
    fn text_without_names_or_queries() {
        let mut report = sample();
        report.totals = Totals {
            packets: 0,
            queries: 0,
            counted: 0,
            excluded: 0,
            distinct_names: 0,
            not_queries: Uncounted(vec![("not_dns".into(), 0)]),
            uncounted: Uncounted(vec![("truncated".into(), 0)]),
        };
        report.names = Ranked::default();
        report.qtypes.clear();
        report.excluded.clear();
        report.interfaces.clear();
        let text = to_text(&report);
        assert!(text.contains("interfaces      (none)\n"), "{text}");
        assert!(text.contains("uncounted       0\n"), "{text}");
        assert!(text.ends_with("\nno names counted\n"), "{text}");
        assert!(
            !text.contains("qtype") && !text.contains("excluded name"),
            "{text}"
        );
    }

    #[test]
    /// Defect: times were cut to whole seconds, so two 100 ms reports merged into `seconds` 0.
    fn rfc3339_keeps_sub_seconds_and_clamps() {
        let whole = UNIX_EPOCH + Duration::from_secs(1_795_309_200);
        assert_eq!(rfc3339_utc(whole), "2026-11-22T01:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_795_309_200, 999_999_999);
        assert_eq!(rfc3339_utc(t), "2026-11-22T01:00:00.999999999Z");
        let t = UNIX_EPOCH + Duration::new(1_795_309_200, 250_000_000);
        assert_eq!(rfc3339_utc(t), "2026-11-22T01:00:00.25Z");
        assert_eq!(humantime::parse_rfc3339(&rfc3339_utc(t)).unwrap(), t);
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00Z"
        );
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339_utc(far), "9999-12-31T23:59:59.999999999Z");
    }

    /// Cuts the fixture after the 253-character name and before the root, so both `top` and `rest` show.
    const GOLDEN_TOP: usize = 9;

    #[test]
    fn golden_json() {
        let report = crate::testing::fixture_report(GOLDEN_TOP);
        assert_eq!(
            to_json(&report),
            to_json(&crate::testing::fixture_report(GOLDEN_TOP)),
            "not stable"
        );
        golden("report.golden.json", &to_json(&report));
    }

    #[test]
    fn golden_txt() {
        let report = crate::testing::fixture_report(GOLDEN_TOP);
        assert_eq!(
            to_text(&report),
            to_text(&crate::testing::fixture_report(GOLDEN_TOP)),
            "not stable"
        );
        golden("report.golden.txt", &to_text(&report));
    }

    #[test]
    fn json_reads_back_equal() {
        for top in [0, 1, GOLDEN_TOP] {
            let report = crate::testing::fixture_report(top);
            let back: Report = serde_json::from_str(&to_json(&report)).expect("parse");
            assert_eq!(back, report);
            assert_eq!(back.check_invariants(), Ok(()));
        }
    }

    #[test]
    fn shares_read_back_exactly() {
        let read_back =
            |x: f64| serde_json::from_str::<f64>(&serde_json::to_string(&x).expect("serialize"));
        for queries in (1..2_000u64).chain([999_983, 10_000_000, 123_456_789_011, u64::MAX / 3]) {
            for count in (0..=queries)
                .step_by((queries / 200).max(1) as usize)
                .chain([1, queries - 1])
            {
                let share = share(count, queries);
                assert_eq!(read_back(share).expect("parse"), share, "{count}/{queries}");
                assert!(
                    (share - count as f64 / queries as f64).abs() <= 6e-10,
                    "{count}/{queries}"
                );
            }
        }
        assert_eq!(share(14, 15), 0.933333333);
        assert_eq!(share(1, 0), 0.0);
        assert_eq!(share(2, 3), 0.666666667);
    }

    #[test]
    fn a_json_parser_reads_hostile_names_back_as_presented() {
        let (interval, ..) = crate::testing::fixture();
        let report = crate::testing::fixture_report(0);
        let value: serde_json::Value = serde_json::from_str(&to_json(&report)).expect("parse");
        let mut listed: Vec<&str> = value["top"]
            .as_array()
            .expect("top")
            .iter()
            .chain(value["excluded"].as_array().expect("excluded"))
            .map(|entry| entry["name"].as_str().expect("name is a string"))
            .collect();
        listed.sort_unstable();
        let mut presented: Vec<String> = interval
            .names
            .iter()
            .filter(|(_, count)| *count != 0)
            .map(|(wire, _)| crate::names::presentation(wire))
            .collect();
        presented.sort_unstable();
        assert_eq!(listed, presented);
        assert!(listed.contains(&r#"\"quoted\".example"#));
        assert!(listed.contains(&r"new\010line.example"));
        assert!(listed.contains(&r"\027\[31m\027\]0\;owned\007.example"));
        assert!(listed.contains(&r"\255\000\127\032.example"));
    }
}
