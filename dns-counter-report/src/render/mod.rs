//! A report rendered in each format `--format` names, and a saved report read back (for
//! `dns-counter report` and `dns-counter merge`).
//!
//! Names reach a report in presentation form (see [`crate::names::presentation`]): printable ASCII,
//! every byte other than a letter, digit, `-` or `_` escaped as `\c` or `\DDD`. Each format escapes
//! what its readers would otherwise take for syntax, so that a JSON parser, a CSV parser and a
//! Prometheus parser each read back exactly that string, and the text table cannot drive a
//! terminal:
//!
//! - JSON: serde_json's string escaping.
//! - CSV ([`csv`]): RFC 4180 quoting; a name a spreadsheet would take for a formula gets a `\`
//!   in front, which in presentation form stands for the same name.
//! - Prometheus ([`prom`]): label values with `\\`, `\"` and `\n`, as the exposition format says.
//! - Text: [`text::to_text`] escapes anything not printable ASCII.

mod csv;
pub mod json;
mod prom;
pub mod text;

pub use self::csv::{spreadsheet_safe, to_csv};
pub use self::prom::to_prom;
use std::borrow::Cow;

use crate::model::{Entry, MergeInfo, Report, SavedReport};
use crate::names;

/// A report file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Json,
    Csv,
    Txt,
    Prom,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Csv, Format::Txt, Format::Prom];

    /// The file extension, also the `latest.<ext>` name.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Txt => "txt",
            Format::Prom => "prom",
        }
    }
}

impl SavedReport {
    pub fn render(&self, format: Format) -> String {
        render(&self.report, self.merge.as_ref(), format)
    }
}

/// The report in `format`; `merge` is a merged report's `merge` section. Every string of the
/// report goes through [`printable`] first, so every format shows a name alike, wherever the report
/// came from.
pub fn render(report: &Report, merge: Option<&MergeInfo>, format: Format) -> String {
    let report = printable(report);
    let report = report.as_ref();
    match format {
        Format::Json => json::to_json_merged(report, merge),
        Format::Csv => to_csv(report, merge),
        Format::Txt => text::to_text_merged(report, merge),
        Format::Prom => to_prom(report, merge),
    }
}

/// `report` with every name escaped by [`names::escape_unprintable`] and every other string (host,
/// interfaces, organisations, query types, reasons, times) likewise but keeping spaces; borrowed
/// when nothing needs it, as for every report the daemon builds.
pub fn printable(report: &Report) -> Cow<'_, Report> {
    let name = |text: &str| names::escape_unprintable(text, false).into_owned();
    let free = |text: &str| names::escape_unprintable(text, true).into_owned();
    let is_name = |text: &str| matches!(names::escape_unprintable(text, false), Cow::Borrowed(_));
    let is_free = |text: &str| matches!(names::escape_unprintable(text, true), Cow::Borrowed(_));
    // Names and domains are names; organisations and client prefixes free text.
    let keys_are = |list: &[Entry], is: &dyn Fn(&str) -> bool| list.iter().all(|e| is(&e.key));
    let clean = is_free(&report.host)
        && is_free(&report.start)
        && is_free(&report.end)
        && report.interfaces.iter().all(|i| is_free(i))
        && report.attached.iter().all(|a| is_free(&a.interface))
        && keys_are(&report.names.top, &is_name)
        && report.excluded.iter().all(|e| is_name(&e.name))
        && report
            .unmatched_exclusions
            .iter()
            .flatten()
            .all(|entry| is_name(entry))
        && report.qtypes.iter().all(|q| is_free(&q.qtype))
        && [&report.totals.not_queries, &report.totals.uncounted]
            .iter()
            .all(|reasons| reasons.0.iter().all(|(reason, _)| is_free(reason)))
        && report
            .domains
            .as_ref()
            .is_none_or(|d| is_free(&d.grouping) && keys_are(&d.list.top, &is_name))
        && report
            .orgs
            .as_ref()
            .is_none_or(|o| keys_are(&o.list.top, &is_free))
        && report
            .clients
            .as_ref()
            .is_none_or(|c| keys_are(&c.list.top, &is_free));
    if clean {
        return Cow::Borrowed(report);
    }
    let escape_keys = |list: &mut [Entry], escape: &dyn Fn(&str) -> String| {
        for entry in list {
            entry.key = escape(&entry.key);
        }
    };
    let mut report = report.clone();
    report.host = free(&report.host);
    report.start = free(&report.start);
    report.end = free(&report.end);
    for interface in &mut report.interfaces {
        *interface = free(interface);
    }
    for attached in &mut report.attached {
        attached.interface = free(&attached.interface);
    }
    escape_keys(&mut report.names.top, &name);
    for entry in &mut report.excluded {
        entry.name = name(&entry.name);
    }
    for entry in report.unmatched_exclusions.iter_mut().flatten() {
        *entry = name(entry);
    }
    for qtype in &mut report.qtypes {
        qtype.qtype = free(&qtype.qtype);
    }
    for reasons in [&mut report.totals.not_queries, &mut report.totals.uncounted] {
        for (reason, _) in &mut reasons.0 {
            *reason = free(reason);
        }
    }
    if let Some(domains) = &mut report.domains {
        domains.grouping = free(&domains.grouping);
        escape_keys(&mut domains.list.top, &name);
    }
    if let Some(orgs) = &mut report.orgs {
        escape_keys(&mut orgs.list.top, &free);
    }
    if let Some(clients) = &mut report.clients {
        escape_keys(&mut clients.list.top, &free);
    }
    Cow::Owned(report)
}

#[cfg(test)]
pub(crate) mod tests;
