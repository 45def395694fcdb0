//! Golden files and round trips for every format, with names built to break each one.

use std::collections::HashMap;

use nom_openmetrics::{MetricDescriptor, MetricType, parser::prometheus};

use super::*;
use crate::analysis::{ReportOptions, build_report};
use crate::model::{self, Report};
use crate::model::{Clients, Entry, Ranked, Rest};
use crate::read::{ReadError, check, read};
use crate::testing::{fixture, fixture_orgs, golden, wire};
use std::borrow::Cow;

/// The aggregate fixture's names (quotes, backslashes, commas, a newline, ANSI escapes, non-UTF-8
/// bytes, the root, a 253-character name) and names a spreadsheet would compute: `-` first, and
/// `=`, `+`, `@` first (which presentation form escapes already), a comma and a quote together.
pub(crate) fn hostile_report(top: usize) -> Report {
    let (mut interval, meta, exclusions) = fixture();
    let extra = [
        (wire(&[b"-a1-b2", b"example"]), 33),
        (wire(&[b"-1", b"2"]), 25),
        (wire(&[b"=1+2", b"example"]), 21),
        (wire(&[b"@sum(a1)", b"example"]), 20),
        (wire(&[b"+cmd|' /c calc'!a0", b"example"]), 19),
        (wire(&[b"a,b\"c", b"example"]), 18),
    ];
    interval.packets += extra.iter().map(|(_, count)| count).sum::<u64>();
    interval.names.extend(extra);
    let orgs = fixture_orgs();
    let mut report = build_report(
        &interval,
        &meta,
        &ReportOptions {
            orgs: Some(&orgs),
            ..ReportOptions::new(top, &exclusions)
        },
    );
    // Clients as the kernel would count them with --clients (the fixture has none): they add up to
    // counted + excluded.
    let seen = report.totals.counted + report.totals.excluded;
    let queries = report.totals.queries;
    let client = |rank, key: &str, count| Entry {
        rank,
        key: key.into(),
        count,
        names: 0,
        share: model::share(count, queries),
    };
    report.clients = Some(Clients {
        prefix_v4: 24,
        prefix_v6: 56,
        anonymized: false,
        list: Ranked::new(
            vec![
                client(1, "192.0.2.0/24", 700),
                client(2, "2001:db8:0:100::/56", 300),
            ],
            Rest {
                keys: 3,
                count: seen - 1_000 - 9,
                names: 0,
            },
        ),
        untracked: 9,
    });
    assert_eq!(report.check_invariants(), Ok(()));
    report
}

/// Listed through the hostile names, before `_dmarc.mail-1.example` and the root.
pub(crate) const GOLDEN_TOP: usize = 16;

#[test]
fn hostile_names_are_listed() {
    let names: Vec<String> = hostile_report(GOLDEN_TOP)
        .names
        .top
        .into_iter()
        .map(|entry| entry.key)
        .collect();
    for name in [
        "-a1-b2.example",
        "-1.2",
        r"\=1\+2.example",
        r"\@sum\(a1\).example",
        r"\+cmd\|\'\032\/c\032calc\'\!a0.example",
        r#"a\,b\"c.example"#,
        r#"\"quoted\".example"#,
        r"new\010line.example",
        r"\027\[31m\027\]0\;owned\007.example",
        r"\255\000\127\032.example",
    ] {
        assert!(
            names.iter().any(|listed| listed == name),
            "{name} not in {names:?}"
        );
    }
}

#[test]
fn golden_csv() {
    let report = hostile_report(GOLDEN_TOP);
    assert_eq!(
        to_csv(&report, None),
        to_csv(&hostile_report(GOLDEN_TOP), None),
        "not stable"
    );
    golden("report.golden.csv", &to_csv(&report, None));
}

#[test]
fn golden_prom() {
    let report = hostile_report(GOLDEN_TOP);
    assert_eq!(
        to_prom(&report, None),
        to_prom(&hostile_report(GOLDEN_TOP), None),
        "not stable"
    );
    golden("report.golden.prom", &to_prom(&report, None));
}

