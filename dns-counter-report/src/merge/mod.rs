//! `dns-counter merge`: reports of several hosts or intervals summed into one.
//!
//! Totals, reasons, query types, excluded names and the untracked clients add up exactly. A list
//! (names, domains, organisations, client prefixes) adds up exactly only where every input listed
//! every entry: an entry missing from a cut input's list (one whose `rest` is not empty) may have
//! had up to that input's smallest listed count there, hidden in its `rest`. So the merged count of
//! a listed entry is a lower bound, low by at most the sum of those smallest counts over the cut
//! inputs that did not list it (and never by more than the merged `rest.count`, where the missing
//! queries are). The merged report's `merge` section says, per list, which entries are lower
//! bounds and by how much at most; the report itself still adds up (`rest` absorbs what the lists
//! could not place).
//!
//! A merged report can be merged again: its bounds carry over.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::SystemTime;

use crate::model::{
    self, Attached, Clients, Domains, Entry, EntryBound, ExcludedName, Input, ListBounds, ListKind,
    MergeInfo, Orgs, QtypeCount, Ranked, Report, Rest, SavedReport, Settings, Totals, Unassigned,
    Uncounted,
};
use crate::names;

/// Why reports cannot be merged. Inputs count from 1, in the order given; [`MergeError::describe`]
/// names them otherwise (by file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    NoInputs,
    #[error("{}", self.describe(input_number))]
    BadTime {
        input: usize,
        field: &'static str,
        value: String,
    },
    #[error("{}", self.describe(input_number))]
    Overlap {
        first: usize,
        second: usize,
        host: String,
        interface: String,
        /// Where the two overlap.
        start: String,
        end: String,
    },
}

/// An input as messages name it by default: `input 2`.
fn input_number(input: usize) -> String {
    format!("input {input}")
}

impl MergeError {
    /// The message, each input named by `name` (given its number from 1).
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        match self {
            Self::NoInputs => "nothing to merge".to_owned(),
            Self::BadTime {
                input,
                field,
                value,
            } => format!(
                "{}: {field} {value:?} is not an RFC 3339 UTC time such as 2026-11-22T01:01:00Z",
                name(*input)
            ),
            Self::Overlap {
                first,
                second,
                host,
                interface,
                start,
                end,
            } => format!(
                "{} and {} both count {host} on {interface} from {start} to {end}: merged, those \
                 queries would count twice; leave one out (a snapshot overlaps its interval's \
                 report, a merged report the reports in it)",
                name(*first),
                name(*second)
            ),
        }
    }

    /// The error with its input numbers mapped by `number`.
    fn renumbered(self, number: impl Fn(usize) -> usize) -> Self {
        match self {
            Self::BadTime {
                input,
                field,
                value,
            } => Self::BadTime {
                input: number(input),
                field,
                value,
            },
            Self::Overlap {
                first,
                second,
                host,
                interface,
                start,
                end,
            } => Self::Overlap {
                first: number(first),
                second: number(second),
                host,
                interface,
                start,
                end,
            },
            Self::NoInputs => Self::NoInputs,
        }
    }
}

/// What a merge says about its inputs besides the merged report: a section left out because it
/// could not be merged honestly, an input skipped, settings that differ. Inputs count from 1, in
/// the order given; [`Warning::describe`] names them otherwise (by file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe(input_number))]
pub enum Warning {
    Missing {
        section: &'static str,
        input: usize,
    },
    Grouping {
        first: String,
        other: String,
    },
    ClientSettings {
        first: usize,
        other: usize,
    },
    Duplicate {
        input: usize,
        same_as: usize,
    },
    Settings {
        setting: &'static str,
        first: usize,
        other: usize,
        first_value: String,
        other_value: String,
    },
}

impl Warning {
    /// The message, each input named by `name` (given its number from 1).
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        match self {
            Self::Missing { section, input } => format!(
                "the {section} section is left out: {} has none",
                name(*input)
            ),
            Self::Grouping { first, other } => format!(
                "the domains section is left out: inputs group names differently ({first} and \
                 {other})"
            ),
            Self::ClientSettings { first, other } => format!(
                "the clients section is left out: {} and {} use different prefix lengths or \
                 anonymisation",
                name(*first),
                name(*other)
            ),
            Self::Duplicate { input, same_as } => format!(
                "{} is the same report as {}: skipped, so it counts once",
                name(*input),
                name(*same_as)
            ),
            Self::Settings {
                setting,
                first,
                other,
                first_value,
                other_value,
            } => format!(
                "{} and {} were counted with different {setting} ({first_value} and \
                 {other_value}): their counts were not taken alike; merge.differing_settings \
                 says so",
                name(*first),
                name(*other)
            ),
        }
    }

    /// The warning with its input numbers mapped by `number`.
    fn renumbered(self, number: impl Fn(usize) -> usize) -> Self {
        match self {
            Self::Missing { section, input } => Self::Missing {
                section,
                input: number(input),
            },
            Self::ClientSettings { first, other } => Self::ClientSettings {
                first: number(first),
                other: number(other),
            },
            Self::Duplicate { input, same_as } => Self::Duplicate {
                input: number(input),
                same_as: number(same_as),
            },
            Self::Settings {
                setting,
                first,
                other,
                first_value,
                other_value,
            } => Self::Settings {
                setting,
                first: number(first),
                other: number(other),
                first_value,
                other_value,
            },
            grouping @ Self::Grouping { .. } => grouping,
        }
    }
}

