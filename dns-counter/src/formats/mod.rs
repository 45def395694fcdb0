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
//! - Text: [`report::to_text`] escapes anything not printable ASCII.

mod csv;
mod prom;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::csv::{spreadsheet_safe, to_csv};
pub use self::prom::to_prom;
use crate::cli::Format;
use crate::merge::MergeInfo;
use crate::report::{self, InvariantError, Report};

/// A report as its JSON file holds it: one interval's (from `run` or `replay`), or a merged one
/// with its `merge` section.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SavedReport {
    #[serde(flatten)]
    pub report: Report,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInfo>,
}

impl SavedReport {
    pub fn render(&self, format: Format) -> String {
        render(&self.report, self.merge.as_ref(), format)
    }
}

/// Why a saved report cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read report {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a dns-counter report (JSON)", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} is a {found:?} report; this dns-counter reads {:?}", path.display(), report::SCHEMA)]
    Schema { path: PathBuf, found: String },
    #[error("{} has {field} {value:?}, not an RFC 3339 UTC time such as 2026-11-22T01:01:00Z", path.display())]
    BadTime {
        path: PathBuf,
        field: &'static str,
        value: String,
    },
    #[error("{} does not add up", path.display())]
    Invariant {
        path: PathBuf,
        source: InvariantError,
    },
}

/// Reads a report written by `run`, `replay` or `merge`, checking its schema (not its sums: see
/// [`check`]).
pub fn read(path: &Path) -> Result<SavedReport, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(text.as_bytes(), path)
}

/// A report from its JSON, checked as [`read`] checks it; `path` only names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<SavedReport, ReadError> {
    let saved: SavedReport = serde_json::from_slice(bytes).map_err(|source| ReadError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if saved.report.schema != report::SCHEMA {
        return Err(ReadError::Schema {
            path: path.to_owned(),
            found: saved.report.schema,
        });
    }
    for (field, value) in [("start", &saved.report.start), ("end", &saved.report.end)] {
        if humantime::parse_rfc3339(value).is_err() {
            return Err(ReadError::BadTime {
                path: path.to_owned(),
                field,
                value: value.clone(),
            });
        }
    }
    Ok(saved)
}

/// Checks that a report read from `path` adds up.
pub fn check(path: &Path, saved: &SavedReport) -> Result<(), ReadError> {
    saved
        .report
        .check_invariants()
        .map_err(|source| ReadError::Invariant {
            path: path.to_owned(),
            source,
        })
}

/// The report in `format`; `merge` is a merged report's `merge` section.
pub fn render(report: &Report, merge: Option<&MergeInfo>, format: Format) -> String {
    match format {
        Format::Json => to_json(report, merge),
        Format::Csv => to_csv(report, merge),
        Format::Txt => to_text(report, merge),
        Format::Prom => to_prom(report, merge),
    }
}

/// [`report::to_json`], with the `merge` section after the report's fields.
fn to_json(report: &Report, merge: Option<&MergeInfo>) -> String {
    #[derive(Serialize)]
    struct Merged<'a> {
        #[serde(flatten)]
        report: &'a Report,
        merge: &'a MergeInfo,
    }
    let Some(merge) = merge else {
        return report::to_json(report);
    };
    // Only string keys and plain values: serializing cannot fail.
    let mut json = serde_json::to_string_pretty(&Merged { report, merge })
        .expect("a merged report always serializes");
    json.push('\n');
    json
}

/// [`report::to_text`], and for a merged report what its counts are worth.
fn to_text(report: &Report, merge: Option<&MergeInfo>) -> String {
    let mut text = report::to_text(report);
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

#[cfg(test)]
pub(crate) mod tests;
