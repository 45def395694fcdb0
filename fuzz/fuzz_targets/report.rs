//! Saved reports on any bytes: one report, or two separated by a NUL byte (which JSON text cannot
//! hold). Every report that reads is rendered in every format, as `dns-counter report` renders
//! even one that does not add up. Those that add up are merged as `dns-counter merge` does: each
//! with itself (which counts it once), the two together, and that merge with the first again
//! (refused: it holds the first). A merge never panics; one that is not refused for overlapping
//! inputs adds up, renders in every format, and its JSON reads back as the same report, its
//! strings in the printable form every format writes (`render::printable`), and again the same
//! after that.
#![no_main]

use std::path::Path;

use dns_counter_report::{
    merge::{MergeError, merge},
    model::SavedReport,
    read,
    render::{self, Format},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&byte| byte == 0);
    let Some(first) = parts.next().and_then(read) else {
        return;
    };
    let second = parts.next().and_then(read);
    if !adds_up(&first) {
        return;
    }
    counts_once(&first);
    if let Some(second) = second.filter(adds_up) {
        counts_once(&second);
        if let Some(both) = merged(&[first.clone(), second]) {
            let again = merge(&[both, first]);
            assert!(
                matches!(again, Err(MergeError::Overlap { .. })),
                "a merge with one of its own inputs is refused: {again:?}"
            );
        }
    }
});

/// A report merged with itself counts once (its sums are its own; a reason named twice in a
/// foreign report is summed under one name, so the lists may differ in form).
fn counts_once(saved: &SavedReport) {
    let twice = merged(&[saved.clone(), saved.clone()]).expect("no overlap with itself");
    let sums = |report: &SavedReport| {
        let totals = &report.report.totals;
        (totals.packets, totals.queries, totals.counted, totals.excluded)
    };
    assert_eq!(sums(&twice), sums(saved));
}

fn read(bytes: &[u8]) -> Option<SavedReport> {
    let saved = read::parse(bytes, Path::new("fuzz.json")).ok()?.saved;
    render_all(&saved);
    Some(saved)
}

fn adds_up(saved: &SavedReport) -> bool {
    saved.report.check_invariants().is_ok()
}

fn render_all(saved: &SavedReport) {
    for format in Format::ALL {
        saved.render(format);
    }
}

/// The merge, checked; `None` when refused for overlapping inputs.
fn merged(inputs: &[SavedReport]) -> Option<SavedReport> {
    let merged = match merge(inputs) {
        Ok((merged, _warnings)) => merged,
        Err(MergeError::Overlap { .. }) => return None,
        Err(err) => panic!("read reports have valid times: {err}"),
    };
    if let Err(err) = merged.report.check_invariants() {
        panic!("the merged report does not add up: {err}");
    }
    render_all(&merged);
    let json = merged.render(Format::Json);
    let back = read::parse(json.as_bytes(), Path::new("merged.json"))
        .expect("a merged report reads")
        .saved;
    // A foreign report's raw bytes come back as presentation form writes them, as in every format.
    let printable = SavedReport {
        report: render::printable(&merged.report).into_owned(),
        merge: merged.merge.clone(),
    };
    assert_eq!(
        back, printable,
        "the merged report reads back otherwise from\n{json}"
    );
    assert_eq!(back.render(Format::Json), json, "printable form is stable");
    Some(merged)
}