/// Merges `inputs` (as read by [`crate::render::read`]: each checked to add up) into one report.
/// An input identical to an earlier one is skipped (with a [`Warning::Duplicate`]); inputs whose
/// intervals overlap on the same host and interface are refused, as their sum would count some
/// queries twice. Returns what was left out or differs with it.
pub fn merge(inputs: &[SavedReport]) -> Result<(SavedReport, Vec<Warning>), MergeError> {
    let mut warnings = Vec::new();
    // 0-based indexes of the inputs kept.
    let mut kept: Vec<usize> = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        match kept.iter().find(|&&earlier| inputs[earlier] == *input) {
            Some(&same_as) => warnings.push(Warning::Duplicate {
                input: index + 1,
                same_as: same_as + 1,
            }),
            None => kept.push(index),
        }
    }
    let unique: Cow<'_, [SavedReport]> = if kept.len() == inputs.len() {
        Cow::Borrowed(inputs)
    } else {
        Cow::Owned(kept.iter().map(|&index| inputs[index].clone()).collect())
    };
    let number = |in_unique: usize| kept[in_unique - 1] + 1;
    check_overlaps(&unique).map_err(|err| err.renumbered(number))?;
    let (merged, more) = merge_distinct(&unique).map_err(|err| err.renumbered(number))?;
    warnings.extend(more.into_iter().map(|warning| warning.renumbered(number)));
    Ok((merged, warnings))
}

/// The reports an input stands for: a merged input's own inputs, else itself.
fn covered(input: &SavedReport) -> Cow<'_, [Input]> {
    match &input.merge {
        Some(merge) => Cow::Borrowed(&merge.inputs),
        None => Cow::Owned(vec![Input {
            host: input.report.host.clone(),
            interfaces: input.report.interfaces.clone(),
            start: input.report.start.clone(),
            end: input.report.end.clone(),
        }]),
    }
}

/// Refuses two inputs that cover the same host and interface at the same time. Reports that
/// only touch (one ends as the next starts) do not overlap.
fn check_overlaps(inputs: &[SavedReport]) -> Result<(), MergeError> {
    struct Span<'a> {
        input: usize,
        host: &'a str,
        interfaces: &'a [String],
        start: SystemTime,
        end: SystemTime,
    }
    let covered: Vec<Cow<'_, [Input]>> = inputs.iter().map(covered).collect();
    let mut spans = Vec::new();
    for (index, reports) in covered.iter().enumerate() {
        for report in reports.iter() {
            let (start, end) = times_of(index + 1, &report.start, &report.end)?;
            spans.push(Span {
                input: index + 1,
                host: &report.host,
                interfaces: &report.interfaces,
                // A report labelled backwards (a clock step) still covers the time between.
                start: start.min(end),
                end: start.max(end),
            });
        }
    }
    // By start, so each span is checked only against those that start before it ends (or
    // with it: a report of no length at that time counts the same instant).
    spans.sort_by_key(|span| span.start);
    for (at, span) in spans.iter().enumerate() {
        for later in spans[at + 1..]
            .iter()
            .take_while(|later| later.start < span.end || later.start == span.start)
        {
            if later.input == span.input || later.host != span.host {
                continue;
            }
            // A report without interfaces (none recorded) may have counted any of them.
            let shared = if span.interfaces.is_empty() || later.interfaces.is_empty() {
                Some("its interfaces")
            } else {
                span.interfaces
                    .iter()
                    .find(|interface| later.interfaces.contains(interface))
                    .map(String::as_str)
            };
            if let Some(interface) = shared {
                let (first, second) = (span.input.min(later.input), span.input.max(later.input));
                return Err(MergeError::Overlap {
                    first,
                    second,
                    host: span.host.to_owned(),
                    interface: interface.to_owned(),
                    start: model::rfc3339_utc(later.start),
                    end: model::rfc3339_utc(span.end.min(later.end)),
                });
            }
        }
    }
    Ok(())
}

