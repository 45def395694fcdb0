//! Text: aligned plain-ASCII tables for people.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::{ListKind, MergeInfo, Ranked, Report, Unassigned, Uncounted};

/// An aligned, plain-ASCII table for people: the totals, the top names, the rest, the domains and
/// (with an org file) organisations, query types, excluded names and the exclusions that matched
/// nothing.
pub fn to_text(report: &Report) -> String {
    let totals = &report.totals;
    let percent = |count: u64| match totals.queries {
        0 => "0.00%".to_owned(),
        queries => format!("{:.2}%", count as f64 / queries as f64 * 100.0),
    };
    let mut out = String::new();

    let interfaces = if report.interfaces.is_empty() {
        "(none)".to_owned()
    } else {
        report
            .interfaces
            .iter()
            .map(|i| safe(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let by_reason = |reasons: &Uncounted| {
        let mut text = reasons.total().to_string();
        let nonzero: Vec<String> = reasons
            .0
            .iter()
            .filter(|(_, count)| *count != 0)
            .map(|(reason, count)| format!("{} {count}", safe(reason)))
            .collect();
        if !nonzero.is_empty() {
            let _ = write!(text, " ({})", nonzero.join(", "));
        }
        text
    };
    let mut header = vec![
        ("host", safe(&report.host).into_owned()),
        ("interfaces", interfaces),
        (
            "interval",
            format!(
                "{} to {} ({} s)",
                safe(&report.start),
                safe(&report.end),
                report.seconds
            ),
        ),
        ("packets", totals.packets.to_string()),
        ("not queries", by_reason(&totals.not_queries)),
        ("queries", totals.queries.to_string()),
        ("counted", totals.counted.to_string()),
        ("excluded", totals.excluded.to_string()),
        ("uncounted", by_reason(&totals.uncounted)),
        ("distinct names", totals.distinct_names.to_string()),
    ];
    if !report.attached.is_empty() {
        let attached: Vec<String> = report
            .attached
            .iter()
            .map(|each| format!("{} {} s", safe(&each.interface), each.seconds))
            .collect();
        header.insert(2, ("attached", attached.join(", ")));
    }
    if report.snapshot {
        header.insert(
            0,
            ("snapshot", "the interval so far; it goes on".to_owned()),
        );
    }
    let key_width = header.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in header {
        let _ = writeln!(out, "{key:key_width$}  {value}");
    }

    if !list_table(&mut out, &report.names, "name", None, &percent) {
        out.push_str("\nno names counted\n");
    }
    if let Some(domains) = &report.domains {
        let heading = match domains.grouping.as_str() {
            "psl" => "registered domain".to_owned(),
            "labels:1" => "domain (last label)".to_owned(),
            other => match other.strip_prefix("labels:") {
                Some(depth) => format!("domain (last {} labels)", safe(depth)),
                None => format!("domain ({})", safe(other)),
            },
        };
        list_table(&mut out, &domains.list, &heading, None, &percent);
    }
    if let Some(orgs) = &report.orgs {
        let Unassigned { count, names } = orgs.unassigned;
        let unassigned = (count != 0 || names != 0).then_some(Beside {
            count,
            names,
            what: "(unassigned)",
        });
        list_table(&mut out, &orgs.list, "organisation", unassigned, &percent);
    }
    if let Some(clients) = &report.clients {
        let untracked = (clients.untracked != 0).then_some(Beside {
            count: clients.untracked,
            names: 0,
            what: "(untracked: the kernel's client table was full)",
        });
        let anonymized = if clients.anonymized {
            "anonymized "
        } else {
            ""
        };
        let heading = format!(
            "client ({anonymized}/{} and /{} prefixes)",
            clients.prefix_v4, clients.prefix_v6
        );
        list_table(&mut out, &clients.list, &heading, untracked, &percent);
    }

    if !report.qtypes.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = report
            .qtypes
            .iter()
            .map(|q| {
                vec![
                    safe(&q.qtype).into_owned(),
                    q.count.to_string(),
                    percent(q.count),
                ]
            })
            .collect();
        table(&mut out, &["qtype", "count", "share"], &rows, 0);
    }

    if !report.excluded.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = report
            .excluded
            .iter()
            .map(|e| {
                vec![
                    e.count.to_string(),
                    percent(e.count),
                    safe(&e.name).into_owned(),
                ]
            })
            .collect();
        table(&mut out, &["count", "share", "excluded name"], &rows, 2);
    }

    if let Some(unmatched) = report
        .unmatched_exclusions
        .as_ref()
        .filter(|u| !u.is_empty())
    {
        out.push('\n');
        let rows: Vec<Vec<String>> = unmatched
            .iter()
            .map(|entry| vec![safe(entry).into_owned()])
            .collect();
        table(&mut out, &["exclusion that matched nothing"], &rows, 0);
    }
    out
}

/// What a section counts beside its list, shown as a row of its own (`-` for a rank).
struct Beside {
    count: u64,
    names: u64,
    what: &'static str,
}

/// A ranked list after a blank line: its entries, most queried first, the rest and what is counted
/// `beside` it, under `heading`; nothing when all of them are empty. Whether it wrote the table.
fn list_table<K: ListKind>(
    out: &mut String,
    list: &Ranked<K>,
    heading: &str,
    beside: Option<Beside>,
    percent: &dyn Fn(u64) -> String,
) -> bool {
    if list.is_empty() && beside.is_none() {
        return false;
    }
    let row = |rank: String, count: u64, names: u64, what: String| {
        let mut row = vec![rank, count.to_string(), percent(count)];
        if K::NAMES {
            row.push(names.to_string());
        }
        row.push(what);
        row
    };
    let mut rows: Vec<Vec<String>> = list
        .top
        .iter()
        .map(|entry| {
            let key = safe(&entry.key).into_owned();
            row(entry.rank.to_string(), entry.count, entry.names, key)
        })
        .collect();
    let rest = &list.rest;
    if rest.keys != 0 || rest.count != 0 {
        let [one, many] = K::NOUNS;
        let others = match rest.keys {
            1 => format!("(1 other {one})"),
            n => format!("({n} other {many})"),
        };
        rows.push(row("rest".into(), rest.count, rest.names, others));
    }
    if let Some(beside) = beside {
        rows.push(row(
            "-".into(),
            beside.count,
            beside.names,
            beside.what.into(),
        ));
    }
    let mut headers = vec!["rank", "count", "share"];
    if K::NAMES {
        headers.push("names");
    }
    headers.push(heading);
    out.push('\n');
    table(out, &headers, &rows, headers.len() - 1);
    true
}

/// Writes a table: column `left` is left-aligned, the others right-aligned; two spaces between columns.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>], left: usize) {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let headers: Vec<String> = headers.iter().map(|&header| header.to_owned()).collect();
    for row in std::iter::once(&headers).chain(rows) {
        let mut line = String::new();
        for (column, (cell, &width)) in row.iter().zip(&widths).enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            // Padded by hand: `{:width$}` panics on a width over 65,535, which a cell of a
            // report read from a file can have.
            let padding = " ".repeat(width.saturating_sub(cell.len()));
            if column == left {
                line.push_str(cell);
                line.push_str(&padding);
            } else {
                line.push_str(&padding);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Names are printable ASCII already; host and interface names, or a report read from a file, need not
/// be. Escapes anything else so the text cannot drive a terminal.
fn safe(text: &str) -> Cow<'_, str> {
    let keep = |c: char| c.is_ascii_graphic() || c == ' ';
    if text.chars().all(keep) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) {
            escaped.push(c);
        } else {
            escaped.extend(c.escape_default());
        }
    }
    Cow::Owned(escaped)
}

