//! Saved reports read back (for `dns-counter report` and `dns-counter merge`): this schema, and
//! `dns-counter/report/v1`, converted.

use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use dns_counter_common::{Reason, reason::ReasonKind};
use serde_json::{Map, Value};

use crate::model::{self, InvariantError, MergeInfo, Report, SavedReport, Uncounted};

/// The largest report file read: a report of every name of a full default table (1,000,000
/// names) is about 100 MB of JSON.
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

/// Why a saved report cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read report {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is larger than {} MiB: not a dns-counter report", path.display(), MAX_REPORT_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("{} is not a dns-counter report (JSON)", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} is a {found:?} report; this dns-counter reads {:?}, {:?} and {:?}", path.display(), model::SCHEMA, model::SCHEMA_V2, model::SCHEMA_V1)]
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

/// A saved report as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub saved: SavedReport,
    /// The schema the file was written in, when it was converted from an older one.
    pub converted_from: Option<&'static str>,
}

/// Reads a report written by `run`, `replay` or `merge`, checking its schema (not its sums: see
/// [`check`]). A v1 report is converted (see [`parse`]).
pub fn read(path: &Path) -> Result<Read, ReadError> {
    let read_error = |source| ReadError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_REPORT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
        });
    }
    parse(&bytes, path)
}

/// A report from its JSON; `path` only names it in errors. A `dns-counter/report/v1` report
/// (whose `totals.queries` counted every packet) is converted: its `queries` becomes `packets`,
/// its reasons are split into `not_queries` and `uncounted`, `queries` is what was counted,
/// excluded or uncounted as a query, and every `share` is recomputed over those queries.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Read, ReadError> {
    let parse_error = |source| ReadError::Parse {
        path: path.to_owned(),
        source,
    };
    // The schema, and the `merge` section as a small value, in one pass that skips the rest.
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        schema: String,
        #[serde(default)]
        merge: Option<Value>,
    }
    let Head { schema, merge } = serde_json::from_slice(bytes).map_err(parse_error)?;
    let (saved, converted_from) = match schema.as_str() {
        // Straight into the model: a map of reasons keeps its order only that way. The report
        // and its `merge` section apart: through `SavedReport`, which flattens the report, the
        // report's own flattened names list would be buffered twice.
        // v3 only adds to v2 (sub-second times, `attached`): a v2 report reads as it is.
        model::SCHEMA | model::SCHEMA_V2 => {
            let mut report: Report = serde_json::from_slice(bytes).map_err(parse_error)?;
            let merge: Option<MergeInfo> = merge
                .map(serde_json::from_value)
                .transpose()
                .map_err(parse_error)?;
            let converted_from = (report.schema == model::SCHEMA_V2).then_some(model::SCHEMA_V2);
            report.schema = model::SCHEMA.to_owned();
            (SavedReport { report, merge }, converted_from)
        }
        model::SCHEMA_V1 => {
            let mut value: Value = serde_json::from_slice(bytes).map_err(parse_error)?;
            v1_totals_to_v2(&mut value);
            let mut saved: SavedReport = serde_json::from_value(value).map_err(parse_error)?;
            saved.report.schema = model::SCHEMA.to_owned();
            saved.report.reshare();
            kernel_order(&mut saved.report.totals.not_queries);
            kernel_order(&mut saved.report.totals.uncounted);
            (saved, Some(model::SCHEMA_V1))
        }
        _ => {
            return Err(ReadError::Schema {
                path: path.to_owned(),
                found: schema,
            });
        }
    };
    // A merged report's inputs too: merge reads their times to tell overlapping inputs apart.
    let inputs = saved.merge.iter().flat_map(|merge| &merge.inputs);
    let times = [("start", &saved.report.start), ("end", &saved.report.end)]
        .into_iter()
        .chain(inputs.flat_map(|input| {
            [
                ("merge.inputs start", &input.start),
                ("merge.inputs end", &input.end),
            ]
        }));
    for (field, value) in times {
        if humantime::parse_rfc3339(value).is_err() {
            return Err(ReadError::BadTime {
                path: path.to_owned(),
                field,
                value: value.clone(),
            });
        }
    }
    Ok(Read {
        saved,
        converted_from,
    })
}

/// v1 `totals` as v2 has them. Leaves what is not a v1 report's shape for serde to refuse.
fn v1_totals_to_v2(report: &mut Value) {
    let Some(totals) = report.get_mut("totals").and_then(Value::as_object_mut) else {
        return;
    };
    let number = |totals: &Map<String, Value>, key: &str| {
        totals.get(key).and_then(Value::as_u64).unwrap_or_default()
    };
    let mut not_queries = Map::new();
    let mut uncounted = Map::new();
    let mut uncounted_sum = 0u128;
    if let Some(Value::Object(reasons)) = totals.remove("uncounted") {
        for (name, count) in reasons {
            // A reason this version does not know cannot have been a query it knows of.
            match Reason::from_name(&name).map(Reason::kind) {
                Some(ReasonKind::Query) => {
                    uncounted_sum += u128::from(count.as_u64().unwrap_or_default());
                    uncounted.insert(name, count);
                }
                _ => {
                    not_queries.insert(name, count);
                }
            }
        }
    }
    let queries = u128::from(number(totals, "counted"))
        + u128::from(number(totals, "excluded"))
        + uncounted_sum;
    if let Some(packets) = totals.remove("queries") {
        totals.insert("packets".into(), packets);
    }
    totals.insert(
        "queries".into(),
        u64::try_from(queries).unwrap_or(u64::MAX).into(),
    );
    totals.insert("not_queries".into(), Value::Object(not_queries));
    totals.insert("uncounted".into(), Value::Object(uncounted));
}