/// The settings every input recorded alike, and the names of those that differ (or that only
/// some inputs recorded), each told once.
fn common_settings(
    inputs: &[SavedReport],
    warnings: &mut Vec<Warning>,
) -> (Option<Settings>, Vec<String>) {
    let mut differing: Vec<String> = Vec::new();
    for merge in inputs.iter().filter_map(|input| input.merge.as_ref()) {
        for setting in &merge.differing_settings {
            if !differing.contains(setting) {
                differing.push(setting.clone());
            }
        }
    }
    let recorded: Vec<(usize, &Settings)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(index, input)| Some((index + 1, input.report.settings.as_ref()?)))
        .collect();
    let Some(&(first, base)) = recorded.first() else {
        return (None, differing);
    };
    let base_named = base.named();
    for &(other, settings) in &recorded[1..] {
        for ((setting, first_value), (_, other_value)) in base_named.iter().zip(settings.named()) {
            if *first_value != other_value && !differing.iter().any(|seen| seen == setting) {
                differing.push((*setting).to_owned());
                warnings.push(Warning::Settings {
                    setting,
                    first,
                    other,
                    first_value: first_value.clone(),
                    other_value,
                });
            }
        }
    }
    let all_alike = recorded.len() == inputs.len() && differing.is_empty();
    (all_alike.then(|| base.clone()), differing)
}