/// [`to_text`], and for a merged report what its counts are worth.
pub fn to_text_merged(report: &Report, merge: Option<&MergeInfo>) -> String {
    let mut text = to_text(report);
    let Some(merge) = merge else {
        return text;
    };
    let inputs = match merge.inputs.len() {
        1 => "1 report".to_owned(),
        n => format!("{n} reports"),
    };
    text.push('\n');
    if merge.exact {
        let _ = writeln!(text, "merged from {inputs}; every count is exact");
        return text;
    }
    let _ = writeln!(
        text,
        "merged from {inputs}, some of them cut: listed counts are lower bounds"
    );
    let lists = [
        ("names", "name", Some(&merge.names)),
        ("domains", "domain", merge.domains.as_ref()),
        ("orgs", "organisation", merge.orgs.as_ref()),
        ("clients", "prefix", merge.clients.as_ref()),
    ];
    for (list, entry, bounds) in lists {
        let Some(bounds) = bounds.filter(|bounds| !bounds.exact || bounds.unlisted_max > 0) else {
            continue;
        };
        let mut parts = vec![match bounds.max_error {
            0 => "counts exact".to_owned(),
            error => format!("counts up to {error} low"),
        }];
        if let Some(names) = bounds.names_max_error.filter(|&names| names > 0) {
            parts.push(format!("names up to {names} low"));
        }
        if bounds.unlisted_max > 0 {
            parts.push(format!(
                "an unlisted {entry} had at most {} queries",
                bounds.unlisted_max
            ));
        }
        let _ = writeln!(text, "{list:<8}  {}", parts.join("; "));
    }
    if merge.distinct_names_max_error > 0 {
        let _ = writeln!(
            text,
            "distinct names up to {} low",
            merge.distinct_names_max_error
        );
    }
    text
}