/// A name as a CSV reader gets it back, with the spreadsheet guard taken off: the inverse of
/// [`spreadsheet_safe`] for names in presentation form (`\-` never starts one).
fn unguard(cell: &str) -> &str {
    if cell.starts_with("\\-") {
        &cell[1..]
    } else {
        cell
    }
}

#[test]
fn a_csv_parser_reads_every_name_back() {
    let report = hostile_report(0);
    let csv = to_csv(&report, None);
    assert!(
        csv.ends_with("\r\n") && !csv.replace("\r\n", "").contains(['\r', '\n']),
        "CRLF lines only"
    );
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().expect("header"),
        vec!["rank", "name", "count", "share"]
    );
    let rows: Vec<::csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("valid CSV");
    assert_eq!(rows.len(), report.names.top.len());
    for (row, entry) in rows.iter().zip(&report.names.top) {
        assert_eq!(row.len(), 4);
        assert_eq!(row[0].parse::<u64>().expect("rank"), entry.rank);
        assert_eq!(unguard(&row[1]), entry.key, "read back exactly");
        assert_eq!(row[1], *spreadsheet_safe(&entry.key));
        assert_eq!(row[2].parse::<u64>().expect("count"), entry.count);
        assert_eq!(row[3].parse::<f64>().expect("share"), entry.share);
        // No cell a spreadsheet would compute.
        assert!(
            !row.iter()
                .any(|cell| cell.starts_with(['=', '+', '-', '@', '\t', '\r'])),
            "{row:?}"
        );
    }
}

