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
use crate::model::{MergeInfo, Report, SavedReport};

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

/// The report in `format`; `merge` is a merged report's `merge` section.
pub fn render(report: &Report, merge: Option<&MergeInfo>, format: Format) -> String {
    match format {
        Format::Json => json::to_json_merged(report, merge),
        Format::Csv => to_csv(report, merge),
        Format::Txt => text::to_text_merged(report, merge),
        Format::Prom => to_prom(report, merge),
    }
}

#[cfg(test)]
pub(crate) mod tests;
