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

/// The saved report `name` as another host would have written it, in `dir`.
fn of_host(name: &str, host: &str, dir: &Path) -> PathBuf {
    let mut value: serde_json::Value = serde_json::from_str(&read(name)).expect("JSON");
    value["host"] = host.into();
    let path = dir.join(format!("{host}.json"));
    std::fs::write(&path, value.to_string()).expect("write");
    path
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
    let other = of_host("report.golden.json", "gw2.example.net", temp.path());
    let other = other.to_str().expect("UTF-8 path");
    let output = dns_counter(&[
        "merge",
        json,
        other,
        "-o",
        out.to_str().expect("UTF-8 path"),
    ]);
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
    assert_eq!(merged["host"], "gw1.example.net,gw2.example.net");
    assert_eq!(
        merged["merge"]["inputs"].as_array().expect("inputs").len(),
        2
    );
    // Two hosts that saw the same names list the same names: every listed count is exact.
    assert_eq!(merged["merge"]["names"]["max_error"], 0);
    // On stdout without -o, and `report` reads it back.
    let printed = stdout(&dns_counter(&["merge", json, other]));
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
    let temp = tempfile::tempdir().expect("temp dir");
    let other = of_host("report.golden.json", "gw2.example.net", temp.path());
    let merged = dns_counter(&[
        "merge",
        data("report.v1.json").to_str().expect("UTF-8"),
        other.to_str().expect("UTF-8"),
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

/// Defect: merging the same report 100 times succeeded and multiplied every count.
#[test]
fn merge_counts_a_report_given_twice_once_and_refuses_overlapping_ones() {
    let temp = tempfile::tempdir().expect("temp dir");
    let json = data("report.golden.json");
    let copy = temp.path().join("copy.json");
    std::fs::copy(&json, &copy).expect("copy");
    let output = dns_counter(&[
        "merge",
        json.to_str().expect("UTF-8"),
        copy.to_str().expect("UTF-8"),
    ]);
    let merged: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let input: serde_json::Value = serde_json::from_str(&read("report.golden.json")).expect("JSON");
    assert_eq!(merged["totals"], input["totals"], "counted once");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is the same report as {}: skipped",
            copy.display(),
            json.display()
        )),
        "{stderr}"
    );

    // The same host and interface over part of the same time: a second run's report.
    let mut value = input.clone();
    value["start"] = "2026-11-22T00:59:30Z".into();
    value["seconds"] = 90.into();
    let changed = temp.path().join("changed.json");
    std::fs::write(&changed, value.to_string()).expect("write");
    let stderr = one_line_error(&dns_counter(&[
        "merge",
        json.to_str().expect("UTF-8"),
        changed.to_str().expect("UTF-8"),
    ]));
    assert!(
        stderr.contains(&format!(
            "{} and {} both count gw1.example.net on vr0",
            json.display(),
            changed.display()
        )) && stderr.contains("would count twice"),
        "{stderr}"
    );
}

#[test]
fn merge_warns_when_inputs_were_counted_with_different_settings() {
    let temp = tempfile::tempdir().expect("temp dir");
    let with_settings = |host: &str, exclusions: &str| {
        let mut value: serde_json::Value =
            serde_json::from_str(&read("report.golden.json")).expect("JSON");
        value["host"] = host.into();
        value["settings"] = serde_json::json!({
            "version": "0.1.0",
            "ports": [53],
            "top": 10,
            "max_names": 1_048_576,
            "exclusions": exclusions,
            "orgs": null,
            "grouping": "psl",
        });
        let path = temp.path().join(format!("{host}.json"));
        std::fs::write(&path, value.to_string()).expect("write");
        path
    };
    let first = with_settings("gw1.example.net", "sha256:aa");
    let second = with_settings("gw2.example.net", "sha256:bb");
    let output = dns_counter(&[
        "merge",
        first.to_str().expect("UTF-8"),
        second.to_str().expect("UTF-8"),
    ]);
    let merged: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(
        merged["merge"]["differing_settings"],
        serde_json::json!(["exclusions"])
    );
    assert!(merged.get("settings").is_none(), "no common settings");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{} and {} were counted with different exclusions (sha256:aa and sha256:bb)",
            first.display(),
            second.display()
        )),
        "{stderr}"
    );
}
