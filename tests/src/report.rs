//! The daemon's JSON reports (schema `dns-counter/report/v3`) and the checks every report must pass.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::workload::Workload;

pub const SCHEMA: &str = "dns-counter/report/v3";
/// The copy of the newest report; not a report of its own.
pub const LATEST_JSON: &str = "latest.json";
/// The interval so far, written on SIGUSR1; not a report of its own either.
pub const SNAPSHOT_JSON: &str = "snapshot.json";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Report {
    pub schema: String,
    pub host: String,
    pub interfaces: Vec<String>,
    /// Per interface, how long the program was attached (v3, live runs).
    #[serde(default)]
    pub attached: Vec<Attached>,
    pub start: String,
    pub end: String,
    pub seconds: f64,
    /// Written on SIGUSR1: the interval so far.
    #[serde(default)]
    pub snapshot: bool,
    pub totals: Totals,
    pub top: Vec<TopEntry>,
    pub rest: Rest,
    pub qtypes: Vec<QtypeCount>,
    pub excluded: Vec<ExcludedCount>,
    /// Written by every daemon that groups domains; absent in older reports.
    #[serde(default)]
    pub domains: Option<Domains>,
    /// With `--org-file`.
    #[serde(default)]
    pub orgs: Option<Orgs>,
    /// With exclusions: those that excluded no query in the interval.
    #[serde(default)]
    pub unmatched_exclusions: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Attached {
    pub interface: String,
    pub seconds: f64,
}

/// Counted queries per registered domain (or per last N labels).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Domains {
    /// `psl` or `labels:N`.
    pub grouping: String,
    pub top: Vec<DomainEntry>,
    pub rest: DomainRest,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DomainEntry {
    pub rank: u64,
    pub domain: String,
    pub count: u64,
    pub names: u64,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DomainRest {
    pub domains: u64,
    pub count: u64,
    pub names: u64,
}

/// Counted queries per organisation of the org file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Orgs {
    pub top: Vec<OrgEntry>,
    pub rest: OrgRest,
    pub unassigned: Unassigned,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrgEntry {
    pub rank: u64,
    pub org: String,
    pub count: u64,
    pub names: u64,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrgRest {
    pub orgs: u64,
    pub count: u64,
    pub names: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Unassigned {
    pub count: u64,
    pub names: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Totals {
    /// Every packet the program looked at.
    pub packets: u64,
    /// DNS queries to a counted port.
    pub queries: u64,
    pub counted: u64,
    pub excluded: u64,
    pub distinct_names: u64,
    /// Packets that were not queries, by reason.
    pub not_queries: BTreeMap<String, u64>,
    /// Queries not counted by name, by reason.
    pub uncounted: BTreeMap<String, u64>,
}

impl Totals {
    /// Every reason a packet was not counted by name, of either kind.
    pub fn reasons(&self) -> BTreeMap<String, u64> {
        self.not_queries
            .iter()
            .chain(&self.uncounted)
            .map(|(reason, count)| (reason.clone(), *count))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TopEntry {
    pub rank: u64,
    pub name: String,
    pub count: u64,
    pub share: f64,
}

/// The names beyond the top list, summed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rest {
    pub names: u64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QtypeCount {
    pub qtype: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExcludedCount {
    pub name: String,
    pub count: u64,
}

/// A report and the file it came from.
#[derive(Debug, Clone)]
pub struct ReportFile {
    pub path: PathBuf,
    pub report: Report,
}

impl ReportFile {
    /// The text rendering the daemon writes beside each JSON report.
    pub fn txt_path(&self) -> PathBuf {
        self.path.with_extension("txt")
    }
}

/// Every report in `out_dir` (each `*.json` except `latest.json`), oldest first.
pub fn read_reports(out_dir: &Path) -> anyhow::Result<Vec<ReportFile>> {
    let mut keyed = Vec::new();
    for entry in fs::read_dir(out_dir).with_context(|| format!("listing {}", out_dir.display()))? {
        let path = entry?.path();
        let is_json = path.extension().is_some_and(|ext| ext == "json");
        if !is_json
            || path
                .file_name()
                .is_some_and(|name| name == LATEST_JSON || name == SNAPSHOT_JSON)
        {
            continue;
        }
        let key = order_key(&path)?;
        keyed.push((key, read_report(&path)?, path));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed
        .into_iter()
        .map(|(_, report, path)| ReportFile { path, report })
        .collect())
}

pub fn read_report(path: &Path) -> anyhow::Result<Report> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Report files are `<YYYYmmddTHHMMSSZ>.json`, or `<stamp>-N.json` when several end in the same
/// second. Plain byte order would put `-1` before the suffix-less file, so order by (stamp, N).
fn order_key(path: &Path) -> anyhow::Result<(String, u32)> {
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    let (stamp, sequence) = match stem.split_once('-') {
        Some((stamp, sequence)) => (stamp, sequence.parse().ok()),
        None => (stem, Some(0)),
    };
    let stamp_ok = stamp.len() == "YYYYmmddTHHMMSSZ".len()
        && stamp.ends_with('Z')
        && stamp.as_bytes().get(8) == Some(&b'T')
        && stamp.bytes().filter(u8::is_ascii_digit).count() == 14;
    match sequence {
        Some(sequence) if stamp_ok => Ok((stamp.to_owned(), sequence)),
        _ => bail!("unexpected report file name {}", path.display()),
    }
}

impl Report {
    /// Checks the schema and that the report is consistent with itself:
    /// packets = queries + Σ not_queries; queries = counted + excluded + Σ uncounted;
    /// counted = Σ top + rest.count;
    /// distinct_names = len(top) + rest.names; excluded = Σ excluded list; ranks run 1, 2, ...
    /// with counts falling; names are lower case without a trailing dot. With `domains` or
    /// `orgs`, each adds up to `counted` and to `distinct_names` (orgs with `unassigned`), and its
    /// ranks run 1, 2, ... with counts falling.
    pub fn check_consistent(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.schema != SCHEMA {
            problems.push(format!("schema is {:?}, not {SCHEMA:?}", self.schema));
        }
        let totals = &self.totals;
        let not_queries: u64 = totals.not_queries.values().sum();
        if totals.packets != totals.queries + not_queries {
            problems.push(format!(
                "packets {} != queries {} + not queries {not_queries} {:?}",
                totals.packets, totals.queries, totals.not_queries
            ));
        }
        let uncounted: u64 = totals.uncounted.values().sum();
        if totals.queries != totals.counted + totals.excluded + uncounted {
            problems.push(format!(
                "queries {} != counted {} + excluded {} + uncounted {uncounted} {:?}",
                totals.queries, totals.counted, totals.excluded, totals.uncounted
            ));
        }
        let top_sum: u64 = self.top.iter().map(|entry| entry.count).sum();
        if totals.counted != top_sum + self.rest.count {
            problems.push(format!(
                "counted {} != sum of top {top_sum} + rest.count {}",
                totals.counted, self.rest.count
            ));
        }
        if totals.distinct_names != self.top.len() as u64 + self.rest.names {
            problems.push(format!(
                "distinct_names {} != len(top) {} + rest.names {}",
                totals.distinct_names,
                self.top.len(),
                self.rest.names
            ));
        }
        let excluded_sum: u64 = self.excluded.iter().map(|entry| entry.count).sum();
        if totals.excluded != excluded_sum {
            problems.push(format!(
                "totals.excluded {} != sum of excluded list {excluded_sum}",
                totals.excluded
            ));
        }
        for (index, entry) in self.top.iter().enumerate() {
            if entry.rank != index as u64 + 1 {
                problems.push(format!(
                    "top[{index}] ({}) has rank {}",
                    entry.name, entry.rank
                ));
            }
        }
        if let Some(pair) = self
            .top
            .windows(2)
            .find(|pair| pair[0].count < pair[1].count)
        {
            problems.push(format!(
                "top is not sorted by count: {:?} before {:?}",
                pair[0], pair[1]
            ));
        }
        let names = self
            .top
            .iter()
            .map(|entry| &entry.name)
            .chain(self.excluded.iter().map(|entry| &entry.name));
        for name in names.filter(|name| {
            **name != name.to_ascii_lowercase() || (name.ends_with('.') && *name != ".")
        }) {
            problems.push(format!(
                "name {name:?} is not lower case without a trailing dot"
            ));
        }
        if let Some(domains) = &self.domains {
            let entries: Vec<(u64, u64, u64)> = domains
                .top
                .iter()
                .map(|entry| (entry.rank, entry.count, entry.names))
                .collect();
            let rest = (domains.rest.count, domains.rest.names);
            check_grouped("domains", &entries, rest, totals, &mut problems);
        }
        if let Some(orgs) = &self.orgs {
            let entries: Vec<(u64, u64, u64)> = orgs
                .top
                .iter()
                .map(|entry| (entry.rank, entry.count, entry.names))
                .collect();
            let rest = (
                orgs.rest.count + orgs.unassigned.count,
                orgs.rest.names + orgs.unassigned.names,
            );
            check_grouped("orgs", &entries, rest, totals, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The top list as name → count; a name listed twice is an error.
    pub fn top_counts(&self) -> Result<BTreeMap<String, u64>, String> {
        let mut counts = BTreeMap::new();
        for entry in &self.top {
            if counts.insert(entry.name.clone(), entry.count).is_some() {
                return Err(format!("{:?} appears twice in top", entry.name));
            }
        }
        Ok(counts)
    }

    /// The `domains` list as domain → (count, names); no section or a domain listed twice is an
    /// error.
    pub fn domain_tallies(&self) -> Result<BTreeMap<String, (u64, u64)>, String> {
        let domains = self
            .domains
            .as_ref()
            .ok_or("the report has no domains section")?;
        let mut tallies = BTreeMap::new();
        for entry in &domains.top {
            if tallies
                .insert(entry.domain.clone(), (entry.count, entry.names))
                .is_some()
            {
                return Err(format!("domain {:?} appears twice", entry.domain));
            }
        }
        Ok(tallies)
    }

    /// The `orgs` list as organisation → (count, names); no section or an organisation listed
    /// twice is an error.
    pub fn org_tallies(&self) -> Result<BTreeMap<String, (u64, u64)>, String> {
        let orgs = self.orgs.as_ref().ok_or("the report has no orgs section")?;
        let mut tallies = BTreeMap::new();
        for entry in &orgs.top {
            if tallies
                .insert(entry.org.clone(), (entry.count, entry.names))
                .is_some()
            {
                return Err(format!("organisation {:?} appears twice", entry.org));
            }
        }
        Ok(tallies)
    }

    /// The qtype list as mnemonic → count; a qtype listed twice is an error.
    pub fn qtype_counts(&self) -> Result<BTreeMap<String, u64>, String> {
        let mut counts = BTreeMap::new();
        for entry in &self.qtypes {
            if counts.insert(entry.qtype.clone(), entry.count).is_some() {
                return Err(format!("qtype {:?} appears twice", entry.qtype));
            }
        }
        Ok(counts)
    }
}

/// A grouped section (`domains`, `orgs`) against the totals: its entries' `(rank, count, names)`
/// plus what is not listed (`rest`, and for orgs `unassigned`) add up to `counted` and
/// `distinct_names`; ranks run 1, 2, ... with counts falling.
fn check_grouped(
    section: &str,
    entries: &[(u64, u64, u64)],
    (rest_count, rest_names): (u64, u64),
    totals: &Totals,
    problems: &mut Vec<String>,
) {
    let count: u64 = entries.iter().map(|entry| entry.1).sum::<u64>() + rest_count;
    if count != totals.counted {
        problems.push(format!(
            "{section}: counts add up to {count}, not counted {}",
            totals.counted
        ));
    }
    let names: u64 = entries.iter().map(|entry| entry.2).sum::<u64>() + rest_names;
    if names != totals.distinct_names {
        problems.push(format!(
            "{section}: names add up to {names}, not distinct_names {}",
            totals.distinct_names
        ));
    }
    for (index, entry) in entries.iter().enumerate() {
        if entry.0 != index as u64 + 1 {
            problems.push(format!("{section}.top[{index}] has rank {}", entry.0));
        }
    }
    if entries.windows(2).any(|pair| pair[0].1 < pair[1].1) {
        problems.push(format!("{section}.top is not sorted by count"));
    }
}

/// Compares two name → count maps and describes every kind of difference (with a few examples
/// each), so a failing test says what went wrong rather than dumping 20,000 entries.
pub fn diff_counts(
    expected: &BTreeMap<String, u64>,
    got: &BTreeMap<String, u64>,
) -> Result<(), String> {
    const EXAMPLES: usize = 10;
    let missing: Vec<_> = expected
        .iter()
        .filter(|(name, _)| !got.contains_key(*name))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(name, _)| !expected.contains_key(*name))
        .collect();
    let wrong: Vec<_> = expected
        .iter()
        .filter_map(|(name, want)| {
            got.get(name)
                .filter(|have| *have != want)
                .map(|have| (name, want, have))
        })
        .collect();
    if missing.is_empty() && extra.is_empty() && wrong.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "expected {} keys summing to {}, got {} keys summing to {}",
        expected.len(),
        expected.values().sum::<u64>(),
        got.len(),
        got.values().sum::<u64>()
    );
    if !missing.is_empty() {
        let _ = write!(
            message,
            "; {} missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(EXAMPLES)]
        );
    }
    if !extra.is_empty() {
        let _ = write!(
            message,
            "; {} unexpected, e.g. {:?}",
            extra.len(),
            &extra[..extra.len().min(EXAMPLES)]
        );
    }
    if !wrong.is_empty() {
        let _ = write!(
            message,
            "; {} with wrong counts (name, expected, got), e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(EXAMPLES)]
        );
    }
    Err(message)
}

/// Checks reports from a counter run with `--top 0` and no exclusions against the workload sent
/// during the run: every report is consistent and lists every name (nothing under `rest`), and
/// summed over all reports every name, every qtype and the counted total match the workload
/// exactly, so no query was lost or counted twice, whichever report it fell into.
pub fn check_against_workload(reports: &[ReportFile], workload: &Workload) -> Result<(), String> {
    let mut problems = Vec::new();
    for file in reports {
        let name = file.path.display();
        if let Err(problem) = file.report.check_consistent() {
            problems.push(format!("{name} is inconsistent: {problem}"));
        }
        if file.report.rest != (Rest { names: 0, count: 0 }) {
            problems.push(format!(
                "{name} has rest {:?}, but --top 0 lists every name",
                file.report.rest
            ));
        }
    }
    let counted: u64 = reports.iter().map(|file| file.report.totals.counted).sum();
    if counted != workload.total() {
        problems.push(format!(
            "counted {counted} over {} reports, sent {}",
            reports.len(),
            workload.total()
        ));
    }
    let excluded: u64 = reports.iter().map(|file| file.report.totals.excluded).sum();
    if excluded != 0 {
        problems.push(format!("{excluded} queries excluded without --exclude"));
    }
    match summed_top_counts(reports) {
        Ok(names) => {
            if let Err(difference) = diff_counts(workload.expected_names(), &names) {
                problems.push(format!(
                    "per-name counts differ from the workload: {difference}"
                ));
            }
        }
        Err(problem) => problems.push(problem),
    }
    match summed_qtype_counts(reports) {
        Ok(qtypes) => {
            if let Err(difference) = diff_counts(workload.expected_qtypes(), &qtypes) {
                problems.push(format!(
                    "qtype counts differ from the workload: {difference}"
                ));
            }
        }
        Err(problem) => problems.push(problem),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Per-name counts of the top lists summed over `reports` (each must list a name at most once).
pub fn summed_top_counts(reports: &[ReportFile]) -> Result<BTreeMap<String, u64>, String> {
    sum_maps(reports, Report::top_counts)
}

/// Per-qtype counts summed over `reports`.
pub fn summed_qtype_counts(reports: &[ReportFile]) -> Result<BTreeMap<String, u64>, String> {
    sum_maps(reports, Report::qtype_counts)
}

fn sum_maps(
    reports: &[ReportFile],
    counts_of: impl Fn(&Report) -> Result<BTreeMap<String, u64>, String>,
) -> Result<BTreeMap<String, u64>, String> {
    let mut sum = BTreeMap::new();
    for file in reports {
        let counts = counts_of(&file.report)
            .map_err(|problem| format!("{}: {problem}", file.path.display()))?;
        for (key, count) in counts {
            *sum.entry(key).or_insert(0) += count;
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{ "schema": "dns-counter/report/v3", "host": "h", "interfaces": ["vres"],
      "start": "2025-01-01T00:00:00Z", "end": "2025-01-01T00:01:00Z", "seconds": 60.0,
      "totals": { "packets": 12, "queries": 10, "counted": 7, "excluded": 2, "distinct_names": 3,
                  "not_queries": { "not_ip": 2 }, "uncounted": { "truncated_question": 1 } },
      "top": [ { "rank": 1, "name": "a.example", "count": 4, "share": 0.57 },
               { "rank": 2, "name": "b.example", "count": 2, "share": 0.29 } ],
      "rest": { "names": 1, "count": 1 },
      "qtypes": [ { "qtype": "A", "count": 6 }, { "qtype": "AAAA", "count": 1 } ],
      "excluded": [ { "name": "router.example", "count": 2 } ] }"#;

    fn sample() -> Report {
        serde_json::from_str(SAMPLE).expect("the sample parses")
    }

    #[test]
    fn a_consistent_report_passes() {
        assert_eq!(sample().check_consistent(), Ok(()));
    }

    #[test]
    fn every_broken_total_is_named() {
        let mut report = sample();
        report.totals.queries += 1;
        report.rest.names += 1;
        report.top[1].name = "B.example.".to_owned();
        let problems = report
            .check_consistent()
            .expect_err("broken totals are caught");
        assert!(problems.contains("queries 11"), "{problems}");
        assert!(problems.contains("distinct_names"), "{problems}");
        assert!(problems.contains("B.example."), "{problems}");
    }

    #[test]
    fn domains_and_orgs_must_add_up_when_present() {
        let mut report = sample();
        report.domains = Some(Domains {
            grouping: "psl".into(),
            top: vec![DomainEntry {
                rank: 1,
                domain: "example".into(),
                count: 6,
                names: 2,
                share: 0.6,
            }],
            rest: DomainRest {
                domains: 1,
                count: 1,
                names: 1,
            },
        });
        report.orgs = Some(Orgs {
            top: vec![],
            rest: OrgRest {
                orgs: 0,
                count: 0,
                names: 0,
            },
            unassigned: Unassigned { count: 7, names: 3 },
        });
        assert_eq!(report.check_consistent(), Ok(()));
        if let Some(orgs) = report.orgs.as_mut() {
            orgs.unassigned.count = 6;
        }
        if let Some(domains) = report.domains.as_mut() {
            domains.top[0].names = 1;
        }
        let problems = report
            .check_consistent()
            .expect_err("broken sections are caught");
        assert!(problems.contains("orgs: counts add up to 6"), "{problems}");
        assert!(
            problems.contains("domains: names add up to 2"),
            "{problems}"
        );
    }

    #[test]
    fn report_files_sort_by_stamp_then_sequence() {
        let mut names = [
            "20250101T000001Z.json",
            "20250101T000000Z-1.json",
            "20250101T000000Z.json",
        ]
        .map(|name| order_key(Path::new(name)).expect("valid name"));
        names.sort();
        assert_eq!(names[0], ("20250101T000000Z".to_owned(), 0));
        assert_eq!(names[1], ("20250101T000000Z".to_owned(), 1));
        assert_eq!(names[2], ("20250101T000001Z".to_owned(), 0));
        assert!(order_key(Path::new("notes.json")).is_err());
    }

    #[test]
    fn diff_names_each_kind_of_difference() {
        let expected = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
        let got = BTreeMap::from([("b".to_owned(), 3), ("c".to_owned(), 1)]);
        let message = diff_counts(&expected, &got).expect_err("they differ");
        assert!(
            message.contains("1 missing")
                && message.contains("1 unexpected")
                && message.contains("1 with wrong")
        );
        assert_eq!(diff_counts(&expected, &expected), Ok(()));
    }
}
