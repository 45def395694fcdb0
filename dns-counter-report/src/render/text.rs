//! Text: aligned plain-ASCII tables for people.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::{Clients, Domains, MergeInfo, Orgs, Report, Uncounted};

/// An aligned, plain-ASCII table for people: the totals, the top names, the rest, the domains and
/// (with an org file) organisations, query types and excluded names.
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
    let header = [
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
    let key_width = header.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in header {
        let _ = writeln!(out, "{key:key_width$}  {value}");
    }

    out.push('\n');
    if report.top.is_empty() && report.rest.names == 0 {
        out.push_str("no names counted\n");
    } else {
        let mut rows: Vec<[String; 4]> = report
            .top
            .iter()
            .map(|e| {
                [
                    e.rank.to_string(),
                    e.count.to_string(),
                    percent(e.count),
                    safe(&e.name).into_owned(),
                ]
            })
            .collect();
        if report.rest.names != 0 || report.rest.count != 0 {
            let other = match report.rest.names {
                1 => "(1 other name)".to_owned(),
                n => format!("({n} other names)"),
            };
            rows.push([
                "rest".into(),
                report.rest.count.to_string(),
                percent(report.rest.count),
                other,
            ]);
        }
        table(&mut out, ["rank", "count", "share", "name"], &rows, 3);
    }

    if let Some(domains) = &report.domains {
        domains_table(&mut out, domains, &percent);
    }
    if let Some(orgs) = &report.orgs {
        orgs_table(&mut out, orgs, &percent);
    }
    if let Some(clients) = &report.clients {
        clients_table(&mut out, clients, &percent);
    }

    if !report.qtypes.is_empty() {
        out.push('\n');
        let rows: Vec<[String; 3]> = report
            .qtypes
            .iter()
            .map(|q| {
                [
                    safe(&q.qtype).into_owned(),
                    q.count.to_string(),
                    percent(q.count),
                ]
            })
            .collect();
        table(&mut out, ["qtype", "count", "share"], &rows, 0);
    }

    if !report.excluded.is_empty() {
        out.push('\n');
        let rows: Vec<[String; 3]> = report
            .excluded
            .iter()
            .map(|e| {
                [
                    e.count.to_string(),
                    percent(e.count),
                    safe(&e.name).into_owned(),
                ]
            })
            .collect();
        table(&mut out, ["count", "share", "excluded name"], &rows, 2);
    }
    out
}

/// The domains, most queried first, and the rest; nothing when no name was counted.
fn domains_table(out: &mut String, domains: &Domains, percent: &dyn Fn(u64) -> String) {
    let rest = &domains.rest;
    if domains.top.is_empty() && rest.domains == 0 && rest.count == 0 {
        return;
    }
    let mut rows: Vec<[String; 5]> = domains
        .top
        .iter()
        .map(|d| {
            [
                d.rank.to_string(),
                d.count.to_string(),
                percent(d.count),
                d.names.to_string(),
                safe(&d.domain).into_owned(),
            ]
        })
        .collect();
    if rest.domains != 0 || rest.count != 0 {
        rows.push([
            "rest".into(),
            rest.count.to_string(),
            percent(rest.count),
            rest.names.to_string(),
            match rest.domains {
                1 => "(1 other domain)".to_owned(),
                n => format!("({n} other domains)"),
            },
        ]);
    }
    let heading = match domains.grouping.as_str() {
        "psl" => "registered domain".to_owned(),
        "labels:1" => "domain (last label)".to_owned(),
        other => match other.strip_prefix("labels:") {
            Some(depth) => format!("domain (last {} labels)", safe(depth)),
            None => format!("domain ({})", safe(other)),
        },
    };
    out.push('\n');
    table(
        out,
        ["rank", "count", "share", "names", heading.as_str()],
        &rows,
        4,
    );
}

/// The organisations, most queried first, the rest and the names under no suffix of the org file;
/// nothing when no name was counted.
fn orgs_table(out: &mut String, orgs: &Orgs, percent: &dyn Fn(u64) -> String) {
    let (rest, unassigned) = (&orgs.rest, &orgs.unassigned);
    let has_rest = rest.orgs != 0 || rest.count != 0;
    let has_unassigned = unassigned.names != 0 || unassigned.count != 0;
    if orgs.top.is_empty() && !has_rest && !has_unassigned {
        return;
    }
    let mut rows: Vec<[String; 5]> = orgs
        .top
        .iter()
        .map(|o| {
            [
                o.rank.to_string(),
                o.count.to_string(),
                percent(o.count),
                o.names.to_string(),
                safe(&o.org).into_owned(),
            ]
        })
        .collect();
    if has_rest {
        rows.push([
            "rest".into(),
            rest.count.to_string(),
            percent(rest.count),
            rest.names.to_string(),
            match rest.orgs {
                1 => "(1 other organisation)".to_owned(),
                n => format!("({n} other organisations)"),
            },
        ]);
    }
    if has_unassigned {
        rows.push([
            "-".into(),
            unassigned.count.to_string(),
            percent(unassigned.count),
            unassigned.names.to_string(),
            "(unassigned)".into(),
        ]);
    }
    out.push('\n');
    table(
        out,
        ["rank", "count", "share", "names", "organisation"],
        &rows,
        4,
    );
}

/// The client prefixes, most queries first, the rest and the untracked queries; nothing when no
/// query was counted.
fn clients_table(out: &mut String, clients: &Clients, percent: &dyn Fn(u64) -> String) {
    let rest = &clients.rest;
    let has_rest = rest.prefixes != 0 || rest.count != 0;
    if clients.top.is_empty() && !has_rest && clients.untracked == 0 {
        return;
    }
    let mut rows: Vec<[String; 4]> = clients
        .top
        .iter()
        .map(|c| {
            [
                c.rank.to_string(),
                c.count.to_string(),
                percent(c.count),
                safe(&c.client).into_owned(),
            ]
        })
        .collect();
    if has_rest {
        let other = match rest.prefixes {
            1 => "(1 other prefix)".to_owned(),
            n => format!("({n} other prefixes)"),
        };
        rows.push([
            "rest".into(),
            rest.count.to_string(),
            percent(rest.count),
            other,
        ]);
    }
    if clients.untracked != 0 {
        let untracked = "(untracked: the kernel's client table was full)".to_owned();
        rows.push([
            "-".into(),
            clients.untracked.to_string(),
            percent(clients.untracked),
            untracked,
        ]);
    }
    let anonymized = if clients.anonymized {
        "anonymized "
    } else {
        ""
    };
    let heading = format!(
        "client ({anonymized}/{} and /{} prefixes)",
        clients.prefix_v4, clients.prefix_v6
    );
    out.push('\n');
    table(out, ["rank", "count", "share", heading.as_str()], &rows, 3);
}

/// Writes a table: column `left` is left-aligned, the others right-aligned; two spaces between columns.
fn table<const N: usize>(out: &mut String, headers: [&str; N], rows: &[[String; N]], left: usize) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let headers = headers.map(str::to_owned);
    for row in std::iter::once(&headers).chain(rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
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
