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
        stderr.contains("needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"),
        "{stderr}"
    );
}

/// `setpriv` with every capability dropped, as an unprivileged user would run dns-counter;
/// `None` where setpriv is missing (a failure under CI).
fn unprivileged(args: &[&str]) -> Option<Output> {
    let output = Command::new("setpriv")
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(env!("CARGO_BIN_EXE_dns-counter"))
        .args(args)
        .output();
    match output {
        Ok(output) => Some(output),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "setpriv (util-linux) is missing"
            );
            eprintln!("skipping: setpriv is not installed");
            None
        }
    }
}

/// Defect: `--exclude-file /dev/zero` (and `--org-file`) read until memory ran out. Now it is
/// one line naming the flag, the file and the bound, told before privileges or an interface are
/// needed (no --iface: none is looked up first).
#[test]
fn an_endless_list_file_is_refused_in_one_line() {
    for (flag, what) in [
        ("--exclude-file", "an exclusion list"),
        ("--org-file", "an organisation list"),
    ] {
        let Some(output) = unprivileged(&["run", flag, "/dev/zero"]) else {
            return;
        };
        let stderr = one_line_error(&output);
        assert!(
            stderr.starts_with(&format!(
                "dns-counter: {flag} /dev/zero: the file is larger than 16 MiB, the most {what} may be"
            )),
            "{stderr}"
        );
        let output = dns_counter(&["replay", flag, "/dev/zero", "dns.pcap"]);
        assert!(one_line_error(&output).contains("larger than 16 MiB"));
    }
}

/// A pipe that never ends (a FIFO another process keeps writing) is bounded alike.
#[test]
fn an_endless_pipe_as_an_org_file_is_refused_at_the_bound() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("orgs.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write as _;
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open the FIFO");
            let lines = "fbcdn.net Meta\n".repeat(4096);
            // Until dns-counter closes its end: then the write fails (EPIPE).
            let mut written = 0u64;
            while pipe.write_all(lines.as_bytes()).is_ok() {
                written += lines.len() as u64;
            }
            written
        })
    };
    let output = dns_counter(&["run", "--org-file", fifo.to_str().expect("UTF-8")]);
    let stderr = one_line_error(&output);
    assert!(
        stderr.contains("the file is larger than 16 MiB"),
        "{stderr}"
    );
    let written = writer.join().expect("the writer");
    assert!(written > 16 << 20, "{written}");
}

/// Defect: `--max-names 4294967295` was accepted and failed in map creation with `failed to
/// create map COUNTS_1 ... Argument list too long`, the map named three times and no flag. Now
/// the flag's bound is checked as the command line is read: a usage error (exit 2) whose one
/// message names the flag and the bound.
#[test]
fn max_names_beyond_a_kernel_map_is_refused_naming_the_flag() {
    let output = dns_counter(&["run", "--max-names", "4294967295"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "error: invalid value '4294967295' for '--max-names <N>': more names than a kernel hash map holds: use 1 to 134217728 (two maps of that many take 21 GiB)"
    );
    // The rest is clap's pointer to --help; the message is not repeated.
    assert_eq!(stderr.matches("--max-names").count(), 1, "{stderr}");
    assert!(!stderr.contains("Argument list too long"), "{stderr}");
}

/// A mistyped entry in an exclusion file stops the run before anything is loaded, with the
/// file, the line and the entry meant.
#[test]
fn a_mistyped_exclusion_names_its_line_and_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("exclude.txt");
    std::fs::write(&path, "# ours\ncorp.example\n*cpe-vendor.net\n").expect("write");
    let output = dns_counter(&["run", "--exclude-file", path.to_str().expect("UTF-8")]);
    let stderr = one_line_error(&output);
    assert!(
        stderr.starts_with(&format!(
            "dns-counter: {}:3: cannot exclude \"*cpe-vendor.net\": a * matches a whole first label only: write *.cpe-vendor.net",
            path.display()
        )),
        "{stderr}"
    );
}
