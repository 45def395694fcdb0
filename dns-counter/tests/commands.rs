//! `dns-counter report` and `dns-counter merge`, as an operator runs them: no privileges needed,
//! saved reports in, one of the formats out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dns_counter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dns-counter"))
        .args(args)
        .output()
        .expect("run dns-counter")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dns-counter-report/tests/data")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "should fail: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, not: {stderr}"
    );
    stderr
}

#[test]
fn report_renders_a_saved_report_as_the_daemon_would_have_written_it() {
    let json = data("report.golden.json");
    let json = json.to_str().expect("UTF-8 path");
    assert_eq!(
        stdout(&dns_counter(&["report", json])),
        read("report.golden.txt"),
        "txt is the default"
    );
    assert_eq!(
        stdout(&dns_counter(&["report", json, "--format", "json"])),
        read("report.golden.json")
    );
}

#[test]
fn report_renders_a_merged_report_with_its_bounds() {
    let json = data("merged.golden.json");
    let json = json.to_str().expect("UTF-8 path");
    for (format, golden) in [
        ("json", "merged.golden.json"),
        ("txt", "merged.golden.txt"),
        ("csv", "merged.golden.csv"),
    ] {
        assert_eq!(
            stdout(&dns_counter(&["report", json, "--format", format])),
            read(golden),
            "{format}"
        );
    }
    let prom = stdout(&dns_counter(&["report", json, "--format", "prom"]));
    assert!(
        prom.contains("\ndnscounter_merge_exact{host=\"res1,res2\"} 0\n"),
        "{prom}"
    );
}

#[test]
fn merge_writes_one_report_of_several() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("merged.json");
    let json = data("report.golden.json");
    let json = json.to_str().expect("UTF-8 path");
    let output = dns_counter(&["merge", json, json, "-o", out.to_str().expect("UTF-8 path")]);
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "{output:?}"
    );
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON");
    let input: serde_json::Value = serde_json::from_str(&read("report.golden.json")).expect("JSON");
    assert_eq!(
        merged["totals"]["queries"],
        input["totals"]["queries"].as_u64().expect("queries") * 2
    );
    assert_eq!(merged["host"], input["host"]);
    assert_eq!(
        merged["merge"]["inputs"].as_array().expect("inputs").len(),
        2
    );
    // The same report twice lists the same names: every listed count is exact.
    assert_eq!(merged["merge"]["names"]["max_error"], 0);
    // On stdout without -o, and `report` reads it back.
    let printed = stdout(&dns_counter(&["merge", json, json]));
    assert_eq!(printed, std::fs::read_to_string(&out).expect("written"));
    let again = stdout(&dns_counter(&[
        "report",
        out.to_str().expect("UTF-8 path"),
        "--format",
        "json",
    ]));
    assert_eq!(again, printed);
}

#[test]
fn merge_refuses_a_report_that_does_not_add_up_naming_it() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut value: serde_json::Value =
        serde_json::from_str(&read("report.golden.json")).expect("JSON");
    value["totals"]["counted"] = 1.into();
    let broken = temp.path().join("broken.json");
    std::fs::write(&broken, value.to_string()).expect("write");
    let broken = broken.to_str().expect("UTF-8 path");
    let good = data("report.golden.json");
    let stderr = one_line_error(&dns_counter(&[
        "merge",
        good.to_str().expect("UTF-8 path"),
        broken,
    ]));
    assert!(
        stderr.starts_with(&format!("dns-counter: {broken} does not add up: ")),
        "{stderr}"
    );
    // `report` shows it all the same, warning.
    let output = dns_counter(&["report", broken]);
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .starts_with(&format!("dns-counter: warning: {broken} does not add up: "))
    );
}

#[test]
fn a_missing_or_foreign_file_is_one_line_naming_it() {
    let stderr = one_line_error(&dns_counter(&["report", "/nonexistent/report.json"]));
    assert!(
        stderr.starts_with("dns-counter: cannot read report /nonexistent/report.json: "),
        "{stderr}"
    );
    let txt = data("report.golden.txt");
    let stderr = one_line_error(&dns_counter(&["merge", txt.to_str().expect("UTF-8 path")]));
    assert!(
        stderr.contains("report.golden.txt is not a dns-counter report (JSON): "),
        "{stderr}"
    );
    let output = dns_counter(&["merge"]);
    assert_eq!(output.status.code(), Some(2), "clap: a file is required");
}

#[test]
fn a_v1_report_is_read_as_v2_with_a_note() {
    let output = dns_counter(&[
        "report",
        "--format",
        "json",
        data("report.v1.json").to_str().expect("UTF-8"),
    ]);
    let json = stdout(&output);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["schema"], "dns-counter/report/v3");
    assert_eq!(value["totals"]["packets"], 1_200);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("dns-counter: warning: ")
            && stderr.contains("dns-counter/report/v1 report, read as dns-counter/report/v3"),
        "{stderr}"
    );
    let merged = dns_counter(&[
        "merge",
        data("report.v1.json").to_str().expect("UTF-8"),
        data("report.golden.json").to_str().expect("UTF-8"),
    ]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&merged)).expect("JSON");
    assert_eq!(value["schema"], "dns-counter/report/v3");
    assert_eq!(value["totals"]["packets"], 2_400);
    assert_eq!(
        String::from_utf8_lossy(&merged.stderr)
            .matches("report/v1 report")
            .count(),
        1
    );
}