/// Reasons in the kernel's order, ones it does not know after them by name: the order a v1
/// writer used, lost on the way through a JSON value.
fn kernel_order(reasons: &mut Uncounted) {
    reasons.0.sort_by_key(|(name, _)| {
        (
            Reason::from_name(name).map_or(u32::MAX, Reason::index),
            name.clone(),
        )
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixture_report;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// A v1 report (as v1 wrote the golden file) reads as the v2 report of the same counts:
    /// packets from v1's `queries`, the reasons split by kind, shares over queries.
    #[test]
    fn a_v1_report_reads_as_v2() {
        let v1 = std::fs::read_to_string(data("report.v1.json")).expect("v1 golden");
        assert!(v1.contains(r#""schema": "dns-counter/report/v1""#));
        // The v1 golden's fixture named reasons that never existed; the kernel's names instead.
        let v1 = v1
            .replace("not_ipv4_or_ipv6", "not_ip")
            .replace("not_udp_port_53", "other_port")
            .replace(r#""truncated""#, r#""truncated_frame""#)
            .replace("not_a_query", "response")
            .replace("bad_name", "label_too_long");
        let read = parse(v1.as_bytes(), Path::new("v1.json")).expect("reads");
        assert_eq!(read.converted_from, Some(model::SCHEMA_V1));
        assert_eq!(read.saved.report.check_invariants(), Ok(()));
        let mut expected = fixture_report(9);
        // v1 wrote whole seconds and knew nothing of attachments or unmatched exclusions.
        expected.start = "2026-11-22T01:00:00Z".into();
        expected.end = "2026-11-22T01:01:00Z".into();
        expected.attached.clear();
        expected.unmatched_exclusions = None;
        // v1 listed only the reasons it was given; v2 lists every reason of each kind.
        for reasons in [
            &mut expected.totals.not_queries,
            &mut expected.totals.uncounted,
        ] {
            reasons
                .0
                .retain(|(name, _)| v1.contains(&format!("\"{name}\"")));
        }
        assert_eq!(read.saved.report, expected);
    }

    #[test]
    fn a_v1_report_with_unknown_reasons_still_adds_up() {
        let read = read(&data("report.v1.json")).expect("reads");
        let report = &read.saved.report;
        assert_eq!(report.schema, model::SCHEMA);
        assert_eq!(report.check_invariants(), Ok(()));
        // Reasons this version does not know were not queries it counted.
        assert_eq!(report.totals.packets, 1_200);
        assert_eq!(
            report.totals.queries,
            report.totals.counted + report.totals.excluded
        );
        assert_eq!(
            report.names.top[0].share,
            model::share(report.names.top[0].count, report.totals.queries)
        );
    }

    /// Found by fuzzing: merge read a merged input's times that reading had never checked.
    #[test]
    fn a_merged_report_with_a_bad_input_time_is_refused() {
        let text = std::fs::read_to_string(data("merged.golden.json")).expect("golden");
        let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        value["merge"]["inputs"][1]["end"] = "2026-11-22T01:01:00:".into();
        let err = parse(value.to_string().as_bytes(), Path::new("m.json")).unwrap_err();
        assert!(
            matches!(
                &err,
                ReadError::BadTime {
                    field: "merge.inputs end",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_merged_v1_report_reads_and_merges_again() {
        let read = read(&data("merged.v1.json")).expect("reads");
        assert_eq!(read.converted_from, Some(model::SCHEMA_V1));
        assert_eq!(read.saved.report.check_invariants(), Ok(()));
        assert!(read.saved.merge.is_some());
        // Given twice, it counts once.
        let (merged, warnings) =
            crate::merge::merge(&[read.saved.clone(), read.saved.clone()]).expect("merges");
        assert_eq!(merged.report.check_invariants(), Ok(()));
        assert_eq!(
            warnings,
            [crate::merge::Warning::Duplicate {
                input: 2,
                same_as: 1
            }]
        );
        assert_eq!(merged.report.totals, read.saved.report.totals);
    }

    /// v2 reports (as v2 wrote the golden files) read as v3 reports of the same counts.
    #[test]
    fn a_v2_report_reads_as_v3() {
        for file in ["report.v2.json", "merged.v2.json"] {
            let v2 = std::fs::read_to_string(data(file)).expect("v2 golden");
            assert!(
                v2.contains(r#""schema": "dns-counter/report/v2""#),
                "{file}"
            );
            let read = parse(v2.as_bytes(), Path::new(file)).expect("reads");
            assert_eq!(read.converted_from, Some(model::SCHEMA_V2));
            let report = &read.saved.report;
            assert_eq!(report.schema, model::SCHEMA);
            assert_eq!(report.check_invariants(), Ok(()));
            assert!(report.attached.is_empty());
            let back = serde_json::to_value(report).expect("to json");
            let mut original: Value = serde_json::from_str(&v2).expect("json");
            original["schema"] = model::SCHEMA.into();
            original.as_object_mut().expect("object").remove("merge");
            assert_eq!(back, original, "{file}");
        }
    }

    #[test]
    fn an_unknown_schema_is_refused_naming_those_it_reads() {
        let err = parse(
            br#"{"schema": "dns-counter/report/v9"}"#,
            Path::new("x.json"),
        )
        .expect_err("refused");
        assert!(
            err.to_string()
                .contains("reads \"dns-counter/report/v3\", \"dns-counter/report/v2\" and \"dns-counter/report/v1\""),
            "{err}"
        );
    }
}