/// [`merge`] of inputs none of which is another's copy, and none overlapping another.
fn merge_distinct(inputs: &[SavedReport]) -> Result<(SavedReport, Vec<Warning>), MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    let mut omitted = Vec::new();
    let reports: Vec<&Report> = inputs.iter().map(|input| &input.report).collect();

    let (start, end) = span(&reports)?;
    let flat_inputs: Vec<Input> = inputs
        .iter()
        .flat_map(|input| covered(input).into_owned())
        .collect();
    let mut hosts: Vec<&str> = Vec::new();
    for input in &flat_inputs {
        if !hosts.contains(&input.host.as_str()) {
            hosts.push(&input.host);
        }
    }
    let mut interfaces: Vec<String> = Vec::new();
    for interface in reports.iter().flat_map(|report| &report.interfaces) {
        if !interfaces.contains(interface) {
            interfaces.push(interface.clone());
        }
    }

    // Interface-seconds: a merge over time adds up each interface's attached time.
    let mut attached: Vec<Attached> = Vec::new();
    for each in reports.iter().flat_map(|report| &report.attached) {
        match attached.iter_mut().find(|a| a.interface == each.interface) {
            Some(sum) => sum.seconds += each.seconds,
            None => attached.push(each.clone()),
        }
    }

    let sum = |field: fn(&Report) -> u64| {
        reports
            .iter()
            .fold(0u64, |sum, report| sum.saturating_add(field(report)))
    };
    let packets = sum(|report| report.totals.packets);
    let queries = sum(|report| report.totals.queries);
    let counted = sum(|report| report.totals.counted);
    let excluded_total = sum(|report| report.totals.excluded);

    // Names.
    let name_lists: Vec<InList<'_>> = inputs
        .iter()
        .map(|input| {
            let merge = input.merge.as_ref();
            let rest_keys_error = merge.map_or(0, |merge| merge.distinct_names_max_error);
            InList::new(&input.report.names, merge.map(|merge| &merge.names))
                .with_rest_keys_error(rest_keys_error)
        })
        .collect();
    let names = merge_list(&name_lists, counted, by_text);
    // Every input listed every name, exactly: the merged list is every name with its count.
    let names_complete = name_lists.iter().all(InList::complete);
    // How many more times a name is listed than once: what adding `names` counts may overcount.
    let duplicates: u64 = names
        .entries
        .iter()
        .map(|entry| entry.listed_by.saturating_sub(1) as u64)
        .sum();
    let duplicates = names_complete.then_some(duplicates);

    // Domains: only when every input has them, grouped alike.
    let domains = match sections(
        inputs,
        |report| report.domains.as_ref(),
        "domains",
        &mut omitted,
    ) {
        Some(all)
            if all
                .iter()
                .all(|domains| domains.grouping == all[0].grouping) =>
        {
            let lists = in_lists(inputs, &all, |d| &d.list, |merge| merge.domains.as_ref());
            let mut merged = merge_list(&lists, counted, by_text);
            merged.bound_names(duplicates);
            if names_complete {
                merged.assign_names(&names);
            }
            Some((all[0].grouping.clone(), merged))
        }
        Some(all) => {
            let other = all
                .iter()
                .find(|domains| domains.grouping != all[0].grouping)
                .expect("a grouping differs");
            omitted.push(Warning::Grouping {
                first: all[0].grouping.clone(),
                other: other.grouping.clone(),
            });
            None
        }
        None => None,
    };

    // Organisations; `unassigned` is kept apart from the list.
    let orgs = sections(inputs, |report| report.orgs.as_ref(), "orgs", &mut omitted).map(|all| {
        let unassigned_count = all
            .iter()
            .fold(0u64, |sum, orgs| sum.saturating_add(orgs.unassigned.count));
        let lists = in_lists(inputs, &all, |o| &o.list, |merge| merge.orgs.as_ref());
        let mut merged = merge_list(&lists, counted.saturating_sub(unassigned_count), by_text);
        merged.bound_names(duplicates);
        // Unassigned names: as an organisation's, with no list to be missing from.
        let mut unassigned = Tally::default();
        for (orgs, input) in all.iter().zip(inputs) {
            let error = input
                .merge
                .as_ref()
                .and_then(|merge| merge.orgs.as_ref()?.names_max_error)
                .unwrap_or(0);
            unassigned.add(orgs.unassigned.names, error);
        }
        unassigned.tighten(duplicates);
        (unassigned_count, unassigned, merged)
    });

    // Clients: only when every input counted them alike.
    let alike = |a: &Clients, b: &Clients| {
        (a.prefix_v4, a.prefix_v6, a.anonymized) == (b.prefix_v4, b.prefix_v6, b.anonymized)
    };
    let clients = match sections(
        inputs,
        |report| report.clients.as_ref(),
        "clients",
        &mut omitted,
    ) {
        Some(all) => match all.iter().position(|clients| !alike(clients, all[0])) {
            Some(other) => {
                omitted.push(Warning::ClientSettings {
                    first: 1,
                    other: other + 1,
                });
                None
            }
            None => {
                let untracked = all
                    .iter()
                    .fold(0u64, |sum, clients| sum.saturating_add(clients.untracked));
                let lists = in_lists(inputs, &all, |c| &c.list, |merge| merge.clients.as_ref());
                let total = counted
                    .saturating_add(excluded_total)
                    .saturating_sub(untracked);
                Some((all[0], untracked, merge_list(&lists, total, by_address)))
            }
        },
        None => None,
    };

    // Distinct names: the most any list proves, each a lower bound of the names of all inputs.
    let mut distinct = names.keys_lower;
    if let Some((_, domains)) = &domains {
        distinct = distinct.max(domains.names_lower());
    }
    if let Some((_, unassigned, orgs)) = &orgs {
        distinct = distinct.max(orgs.names_lower().saturating_add(unassigned.lower));
    }
    let distinct_upper = name_lists
        .iter()
        .fold(names.entries.len() as u64, |sum, list| {
            sum.saturating_add(list.rest_keys)
                .saturating_add(list.rest_keys_error)
        });
    let distinct_error = distinct_upper.saturating_sub(distinct);

    let excluded = excluded(&reports);
    let (settings, differing_settings) = common_settings(inputs, &mut omitted);
    let report = Report {
        schema: model::SCHEMA.to_owned(),
        host: hosts.join(","),
        interfaces,
        attached,
        snapshot: false,
        start: model::rfc3339_utc(start),
        end: model::rfc3339_utc(end),
        seconds: signed_seconds(start, end),
        totals: Totals {
            packets,
            queries,
            counted,
            excluded: excluded_total,
            distinct_names: distinct,
            not_queries: reasons(&reports, |totals| &totals.not_queries),
            uncounted: reasons(&reports, |totals| &totals.uncounted),
        },
        names: names.ranked(
            queries,
            distinct.saturating_sub(names.entries.len() as u64),
            0,
        ),
        qtypes: qtypes(&reports),
        unmatched_exclusions: unmatched_exclusions(&reports, &excluded),
        excluded,
        domains: domains.as_ref().map(|(grouping, domains)| Domains {
            grouping: grouping.clone(),
            list: domains.ranked(
                queries,
                domains.rest_keys(),
                distinct.saturating_sub(domains.names_lower()),
            ),
        }),
        orgs: orgs
            .as_ref()
            .map(|(unassigned_count, unassigned, orgs)| Orgs {
                list: orgs.ranked(
                    queries,
                    orgs.rest_keys(),
                    distinct
                        .saturating_sub(orgs.names_lower())
                        .saturating_sub(unassigned.lower),
                ),
                unassigned: Unassigned {
                    count: *unassigned_count,
                    names: unassigned.lower,
                },
            }),
        clients: clients
            .as_ref()
            .map(|(settings, untracked, clients)| Clients {
                prefix_v4: settings.prefix_v4,
                prefix_v6: settings.prefix_v6,
                anonymized: settings.anonymized,
                list: clients.ranked(queries, clients.rest_keys(), 0),
                untracked: *untracked,
            }),
        settings,
    };

    let names_bounds = names.bounds(None);
    let domains_bounds = domains.as_ref().map(|(_, domains)| domains.bounds(Some(0)));
    let orgs_bounds = orgs
        .as_ref()
        .map(|(_, unassigned, orgs)| orgs.bounds(Some(unassigned.error())));
    let clients_bounds = clients.as_ref().map(|(_, _, clients)| clients.bounds(None));
    let exact = distinct_error == 0
        && names_bounds.exact
        && [
            domains_bounds.as_ref(),
            orgs_bounds.as_ref(),
            clients_bounds.as_ref(),
        ]
        .into_iter()
        .flatten()
        .all(|bounds| bounds.exact);
    let merge = MergeInfo {
        inputs: flat_inputs,
        exact,
        distinct_names_max_error: distinct_error,
        names: names_bounds,
        domains: domains_bounds,
        orgs: orgs_bounds,
        clients: clients_bounds,
        differing_settings,
    };
    Ok((
        SavedReport {
            report,
            merge: Some(merge),
        },
        omitted,
    ))
}

