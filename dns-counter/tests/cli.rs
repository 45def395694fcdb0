//! What an operator sees when a run cannot start: one line that says what to fix, and a
//! non-zero exit, before anything is loaded into the kernel.

use std::process::{Command, Output};

fn dns_counter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dns-counter"))
        .args(args)
        .output()
        .expect("run dns-counter")
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
fn a_missing_interface_is_named() {
    let output = dns_counter(&["run", "--iface", "nosuchif9"]);
    let stderr = one_line_error(&output);
    assert!(
        stderr.contains("no such network interface: nosuchif9"),
        "{stderr}"
    );
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let output = dns_counter(&["run", "--interval", "often"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--interval"), "{stderr}");
}

#[test]
fn a_bad_exclude_file_names_the_file() {
    let output = dns_counter(&[
        "run",
        "--iface",
        "lo",
        "--exclude-file",
        "/nonexistent/exclude.txt",
    ]);
    let stderr = one_line_error(&output);
    assert!(stderr.contains("/nonexistent/exclude.txt"), "{stderr}");
}

#[test]
fn without_privileges_it_says_how_to_get_them() {
    // setpriv drops every capability, as an unprivileged user would run it.
    let output = Command::new("setpriv")
        .args([
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            env!("CARGO_BIN_EXE_dns-counter"),
        ])
        .args(["run", "--iface", "lo"])
        .output();
    let Ok(output) = output else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "setpriv (util-linux) is missing"
        );
        eprintln!("skipping: setpriv is not installed");
        return;
    };
    let stderr = one_line_error(&output);
    assert!(
        stderr.contains("needs root, or CAP_BPF and CAP_NET_ADMIN"),
        "{stderr}"
    );
}
