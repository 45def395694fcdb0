//! The report as a node_exporter textfile (`.prom`): the Prometheus text exposition format, every
//! value a gauge of the report's interval (a report's counts start from zero each interval, so
//! none is a counter and none ends in `_total`), no timestamps (the textfile collector refuses
//! them), and a `host` label on every sample.
//!
//! Label values are escaped as the format says: `\` as `\\`, `"` as `\"`, a line feed as `\n`;
//! nothing else needs it. Metric and label names are fixed here and valid. The metrics are listed
//! in the README.

use std::fmt::Write as _;

use crate::model::{Entry, ListKind, MergeInfo, Ranked, Report};

/// The report as a Prometheus textfile.
pub fn to_prom(report: &Report, merge: Option<&MergeInfo>) -> String {
    let mut out = Exposition {
        text: String::new(),
        host: &report.host,
    };
    let totals = &report.totals;
    let one = |value: String| vec![Sample { label: None, value }];
    let count = |value: u64| one(value.to_string());
    let timestamp = |time: &str| {
        humantime::parse_rfc3339(time)
            .ok()
            .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
    };

    out.family(
        "dnscounter_report_info",
        "The report's interfaces, comma-separated; always 1.",
        vec![Sample {
            label: Some(("interfaces", report.interfaces.join(","))),
            value: "1".into(),
        }],
    );
    out.family(
        "dnscounter_attached_seconds",
        "How long the program was attached to each interface in the interval.",
        report
            .attached
            .iter()
            .map(|each| Sample {
                label: Some(("interface", each.interface.clone())),
                value: float(each.seconds),
            })
            .collect(),
    );
    if let Some(start) = timestamp(&report.start) {
        out.family(
            "dnscounter_report_start_timestamp_seconds",
            "Start of the report's interval, Unix time.",
            one(float(start.as_secs_f64())),
        );
    }
    if let Some(end) = timestamp(&report.end) {
        out.family(
            "dnscounter_report_end_timestamp_seconds",
            "End of the report's interval, Unix time.",
            one(float(end.as_secs_f64())),
        );
    }
    out.family(
        "dnscounter_report_duration_seconds",
        "Length of the report's interval.",
        one(float(report.seconds)),
    );
    out.family(
        "dnscounter_packets",
        "Packets the XDP program looked at in the interval.",
        count(totals.packets),
    );
    out.family(
        "dnscounter_not_query_packets",
        "Packets that were not DNS queries to a counted port, by reason.",
        labelled(
            "reason",
            totals
                .not_queries
                .0
                .iter()
                .map(|(reason, count)| (reason.as_str(), *count)),
        ),
    );
    out.family(
        "dnscounter_queries",
        "DNS queries to a counted port (QR=0 after a complete header); every share is over these.",
        count(totals.queries),
    );
    out.family(
        "dnscounter_counted_queries",
        "Queries counted by name, excluded names not included.",
        count(totals.counted),
    );
    out.family(
        "dnscounter_excluded_queries",
        "Queries for excluded names.",
        count(totals.excluded),
    );
    out.family(
        "dnscounter_uncounted_queries",
        "Queries not counted by name, by reason.",
        labelled(
            "reason",
            totals
                .uncounted
                .0
                .iter()
                .map(|(reason, count)| (reason.as_str(), *count)),
        ),
    );
    out.family(
        "dnscounter_distinct_names",
        "Distinct names counted, excluded names not included.",
        count(totals.distinct_names),
    );
    out.list(&report.names, &NAMES);
    out.family(
        "dnscounter_qtype_queries",
        "Queries counted by name, by query type.",
        labelled(
            "qtype",
            report
                .qtypes
                .iter()
                .map(|qtype| (qtype.qtype.as_str(), qtype.count)),
        ),
    );
    out.family(
        "dnscounter_excluded_name_queries",
        "Queries for each excluded name seen.",
        labelled(
            "name",
            report
                .excluded
                .iter()
                .map(|entry| (entry.name.as_str(), entry.count)),
        ),
    );
    if let Some(unmatched) = &report.unmatched_exclusions {
        out.family(
            "dnscounter_unmatched_exclusions",
            "Exclusions (names and wildcards) that excluded no query in the interval.",
            count(unmatched.len() as u64),
        );
    }

    if let Some(domains) = &report.domains {
        out.list(&domains.list, &DOMAINS);
    }
    if let Some(orgs) = &report.orgs {
        out.list(&orgs.list, &ORGS);
        out.family(
            "dnscounter_unassigned_queries",
            "Queries for names of no organisation.",
            count(orgs.unassigned.count),
        );
        out.family(
            "dnscounter_unassigned_names",
            "Distinct names of no organisation.",
            count(orgs.unassigned.names),
        );
    }
    if let Some(clients) = &report.clients {
        out.list(&clients.list, &CLIENTS);
        out.family(
            "dnscounter_untracked_client_queries",
            "Queries whose client prefix could not be recorded.",
            count(clients.untracked),
        );
    }

    if let Some(merge) = merge {
        out.family(
            "dnscounter_merge_inputs",
            "Reports merged into this one.",
            count(merge.inputs.len() as u64),
        );
        out.family(
            "dnscounter_merge_exact",
            "1 if every count of the merged report is exact, else 0.",
            count(merge.exact.into()),
        );
        let lists = [
            ("names", Some(&merge.names)),
            ("domains", merge.domains.as_ref()),
            ("orgs", merge.orgs.as_ref()),
            ("clients", merge.clients.as_ref()),
        ];
        out.family(
            "dnscounter_merge_max_error_queries",
            "The most a listed count of the merged report is low by, by list.",
            labelled(
                "list",
                lists
                    .iter()
                    .filter_map(|(list, bounds)| Some((*list, bounds.as_ref()?.max_error))),
            ),
        );
        out.family(
            "dnscounter_merge_distinct_names_max_error",
            "The most the merged report's distinct names are low by.",
            count(merge.distinct_names_max_error),
        );
    }
    out.text
}