/// Every input's section, or `None` (saying which input lacks it, if some have it).
fn sections<'a, T>(
    inputs: &'a [SavedReport],
    section: impl Fn(&'a Report) -> Option<&'a T>,
    name: &'static str,
    omitted: &mut Vec<Warning>,
) -> Option<Vec<&'a T>> {
    let all: Vec<Option<&T>> = inputs.iter().map(|input| section(&input.report)).collect();
    match all.iter().position(Option::is_none) {
        None => Some(all.into_iter().flatten().collect()),
        Some(_) if all.iter().all(Option::is_none) => None,
        Some(missing) => {
            omitted.push(Warning::Missing {
                section: name,
                input: missing + 1,
            });
            None
        }
    }
}

/// Each input's list of a section every input has (`all`, in the order of `inputs`), with what a
/// merged input says of the list's bounds.
fn in_lists<'a, T, K: ListKind>(
    inputs: &'a [SavedReport],
    all: &[&'a T],
    list: fn(&'a T) -> &'a Ranked<K>,
    bounds: fn(&'a MergeInfo) -> Option<&'a ListBounds>,
) -> Vec<InList<'a>> {
    all.iter()
        .zip(inputs)
        .map(|(section, input)| InList::new(list(section), input.merge.as_ref().and_then(bounds)))
        .collect()
}

/// An input's `start` and `end` as times; `input` names it in the error.
fn times_of(input: usize, start: &str, end: &str) -> Result<(SystemTime, SystemTime), MergeError> {
    let parse = |field, value: &str| {
        humantime::parse_rfc3339(value).map_err(|_| MergeError::BadTime {
            input,
            field,
            value: value.to_owned(),
        })
    };
    Ok((parse("start", start)?, parse("end", end)?))
}

/// The earliest start and the latest end.
fn span(reports: &[&Report]) -> Result<(SystemTime, SystemTime), MergeError> {
    let mut start: Option<SystemTime> = None;
    let mut end: Option<SystemTime> = None;
    for (index, report) in reports.iter().enumerate() {
        let (from, to) = times_of(index + 1, &report.start, &report.end)?;
        start = Some(start.map_or(from, |start| start.min(from)));
        end = Some(end.map_or(to, |end| end.max(to)));
    }
    let (Some(start), Some(end)) = (start, end) else {
        return Err(MergeError::NoInputs);
    };
    Ok((start, end))
}

/// `end - start` in seconds, negative if `end` is earlier.
fn signed_seconds(start: SystemTime, end: SystemTime) -> f64 {
    match end.duration_since(start) {
        Ok(forward) => forward.as_secs_f64(),
        Err(back) => -back.duration().as_secs_f64(),
    }
}

/// Reasons added up, in the order they first appear.
fn reasons(reports: &[&Report], of: impl Fn(&Totals) -> &Uncounted) -> Uncounted {
    let mut merged: Vec<(String, u64)> = Vec::new();
    for (reason, count) in reports.iter().flat_map(|report| &of(&report.totals).0) {
        match merged.iter_mut().find(|(seen, _)| seen == reason) {
            Some((_, total)) => *total = total.saturating_add(*count),
            None => merged.push((reason.clone(), *count)),
        }
    }
    Uncounted(merged)
}

/// Query types added up, most first, ties by type value (as a report orders them).
fn qtypes(reports: &[&Report]) -> Vec<QtypeCount> {
    let mut by_type: HashMap<&str, u64> = HashMap::new();
    for qtype in reports.iter().flat_map(|report| &report.qtypes) {
        let total = by_type.entry(&qtype.qtype).or_default();
        *total = total.saturating_add(qtype.count);
    }
    let mut sorted: Vec<(&str, u64)> = by_type.into_iter().collect();
    sorted.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| qtype_value(a.0).cmp(&qtype_value(b.0)))
            .then_with(|| a.0.cmp(b.0))
    });
    sorted
        .into_iter()
        .map(|(qtype, count)| QtypeCount {
            qtype: qtype.to_owned(),
            count,
        })
        .collect()
}