#[test]
fn csv_quotes_as_rfc_4180_says_and_guards_formulas() {
    let report = hostile_report(0);
    let csv = to_csv(&report, None);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "rank,name,count,share");
    let line = |name: &str, cell: &str| {
        let entry = report
            .names
            .top
            .iter()
            .find(|entry| entry.key == name)
            .expect("listed");
        format!("{},{cell},{},{}", entry.rank, entry.count, entry.share)
    };
    // A field with a quote or a comma is quoted, its quotes doubled; others are not.
    for (name, cell) in [
        (r#"\"quoted\".example"#, r#""\""quoted\"".example""#),
        (r#"a\,b\"c.example"#, r#""a\,b\""c.example""#),
        (r"\*.\,\=.example", r#""\*.\,\=.example""#),
        (r"-a1-b2.example", r"\-a1-b2.example"),
        (r"-1.2", r"\-1.2"),
        (r"new\010line.example", r"new\010line.example"),
        (r"\=1\+2.example", r"\=1\+2.example"),
        (".", "."),
    ] {
        assert!(
            lines.contains(&line(name, cell).as_str()),
            "{} in {csv}",
            line(name, cell)
        );
    }
    assert_eq!(spreadsheet_safe("-x"), r"\-x");
    assert_eq!(spreadsheet_safe("=1+1"), r"\=1+1");
    assert_eq!(spreadsheet_safe("@x"), r"\@x");
    assert_eq!(spreadsheet_safe("+x"), r"\+x");
    assert_eq!(spreadsheet_safe("\tx"), "\\\tx");
    assert_eq!(spreadsheet_safe("\rx"), "\\\rx");
    for plain in ["x-", "a-b", "_x", r"\-x", ".", "0x"] {
        assert_eq!(spreadsheet_safe(plain), plain);
    }
}

#[test]
fn csv_of_a_report_from_a_hand_made_file_is_guarded_too() {
    // `dns-counter report` renders whatever JSON it is given.
    let mut report = hostile_report(3);
    report.names.top[0].key = "=HYPERLINK(\"http://x\",\"y\")".into();
    report.names.top[1].key = "line\r\nbreak".into();
    let csv = to_csv(&report, None);
    let rows: Vec<::csv::StringRecord> = ::csv::Reader::from_reader(csv.as_bytes())
        .records()
        .collect::<Result<_, _>>()
        .expect("valid CSV");
    assert_eq!(&rows[0][1], "\\=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(&rows[1][1], "line\r\nbreak");
    assert_eq!(rows.len(), 3);
}

/// A parsed Prometheus textfile: family → (type, samples as label set and value).
type Parsed<'a> = HashMap<&'a str, (Option<MetricType<'a>>, Vec<(HashMap<String, String>, f64)>)>;

/// Our `.prom` read back by an independent parser, which resolves a label value's escapes (`\\`,
/// `\"`, `\n`). It reads any other `\c` as `c`, where Prometheus refuses it; we write none, and a
/// backslash we failed to double would read back short, which the comparisons catch.
fn parse_prom(text: &str) -> Parsed<'_> {
    let (_, families) =
        prometheus(text).unwrap_or_else(|err| panic!("invalid exposition: {err:?}\n{text}"));
    let mut parsed = Parsed::new();
    for family in families {
        let name = family.descriptors.first().expect("HELP and TYPE").metric();
        let mut kind = None;
        for descriptor in family.descriptors {
            assert_eq!(descriptor.metric(), name, "HELP and TYPE name one family");
            if let MetricDescriptor::Type { r#type, .. } = descriptor {
                kind = Some(r#type);
            }
        }
        let samples = family
            .samples
            .iter()
            .map(|sample| {
                assert_eq!(sample.name(), name, "a family's samples");
                let labels = sample.labels().iter();
                let labels = labels.map(|label| (label.name.to_owned(), label.value.clone()));
                (labels.collect(), sample.number())
            })
            .collect();
        assert!(
            parsed.insert(name, (kind, samples)).is_none(),
            "{name} twice"
        );
    }
    parsed
}

/// The values of `family`'s samples by the value of their `label`.
fn by_label(parsed: &Parsed, family: &str, label: &str) -> Vec<(String, f64)> {
    let (_, samples) = parsed
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    samples
        .iter()
        .map(|(labels, value)| (labels[label].clone(), *value))
        .collect()
}

fn single(parsed: &Parsed, family: &str) -> f64 {
    let (_, samples) = parsed
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    assert_eq!(samples.len(), 1, "{family}");
    samples[0].1
}

#[test]
fn a_prometheus_parser_reads_every_name_and_the_host_back() {
    let mut report = hostile_report(0);
    report.host = "gw\"1\\\nx\u{1b}[2J\u{e9}".into();
    report.interfaces = vec!["vr\"0".into(), "v\\1".into()];
    let text = to_prom(&report, None);
    let parsed = parse_prom(&text);

    let mut names = by_label(&parsed, "dnscounter_name_queries", "name");
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(String, f64)> = report
        .names
        .top
        .iter()
        .map(|entry| (entry.key.clone(), entry.count as f64))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(names, expected);

    let excluded = by_label(&parsed, "dnscounter_excluded_name_queries", "name");
    assert_eq!(
        excluded,
        report
            .excluded
            .iter()
            .map(|entry| (entry.name.clone(), entry.count as f64))
            .collect::<Vec<_>>()
    );
    let domains = by_label(&parsed, "dnscounter_domain_queries", "domain");
    let report_domains = report.domains.as_ref().expect("domains");
    assert_eq!(domains.len(), report_domains.list.top.len());
    for ((domain, count), entry) in domains.iter().zip(&report_domains.list.top) {
        assert_eq!(
            (domain.as_str(), *count),
            (entry.key.as_str(), entry.count as f64)
        );
    }
    let orgs = by_label(&parsed, "dnscounter_org_queries", "org");
    assert_eq!(
        orgs.len(),
        report.orgs.as_ref().expect("orgs").list.top.len()
    );
    let clients = by_label(&parsed, "dnscounter_client_queries", "client");
    assert_eq!(
        clients,
        [
            ("192.0.2.0/24".to_owned(), 700.0),
            ("2001:db8:0:100::/56".to_owned(), 300.0)
        ]
    );
    let reasons = by_label(&parsed, "dnscounter_uncounted_queries", "reason");
    assert_eq!(
        reasons.len(),
        report.totals.uncounted.0.len(),
        "zeros included"
    );
    let reasons = by_label(&parsed, "dnscounter_not_query_packets", "reason");
    assert_eq!(
        reasons.len(),
        report.totals.not_queries.0.len(),
        "zeros included"
    );
    assert_eq!(
        single(&parsed, "dnscounter_packets"),
        report.totals.packets as f64
    );
    assert_eq!(
        single(&parsed, "dnscounter_queries"),
        report.totals.queries as f64
    );
    let qtypes = by_label(&parsed, "dnscounter_qtype_queries", "qtype");
    assert_eq!(qtypes.len(), report.qtypes.len());

    // Every sample carries the host, exactly.
    for (family, (kind, samples)) in &parsed {
        assert_eq!(*kind, Some(MetricType::Gauge), "{family}");
        for (labels, _) in samples {
            assert_eq!(labels["host"], report.host, "{family}");
        }
    }
    assert_eq!(
        by_label(&parsed, "dnscounter_report_info", "interfaces"),
        [("vr\"0,v\\1".to_owned(), 1.0)]
    );

    assert_eq!(
        single(&parsed, "dnscounter_packets"),
        report.totals.packets as f64
    );
    assert_eq!(
        single(&parsed, "dnscounter_counted_queries"),
        report.totals.counted as f64
    );
    assert_eq!(
        single(&parsed, "dnscounter_excluded_queries"),
        report.totals.excluded as f64
    );
    assert_eq!(
        single(&parsed, "dnscounter_distinct_names"),
        report.totals.distinct_names as f64
    );
    assert_eq!(
        single(&parsed, "dnscounter_report_duration_seconds"),
        report.seconds
    );
    assert_eq!(
        single(&parsed, "dnscounter_report_start_timestamp_seconds"),
        1_795_309_200.25
    );
    assert_eq!(
        single(&parsed, "dnscounter_report_end_timestamp_seconds"),
        1_795_309_260.5
    );
    assert_eq!(single(&parsed, "dnscounter_untracked_client_queries"), 9.0);
}

#[test]
fn prometheus_names_follow_the_conventions() {
    let text = to_prom(&hostile_report(GOLDEN_TOP), None);
    let metric_name = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, text) = help.split_once(' ').expect("HELP name text");
            assert!(
                metric_name(name) && name.starts_with("dnscounter_"),
                "{name}"
            );
            // Gauges of one interval: nothing that says counter (promtool's lint also refuses a
            // type's name as a word of the metric's, which `dns_counter_` would be).
            assert!(
                !name.ends_with("_total") && !name.ends_with("_count"),
                "{name}"
            );
            for kind in ["counter", "gauge", "histogram", "summary"] {
                assert!(
                    !name.contains(&format!("_{kind}_")) && !name.ends_with(&format!("_{kind}")),
                    "{name}"
                );
            }
            assert!(!text.contains(['\\', '\n']) && !text.is_empty(), "{text}");
            families.push(name.to_owned());
        } else if let Some(kind) = line.strip_prefix("# TYPE ") {
            assert_eq!(
                kind,
                format!("{} gauge", families.last().expect("HELP before TYPE"))
            );
        } else {
            let name = line.split(['{', ' ']).next().expect("a sample");
            assert_eq!(
                Some(name),
                families.last().map(String::as_str),
                "samples follow their HELP"
            );
            assert!(line.starts_with(&format!("{name}{{host=\"")), "{line}");
            // One more label at most, each a valid label name.
            let labels = &line[name.len() + 1..line.rfind('}').expect("labels end")];
            let second = labels
                .split("\",")
                .nth(1)
                .map(|rest| rest.split('=').next().expect("label name"));
            if let Some(label) = second {
                assert!(metric_name(label), "{label}");
            }
            assert!(!line.ends_with(' '), "{line}");
        }
    }
    let unique: std::collections::HashSet<&String> = families.iter().collect();
    assert_eq!(unique.len(), families.len(), "each family once");
    assert!(text.ends_with('\n'));
}

#[test]
fn label_values_are_escaped_as_the_format_says() {
    let mut out = String::new();
    prom::escape_label_value(&mut out, "a\\b\"c\nd\te\u{1b}");
    assert_eq!(out, "a\\\\b\\\"c\\nd\te\u{1b}");
    let mut report = hostile_report(1);
    report.host = "h".into();
    let text = to_prom(&report, None);
    assert!(
        text.contains("dnscounter_name_queries{host=\"h\",name=\"www.example.com\"} 500\n"),
        "{text}"
    );
    report.names.top[0].key = r#"\"q\\"#.into();
    let text = to_prom(&report, None);
    assert!(
        text.contains(r#"dnscounter_name_queries{host="h",name="\\\"q\\\\"} 500"#),
        "{text}"
    );
}

#[test]
fn empty_lists_leave_no_family() {
    let mut report = hostile_report(1);
    let rest = Rest {
        keys: report.totals.distinct_names,
        count: report.totals.counted,
        names: 0,
    };
    report.names = Ranked::new(vec![], rest);
    report.excluded.clear();
    report.totals.excluded = 0;
    let text = to_prom(&report, None);
    assert!(
        !text.contains("dnscounter_name_queries")
            && !text.contains("dnscounter_excluded_name_queries")
    );
    parse_prom(&text);
}

#[test]
fn json_of_a_report_is_the_report_schema_and_reads_back() {
    let report = hostile_report(GOLDEN_TOP);
    let saved = SavedReport {
        report: report.clone(),
        merge: None,
    };
    let json = saved.render(Format::Json);
    assert_eq!(json, crate::render::json::to_json(&report));
    let back: SavedReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, saved);
    // A JSON parser gets every name back exactly.
    let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
    let names: Vec<&str> = value["top"]
        .as_array()
        .expect("top")
        .iter()
        .map(|entry| entry["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        report
            .names
            .top
            .iter()
            .map(|entry| entry.key.as_str())
            .collect::<Vec<_>>()
    );
}

#[test]
fn text_is_the_table() {
    let report = hostile_report(GOLDEN_TOP);
    assert_eq!(
        render(&report, None, Format::Txt),
        crate::render::text::to_text(&report)
    );
}

#[test]
fn reading_a_report_checks_its_schema_and_times() {
    let temp = tempfile::tempdir().expect("temp dir");
    let report = hostile_report(3);
    let good = temp.path().join("good.json");
    std::fs::write(&good, crate::render::json::to_json(&report)).expect("write");
    let saved = read(&good).expect("read").saved;
    assert_eq!(saved.report, report);
    assert!(saved.merge.is_none());
    check(&good, &saved).expect("adds up");

    let write = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut value: serde_json::Value =
            serde_json::from_str(&crate::render::json::to_json(&report)).expect("parse");
        change(&mut value);
        let path = temp.path().join(name);
        std::fs::write(&path, value.to_string()).expect("write");
        path
    };
    let other = write("other.json", &|value| {
        value["schema"] = "dns-counter/report/v9".into()
    });
    let err = read(&other).expect_err("schema");
    assert!(
        err.to_string().ends_with(
            r#"other.json is a "dns-counter/report/v9" report; this dns-counter reads "dns-counter/report/v3", "dns-counter/report/v2" and "dns-counter/report/v1""#
        ),
        "{err}"
    );
    let bad_time = write("time.json", &|value| value["end"] = "soon".into());
    assert!(matches!(
        read(&bad_time),
        Err(ReadError::BadTime { field: "end", .. })
    ));
    let broken = write("broken.json", &|value| {
        value["totals"]["counted"] = 1.into()
    });
    let saved = read(&broken).expect("reads").saved;
    let err = check(&broken, &saved).expect_err("does not add up");
    assert_eq!(
        format!("{:#}", anyhow::Error::from(err)),
        format!(
            "{} does not add up: queries = counted + excluded + sum(uncounted) does not hold: {} != {}",
            broken.display(),
            report.totals.queries,
            report.totals.queries - report.totals.counted + 1
        )
    );
    let not_json = temp.path().join("notes.txt");
    std::fs::write(&not_json, "hello").expect("write");
    assert!(matches!(read(&not_json), Err(ReadError::Parse { .. })));
    assert!(matches!(
        read(&temp.path().join("missing.json")),
        Err(ReadError::Read { .. })
    ));
}

/// Defect: a table cell over 65,535 characters (a name or an organisation in a report read from
/// a file) panicked the text renderer ("Formatting argument out of range"); no renderer may panic.
#[test]
fn huge_cells_do_not_panic_any_renderer() {
    let mut report = hostile_report(3);
    let huge = "x".repeat(70_000);
    report.names.top[0].key = huge.clone();
    if let Some(orgs) = report.orgs.as_mut() {
        orgs.list.top[0].key = huge.clone();
    }
    for format in Format::ALL {
        let text = render(&report, None, format);
        assert!(text.contains(&huge), "{format:?}");
    }
}

/// Defect: raw control bytes in a hand-made or foreign report reached stdout with `--format csv`
/// and `--format prom` (only the text table escaped them). Every format now writes such a name as
/// presentation form would, the same in each.
#[test]
fn raw_bytes_in_a_foreign_report_are_escaped_alike_in_every_format() {
    let mut report = hostile_report(3);
    report.names.top[0].key = "bad\u{1b}[2J\u{7}.example".into();
    report.host = "evil\u{1b}]0;x\u{7}".into();
    report.unmatched_exclusions = Some(vec!["*.raw\u{1b}.example".into()]);
    let escaped = r"bad\027[2J\007.example";
    for format in Format::ALL {
        let out = render(&report, None, format);
        assert!(
            out.chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\r'),
            "{format:?} lets a control character through"
        );
        if format == Format::Json {
            let value: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            assert_eq!(value["top"][0]["name"], escaped);
            assert_eq!(value["host"], r"evil\027]0;x\007");
            assert_eq!(value["unmatched_exclusions"][0], r"*.raw\027.example");
        } else if format == Format::Prom {
            // Label values double every backslash; a parser reads back the escaped name.
            assert!(out.contains(&escaped.replace('\\', r"\\")), "{out}");
        } else {
            assert!(out.contains(escaped), "{format:?}: {out}");
            // CSV holds the names only.
            assert!(
                format == Format::Csv || out.contains(r"evil\027]0;x\007"),
                "{format:?}"
            );
        }
    }
    // A report the daemon builds needs nothing escaped and is not copied.
    let clean = hostile_report(3);
    assert!(matches!(printable(&clean), Cow::Borrowed(_)));
}

/// Found by the `report` fuzz target: a host name with a raw DEL byte, merged, rendered as JSON in
/// printable form (`\127`), so it read back as that form rather than the raw byte. Printable form
/// is what every format writes, and rendering it again changes nothing.
#[test]
fn raw_bytes_read_back_in_printable_form_and_stay_so() {
    let mut report = hostile_report(3);
    report.host = "gw1.exc\u{7f}unt.net".into();
    let json = render(&report, None, Format::Json);
    let back = crate::read::parse(json.as_bytes(), std::path::Path::new("x.json"))
        .expect("reads")
        .saved;
    assert_eq!(back.report.host, r"gw1.exc\127unt.net");
    assert_eq!(back.report, printable(&report).into_owned());
    assert_eq!(render(&back.report, None, Format::Json), json);
}
