//! The top names as CSV: `rank,name,count,share`, one row per listed name, for spreadsheets and
//! scripts. A merged report adds a `max_error` column (see [`crate::merge`]).
//!
//! Quoting is RFC 4180's (the `csv` crate's): a field holding `"` or `,` is quoted, its quotes
//! doubled; lines end in CRLF. A name never holds a line break or a control byte (presentation
//! form escapes them as `\DDD`).
//!
//! Formula injection: a spreadsheet takes a cell that starts with `=`, `+`, `-`, `@`, tab or CR for
//! a formula. A name in presentation form starts with a letter, a digit, `_`, `\`, `.` (the root)
//! or `-`: only `-` is a risk (`-a1-b2` would be computed from cells A1 and B2). Such a name is
//! written with a `\` in front: `\-a1-b2`. In presentation form `\-` stands for `-`, so the cell
//! still names the same DNS name (dig and every zone-file parser read it so), a spreadsheet shows
//! it as text, and the JSON, the text table and the Prometheus file keep the plain form. A script
//! that wants the very string of the other formats drops the `\` of a leading `\-` (names.rs
//! never escapes `-`, so no canonical name starts with `\-`). The other formula characters get
//! the same `\`: presentation form always escapes them (`\=`), so only a name from a hand-made
//! file (`dns-counter report`) starts with one bare, and `\=` is how presentation form writes it.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::model::MergeInfo;
use crate::model::Report;

/// The characters a spreadsheet takes, at the start of a cell, for the start of a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The report's top list as CSV.
pub fn to_csv(report: &Report, merge: Option<&MergeInfo>) -> String {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let errors: Option<HashMap<u64, u64>> = merge.map(|merge| {
        merge
            .names
            .lower_bounds
            .iter()
            .map(|bound| (bound.rank, bound.max_error))
            .collect()
    });
    let mut header = vec!["rank", "name", "count", "share"];
    if errors.is_some() {
        header.push("max_error");
    }
    // Writing into a Vec cannot fail.
    writer.write_record(&header).expect("CSV into memory");
    for entry in &report.names.top {
        let mut record = vec![
            entry.rank.to_string(),
            spreadsheet_safe(&entry.key).into_owned(),
            entry.count.to_string(),
            entry.share.to_string(),
        ];
        if let Some(errors) = &errors {
            record.push(errors.get(&entry.rank).copied().unwrap_or(0).to_string());
        }
        writer.write_record(&record).expect("CSV into memory");
    }
    let bytes = writer.into_inner().expect("CSV into memory");
    // Every field came from a `String`, and quoting adds only ASCII.
    String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
}

/// `name`, with a `\` in front if a spreadsheet would take it for a formula (see the module
/// documentation).
pub fn spreadsheet_safe(name: &str) -> Cow<'_, str> {
    if name.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("\\{name}"))
    } else {
        Cow::Borrowed(name)
    }
}