/// The type value of a mnemonic as [`crate::analysis::qtype_mnemonic`] writes it; unknown ones
/// sort last.
fn qtype_value(mnemonic: &str) -> u32 {
    use std::str::FromStr as _;
    if let Some(value) = mnemonic
        .strip_prefix("TYPE")
        .and_then(|digits| digits.parse::<u16>().ok())
    {
        return value.into();
    }
    hickory_proto::rr::RecordType::from_str(mnemonic)
        .map_or(u32::MAX, |known| u16::from(known).into())
}

/// Excluded names added up, most first, ties by name. Inputs list every excluded name they saw.
fn excluded(reports: &[&Report]) -> Vec<ExcludedName> {
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in reports.iter().flat_map(|report| &report.excluded) {
        let total = by_name.entry(&entry.name).or_default();
        *total = total.saturating_add(entry.count);
    }
    let mut sorted: Vec<(&str, u64)> = by_name.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    sorted
        .into_iter()
        .map(|(name, count)| ExcludedName {
            name: name.to_owned(),
            count,
        })
        .collect()
}

/// The exclusions that excluded nothing in any input: those listed as unmatched by every input
/// that says (an input without the field says nothing), less those that match a merged excluded
/// name (an input that does not say may have excluded it). `None` when no input says.
fn unmatched_exclusions(reports: &[&Report], excluded: &[ExcludedName]) -> Option<Vec<String>> {
    let mut lists = reports
        .iter()
        .filter_map(|report| report.unmatched_exclusions.as_ref());
    let mut common: Vec<String> = lists.next()?.clone();
    for list in lists {
        let list: HashSet<&str> = list.iter().map(String::as_str).collect();
        common.retain(|entry| list.contains(entry.as_str()));
    }
    let matching = model::entries_matching(excluded);
    common.retain(|entry| !matching.contains(entry));
    common.sort_unstable();
    common.dedup();
    Some(common)
}

/// One input's list as the merge reads it.
struct InList<'a> {
    entries: Vec<InEntry<'a>>,
    /// The most queries an entry missing from the list can have had in this input.
    unlisted_max: u64,
    /// How many entries the input did not list (`rest.names`, `rest.domains`, ...); for a merged
    /// input, a lower bound, low by at most `rest_keys_error`.
    rest_keys: u64,
    rest_keys_error: u64,
}

struct InEntry<'a> {
    key: &'a str,
    count: u64,
    count_error: u64,
    /// Distinct names, for domains and organisations.
    names: u64,
    names_error: u64,
}

impl<'a> InList<'a> {
    /// `bounds` is what a merged input says of the list; `None` for a report of one interval,
    /// whose counts are exact.
    fn new<K: ListKind>(list: &'a Ranked<K>, bounds: Option<&ListBounds>) -> Self {
        let errors: HashMap<u64, &EntryBound> = bounds
            .map(|bounds| {
                bounds
                    .lower_bounds
                    .iter()
                    .map(|bound| (bound.rank, bound))
                    .collect()
            })
            .unwrap_or_default();
        let entries: Vec<InEntry<'a>> = list
            .top
            .iter()
            .zip(1..)
            .map(|(entry, rank)| {
                let bound = errors.get(&rank);
                InEntry {
                    key: &entry.key,
                    count: entry.count,
                    count_error: bound.map_or(0, |bound| bound.max_error),
                    names: entry.names,
                    names_error: bound.map_or(0, |bound| bound.names_max_error),
                }
            })
            .collect();
        let Rest {
            keys: rest_keys,
            count: rest_count,
            ..
        } = list.rest;
        let unlisted_max = match bounds {
            Some(bounds) => bounds.unlisted_max,
            // Listed most first: an entry not listed had at most the last one's count.
            None if rest_keys > 0 || rest_count > 0 => entries
                .iter()
                .map(|entry| entry.count)
                .min()
                .unwrap_or(u64::MAX)
                .min(rest_count),
            None => 0,
        };
        Self {
            entries,
            unlisted_max,
            rest_keys,
            rest_keys_error: 0,
        }
    }