/// What the families of a list say: its entries' queries and (in lists that count them) names,
/// then the entries not listed, their queries and their names.
struct ListHelp {
    queries: &'static str,
    names: &'static str,
    unlisted: &'static str,
    unlisted_queries: &'static str,
    unlisted_names: &'static str,
}

const NAMES: ListHelp = ListHelp {
    queries: "Queries for each listed (top) name.",
    names: "",
    unlisted: "Names counted but not listed.",
    unlisted_queries: "Queries for names counted but not listed.",
    unlisted_names: "",
};

const DOMAINS: ListHelp = ListHelp {
    queries: "Queries for each listed domain.",
    names: "Distinct names under each listed domain.",
    unlisted: "Domains counted but not listed.",
    unlisted_queries: "Queries for domains not listed.",
    unlisted_names: "Distinct names under domains not listed.",
};

const ORGS: ListHelp = ListHelp {
    queries: "Queries for each listed organisation.",
    names: "Distinct names of each listed organisation.",
    unlisted: "Organisations counted but not listed.",
    unlisted_queries: "Queries for organisations not listed.",
    unlisted_names: "Distinct names of organisations not listed.",
};

const CLIENTS: ListHelp = ListHelp {
    queries: "Queries from each listed client prefix.",
    names: "",
    unlisted: "Client prefixes counted but not listed.",
    unlisted_queries: "Queries from client prefixes not listed.",
    unlisted_names: "",
};

/// One sample: the `host` label, at most one more, and the value as written.
struct Sample {
    label: Option<(&'static str, String)>,
    value: String,
}

impl Sample {
    /// A sample with no label but `host`.
    fn of(value: u64) -> Self {
        Self {
            label: None,
            value: value.to_string(),
        }
    }
}

fn labelled<'a>(label: &'static str, values: impl Iterator<Item = (&'a str, u64)>) -> Vec<Sample> {
    values
        .map(|(key, value)| Sample {
            label: Some((label, key.to_owned())),
            value: value.to_string(),
        })
        .collect()
}

/// A float as the exposition format writes it (Go's `ParseFloat` reads it back).
fn float(value: f64) -> String {
    match value {
        value if value.is_nan() => "NaN".to_owned(),
        f64::INFINITY => "+Inf".to_owned(),
        f64::NEG_INFINITY => "-Inf".to_owned(),
        value => value.to_string(),
    }
}

struct Exposition<'a> {
    text: String,
    host: &'a str,
}

impl Exposition<'_> {
    /// A list's families, named after its key: `dnscounter_domain_queries` (labelled `domain`),
    /// `dnscounter_domain_names`, `dnscounter_unlisted_domains`, ...
    fn list<K: ListKind>(&mut self, list: &Ranked<K>, help: &ListHelp) {
        let key = K::KEY;
        let listed = |value: fn(&Entry) -> u64| {
            let values = list
                .top
                .iter()
                .map(|entry| (entry.key.as_str(), value(entry)));
            labelled(key, values)
        };
        let one = |value: u64| vec![Sample::of(value)];
        self.family(
            &format!("dnscounter_{key}_queries"),
            help.queries,
            listed(|entry| entry.count),
        );
        if K::NAMES {
            let names = listed(|entry| entry.names);
            self.family(&format!("dnscounter_{key}_names"), help.names, names);
        }
        let rest = &list.rest;
        let unlisted = format!("dnscounter_unlisted_{key}");
        self.family(&format!("{unlisted}s"), help.unlisted, one(rest.keys));
        let queries = one(rest.count);
        self.family(
            &format!("{unlisted}_queries"),
            help.unlisted_queries,
            queries,
        );
        if K::NAMES {
            let names = one(rest.names);
            self.family(&format!("{unlisted}_names"), help.unlisted_names, names);
        }
    }

    /// Writes a gauge family: HELP, TYPE and its samples; nothing if it has no samples.
    fn family(&mut self, name: &str, help: &str, samples: Vec<Sample>) {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for sample in samples {
            self.text.push_str(name);
            self.text.push_str("{host=\"");
            escape_label_value(&mut self.text, self.host);
            self.text.push('"');
            if let Some((label, value)) = &sample.label {
                let _ = write!(self.text, ",{label}=\"");
                escape_label_value(&mut self.text, value);
                self.text.push('"');
            }
            let _ = writeln!(self.text, "}} {}", sample.value);
        }
    }
}

/// A label value as the text format writes it between double quotes.
pub(super) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
