//! JSON: the `dns-counter/report` schema, pretty-printed.

use serde::Serialize;

use crate::model::{MergeInfo, Report};

/// Pretty JSON, ending in a newline.
pub fn to_json(report: &Report) -> String {
    // Only string keys and plain values: serializing cannot fail.
    let mut json = serde_json::to_string_pretty(report).expect("a Report always serializes");
    json.push('\n');
    json
}

/// [`to_json`], with the `merge` section after the report's fields.
pub fn to_json_merged(report: &Report, merge: Option<&MergeInfo>) -> String {
    #[derive(Serialize)]
    struct Merged<'a> {
        #[serde(flatten)]
        report: &'a Report,
        merge: &'a MergeInfo,
    }
    let Some(merge) = merge else {
        return to_json(report);
    };
    // Only string keys and plain values: serializing cannot fail.
    let mut json = serde_json::to_string_pretty(&Merged { report, merge })
        .expect("a merged report always serializes");
    json.push('\n');
    json
}