    /// A merged input's `rest.names` is a lower bound, low by at most its
    /// `distinct_names_max_error`.
    fn with_rest_keys_error(mut self, error: u64) -> Self {
        self.rest_keys_error = error;
        self
    }

    /// Lists every entry with its exact count.
    fn complete(&self) -> bool {
        self.unlisted_max == 0
            && self.rest_keys == 0
            && self.rest_keys_error == 0
            && self.entries.iter().all(|entry| entry.count_error == 0)
    }
}

/// A lower and an upper bound of a count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    lower: u64,
    upper: u64,
    /// The plain sum of the inputs' lower bounds, for [`Tally::tighten`].
    sum: u64,
}

impl Tally {
    /// Adds one input's count of distinct things (a lower bound, low by at most `error`): the
    /// union has at least the most of any input and at most the sum.
    fn add(&mut self, count: u64, error: u64) {
        self.lower = self.lower.max(count);
        self.sum = self.sum.saturating_add(count);
        self.upper = self.upper.saturating_add(count).saturating_add(error);
    }

    /// With every input's name list complete, `duplicates` is how many more times names were
    /// listed than once: adding the inputs' counts overcounts by at most that.
    fn tighten(&mut self, duplicates: Option<u64>) {
        if let Some(duplicates) = duplicates {
            self.lower = self.lower.max(self.sum.saturating_sub(duplicates));
        }
        self.upper = self.upper.max(self.lower);
    }

    fn error(&self) -> u64 {
        self.upper - self.lower
    }
}

/// A merged entry.
struct OutEntry<'a> {
    key: &'a str,
    count: u64,
    count_error: u64,
    /// Distinct names, for domains and organisations.
    names: Tally,
    /// How many inputs listed it.
    listed_by: usize,
}

/// A merged list, most queries first, ties by key.
struct OutList<'a> {
    entries: Vec<OutEntry<'a>>,
    /// The total the list and its rest add up to, less what is listed.
    rest_count: u64,
    unlisted_max: u64,
    /// The fewest distinct entries, listed or not, the inputs can have had together.
    keys_lower: u64,
}

impl OutList<'_> {
    /// The merged list as a report writes it, `share`s over `queries`, with the rest's keys and
    /// names as the merge bounds them.
    fn ranked<K: ListKind>(&self, queries: u64, rest_keys: u64, rest_names: u64) -> Ranked<K> {
        let top = self
            .entries
            .iter()
            .zip(1..)
            .map(|(entry, rank)| Entry {
                rank,
                key: entry.key.to_owned(),
                count: entry.count,
                names: if K::NAMES { entry.names.lower } else { 0 },
                share: model::share(entry.count, queries),
            })
            .collect();
        let rest = Rest {
            keys: rest_keys,
            count: self.rest_count,
            names: rest_names,
        };
        Ranked::new(top, rest)
    }

    fn rest_keys(&self) -> u64 {
        self.keys_lower - self.entries.len() as u64
    }

    fn names_lower(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |sum, entry| sum.saturating_add(entry.names.lower))
    }

    fn bound_names(&mut self, duplicates: Option<u64>) {
        for entry in &mut self.entries {
            entry.names.tighten(duplicates);
        }
    }

    /// With the merged name list complete and exact, counts each entry's names exactly by giving
    /// every name to its longest listed suffix. Kept only if it accounts for every listed count
    /// exactly (as it does when the entries are domains, suffixes of their names).
    fn assign_names(&mut self, names: &OutList<'_>) {
        let index: HashMap<&str, usize> = self
            .entries
            .iter()
            .enumerate()
            .map(|(at, entry)| (entry.key, at))
            .collect();
        let mut tallies = vec![(0u64, 0u64); self.entries.len()];
        for name in &names.entries {
            // The name itself first (the root has no suffixes), then each name it is under.
            let mut candidates = std::iter::once(name.key).chain(names::suffixes(name.key).skip(1));
            let Some(at) = candidates.find_map(|suffix| index.get(suffix).copied()) else {
                return;
            };
            tallies[at].0 = tallies[at].0.saturating_add(name.count);
            tallies[at].1 += 1;
        }
        if self
            .entries
            .iter()
            .zip(&tallies)
            .any(|(entry, (count, _))| entry.count != *count)
        {
            return;
        }
        for (entry, (_, names)) in self.entries.iter_mut().zip(tallies) {
            entry.names = Tally {
                lower: names,
                upper: names,
                sum: names,
            };
        }
    }

    /// What the `merge` section says of the list; `extra_names_error` is the error of names
    /// counted beside the list (`unassigned`), `None` for a list without `names` counts.
    fn bounds(&self, extra_names_error: Option<u64>) -> ListBounds {
        let has_names = extra_names_error.is_some();
        let names_error = |entry: &OutEntry<'_>| if has_names { entry.names.error() } else { 0 };
        let lower_bounds: Vec<EntryBound> = self
            .entries
            .iter()
            .zip(1..)
            .filter(|(entry, _)| entry.count_error > 0 || names_error(entry) > 0)
            .map(|(entry, rank)| EntryBound {
                rank,
                max_error: entry.count_error,
                names_max_error: names_error(entry),
            })
            .collect();
        let max_error = lower_bounds
            .iter()
            .map(|bound| bound.max_error)
            .max()
            .unwrap_or(0);
        let names_max_error = extra_names_error.map(|extra| {
            lower_bounds
                .iter()
                .map(|bound| bound.names_max_error)
                .max()
                .unwrap_or(0)
                .max(extra)
        });
        ListBounds {
            exact: max_error == 0 && names_max_error.unwrap_or(0) == 0,
            max_error,
            unlisted_max: self.unlisted_max,
            names_max_error,
            lower_bounds,
        }
    }
}

