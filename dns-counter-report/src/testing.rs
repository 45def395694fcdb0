//! Fixtures for tests of this crate and of the crates above it (feature `testing`): an interval
//! of hostile names and the report built from it.

use std::time::{Duration, UNIX_EPOCH};

use dns_counter_common::Reason;

use crate::analysis::exclude::Exclusions;
use crate::analysis::orgs::OrgMap;
use crate::analysis::{ReportOptions, build_report};
use crate::interval::{Interval, Meta};
use crate::model::{Attached, Report};

/// A name in wire form from its labels.
pub fn wire(labels: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for label in labels {
        out.push(u8::try_from(label.len()).expect("test label fits a length byte"));
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// The interval behind the golden files: hostile names (folded to lower case, as the kernel sends
/// them), ties, exclusions, and more names than the top list holds.
pub fn fixture() -> (Interval, Meta, Exclusions) {
    let names = vec![
        (wire(&[b"www", b"example", b"com"]), 500),
        (wire(&[b"a.b", b"example"]), 120),
        (wire(&[b"back\\slash", b"example"]), 120),
        (wire(&[b"\"quoted\"", b"example"]), 90),
        (wire(&[b"new\nline", b"example"]), 75),
        (wire(&[b"\x1b[31m\x1b]0;owned\x07", b"example"]), 60),
        (wire(&[&[0xff, 0x00, 0x7f, b' '], b"example"]), 45),
        (
            wire(&[&[b'x'; 63], &[b'y'; 63], &[b'z'; 63], &[b'w'; 61]]),
            30,
        ),
        (wire(&[b"*", b",=", b"example"]), 30),
        (wire(&[b"_dmarc", b"mail-1", b"example"]), 12),
        (vec![0], 7),
        (wire(&[b"corp", b"example"]), 40),
        (wire(&[b"health", b"example", b"net"]), 3),
        (wire(&[b"never-excluded", b"example"]), 0),
    ];
    let interval = Interval {
        start: UNIX_EPOCH + Duration::new(1_795_309_200, 250_000_000),
        end: UNIX_EPOCH + Duration::new(1_795_309_260, 500_000_000),
        packets: 1_200,
        names,
        qtypes: vec![
            (1, 700),
            (28, 250),
            (65, 80),
            (65280, 30),
            (0, 2),
            (15, 30),
            (16, 0),
        ],
        uncounted: vec![
            (Reason::NotIp, 20),
            (Reason::OtherPort, 46),
            (Reason::TruncatedFrame, 0),
            (Reason::Response, 0),
            (Reason::LabelTooLong, 2),
        ],
        clients: None,
    };
    let meta = Meta {
        host: "gw1.example.net".into(),
        interfaces: vec!["vr0".into(), "vr1".into()],
    };
    let exclusions = Exclusions::new(
        &[
            "Corp.Example.".into(),
            "health.example.net".into(),
            "absent.example".into(),
        ],
        &[],
    )
    .expect("valid exclusions");
    (interval, meta, exclusions)
}

/// The organisations behind the golden files. `b.example` must not take `a\.b.example`, whose
/// first label holds a dot; `example.net`'s only name is excluded.
pub fn fixture_orgs() -> OrgMap {
    let text = "# suffix  organisation\n\
                example.com      Example Com Inc\n\
                b.example        B Org\n\
                mail-1.example   Mail One   # its _dmarc name\n\
                example.net      Example Net\n";
    OrgMap::parse(text.as_bytes(), std::path::Path::new("fixture-orgs.txt"))
        .expect("valid organisations")
}

pub fn fixture_report(top: usize) -> Report {
    let (interval, meta, exclusions) = fixture();
    let orgs = fixture_orgs();
    let mut report = build_report(
        &interval,
        &meta,
        &ReportOptions {
            orgs: Some(&orgs),
            ..ReportOptions::new(top, &exclusions)
        },
    );
    // vr1 came up 12.5 s before the end.
    report.attached = vec![
        Attached {
            interface: "vr0".into(),
            seconds: report.seconds,
        },
        Attached {
            interface: "vr1".into(),
            seconds: 12.5,
        },
    ];
    report
}

/// Compares `actual` with `tests/data/<name>`; with `UPDATE_GOLDEN=1` in the environment, rewrites
/// the file instead (then review the diff).
pub fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs; if the change is intended, run UPDATE_GOLDEN=1 cargo test -p dns-counter-report golden\n\
         --- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