/// Ties between names, domains and organisations go by their text.
fn by_text(a: &str, b: &str) -> Ordering {
    a.cmp(b)
}

/// Ties between client prefixes go by address, as [`crate::analysis::clients::section`] orders them (IPv4
/// first); anonymized prefixes by their text.
fn by_address(a: &str, b: &str) -> Ordering {
    let address = |client: &str| {
        client
            .split_once('/')
            .and_then(|(address, _)| address.parse::<IpAddr>().ok())
    };
    match (address(a), address(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

/// Merges one list of every input; `total` is what the merged list and its rest add up to; `ties`
/// orders entries of equal counts.
fn merge_list<'a>(
    inputs: &[InList<'a>],
    total: u64,
    ties: fn(&str, &str) -> Ordering,
) -> OutList<'a> {
    struct Acc {
        count: u64,
        count_error: u64,
        names: Tally,
        /// The sum of `unlisted_max` over the inputs that listed it.
        listed_unlisted_max: u64,
        listed_by: usize,
    }
    let mut by_key: HashMap<&'a str, Acc> = HashMap::new();
    for input in inputs {
        for entry in &input.entries {
            let acc = by_key.entry(entry.key).or_insert(Acc {
                count: 0,
                count_error: 0,
                names: Tally::default(),
                listed_unlisted_max: 0,
                listed_by: 0,
            });
            acc.count = acc.count.saturating_add(entry.count);
            acc.count_error = acc.count_error.saturating_add(entry.count_error);
            acc.names.add(entry.names, entry.names_error);
            acc.listed_unlisted_max = acc.listed_unlisted_max.saturating_add(input.unlisted_max);
            acc.listed_by += 1;
        }
    }
    let unlisted_sum = inputs
        .iter()
        .fold(0u64, |sum, input| sum.saturating_add(input.unlisted_max));
    let mut entries: Vec<OutEntry<'a>> = by_key
        .into_iter()
        .map(|(key, acc)| {
            // Where an input did not list the key, it may have had up to that input's
            // `unlisted_max` queries, and as many names.
            let hidden = unlisted_sum - acc.listed_unlisted_max;
            let mut names = acc.names;
            names.upper = names.upper.saturating_add(hidden);
            OutEntry {
                key,
                count: acc.count,
                count_error: acc.count_error.saturating_add(hidden),
                names,
                listed_by: acc.listed_by,
            }
        })
        .collect();
    entries.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| ties(a.key, b.key)));
    let listed = entries
        .iter()
        .fold(0u64, |sum, entry| sum.saturating_add(entry.count));
    let rest_count = total.saturating_sub(listed);
    // What a listed count lacks is in the merged rest: no error is larger.
    for entry in &mut entries {
        entry.count_error = entry.count_error.min(rest_count);
    }
    let union = entries.len() as u64;
    // Input i's unlisted entries are not among the ones it listed; at most the merged entries it
    // did not list are among them, the others are in no list.
    let keys_lower = inputs
        .iter()
        .map(|input| {
            let not_listed_by_input = union.saturating_sub(input.entries.len() as u64);
            input.rest_keys.saturating_sub(not_listed_by_input)
        })
        .max()
        .unwrap_or(0)
        .saturating_add(union);
    OutList {
        entries,
        rest_count,
        unlisted_max: unlisted_sum.min(rest_count),
        keys_lower,
    }
}

#[cfg(test)]
mod tests;
