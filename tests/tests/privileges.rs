//! The daemon runs without root: as an unprivileged user holding only CAP_BPF, CAP_PERFMON and
//! CAP_NET_ADMIN (what dist/dns-counter.service grants) it counts exactly; lacking one of them it
//! says in one line which. The unit file itself passes `systemd-analyze verify` and scores well
//! in `systemd-analyze security`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::prereq::{require_program, workspace_root};
use dns_counter_tests::process::run_bounded;
use dns_counter_tests::report::check_against_workload;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

/// `nobody` on Debian; any uid without a login would do.
const UNPRIVILEGED: u32 = 65_534;
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// systemd-analyze scores exposure from 0 (locked down) to 10; 2.5 and under reads "OK".
const MAX_EXPOSURE: f64 = 2.5;
const UNIT: &str = "dist/dns-counter.service";

/// `setpriv` arguments that become `UNPRIVILEGED` keeping only `capabilities` (as `+bpf,...`),
/// passed on as ambient capabilities the way systemd's AmbientCapabilities= does.
fn as_unprivileged_user(capabilities: &str) -> Vec<String> {
    vec![
        "setpriv".to_owned(),
        format!("--reuid={UNPRIVILEGED}"),
        format!("--regid={UNPRIVILEGED}"),
        "--clear-groups".to_owned(),
        format!("--inh-caps=-all,{capabilities}"),
        format!("--ambient-caps=-all,{capabilities}"),
        "--".to_owned(),
    ]
}

/// A copy of the binary the unprivileged user can reach (the build tree may be closed to it).
fn reachable_copy(dns_counter: &Path, dir: &Path) -> PathBuf {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("open the directory");
    let copy = dir.join("dns-counter");
    fs::copy(dns_counter, &copy).expect("copy the binary");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("make it executable");
    copy
}

/// A report directory the unprivileged user owns.
fn owned_out_dir() -> tempfile::TempDir {
    let out_dir = tempfile::tempdir().expect("report directory");
    chown(out_dir.path(), Some(UNPRIVILEGED), Some(UNPRIVILEGED)).expect("chown the out dir");
    out_dir
}

#[test]
fn an_unprivileged_user_with_the_three_capabilities_counts_exactly() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let bin_dir = tempfile::tempdir().expect("binary directory");
    let dns_counter = reachable_copy(&privileges.dns_counter, bin_dir.path());
    let out_dir = owned_out_dir();
    let workload = Workload::zipf(0x0cab, 2_000, 20_000);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");

    let wrapper = as_unprivileged_user("+bpf,+perfmon,+net_admin");
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut counter = Counter::start_wrapped(
        &dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", "1h"],
        &[],
        &wrapper,
    )
    .expect("start the counter as an unprivileged user");
    let status = fs::read_to_string(format!("/proc/{}/status", counter.pid())).expect("status");
    let uid_line = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .expect("a Uid line");
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|uid| uid == UNPRIVILEGED.to_string()),
        "the daemon runs as {UNPRIVILEGED}: {uid_line}"
    );

    let summary = Dnsperf::new(RESOLVER_V4, &datafile)
        .time_limit(RUN_TIMEOUT)
        .run(&lab)
        .expect("run dnsperf");
    assert_eq!(summary.sent, workload.total(), "dnsperf sent it all");
    let reports = counter.stop().expect("stop the counter");
    assert!(!reports.is_empty(), "it wrote a report");
    if let Err(problems) = check_against_workload(&reports, &workload) {
        panic!(
            "reports do not match the workload:\n{problems}\nstderr:\n{}",
            counter.stderr()
        );
    }
}

#[test]
fn without_cap_perfmon_it_names_that_capability_in_one_line() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let bin_dir = tempfile::tempdir().expect("binary directory");
    let dns_counter = reachable_copy(&privileges.dns_counter, bin_dir.path());
    let out_dir = owned_out_dir();
    let wrapper = as_unprivileged_user("+bpf,+net_admin");
    let mut command = Command::new(&wrapper[0]);
    command
        .args(&wrapper[1..])
        .arg(&dns_counter)
        .args(["run", "--iface", "lo", "--out-dir"])
        .arg(out_dir.path());
    let output = run_bounded(&mut command, RUN_TIMEOUT).expect("run it");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it refuses: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    let (_, missing) = stderr.split_once("missing").expect("names what is missing");
    let (missing, _) = missing.split_once(':').unwrap_or((missing, ""));
    assert_eq!(missing.trim(), "CAP_PERFMON", "only CAP_PERFMON: {stderr}");
    assert_eq!(
        fs::read_dir(out_dir.path()).expect("list").count(),
        0,
        "nothing written"
    );
}

/// The unit with ExecStart pointing at `binary` (verify wants an existing executable).
fn unit_for(binary: &Path, dir: &Path) -> PathBuf {
    let unit = fs::read_to_string(workspace_root().join(UNIT)).expect("read the unit");
    assert!(
        unit.contains("/usr/local/bin/dns-counter "),
        "ExecStart as documented"
    );
    let unit = unit.replace(
        "/usr/local/bin/dns-counter ",
        &format!("{} ", binary.display()),
    );
    let path = dir.join("dns-counter.service");
    fs::write(&path, unit).expect("write the unit");
    path
}

/// The values of every `key=` line of `unit`, each split on whitespace.
fn settings<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .flat_map(str::split_whitespace)
        .collect()
}

#[test]
fn the_service_unit_grants_exactly_the_documented_capabilities() {
    let unit = fs::read_to_string(workspace_root().join(UNIT)).expect("read the unit");
    for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        let mut granted = settings(&unit, key);
        granted.sort_unstable();
        assert_eq!(
            granted,
            ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"],
            "{key}"
        );
    }
    assert_eq!(settings(&unit, "NoNewPrivileges"), ["yes"]);
    assert_eq!(settings(&unit, "ProtectSystem"), ["strict"]);
    let user = settings(&unit, "User");
    assert!(
        !user.is_empty() && user != ["root"],
        "a dedicated user: {user:?}"
    );
    // Under ProtectSystem=strict only the listed paths are writable: the reports must be one.
    let exec_start = settings(&unit, "ExecStart");
    let out_dir = exec_start
        .iter()
        .position(|word| *word == "--out-dir")
        .and_then(|at| exec_start.get(at + 1))
        .expect("ExecStart names --out-dir");
    assert!(
        settings(&unit, "ReadWritePaths").contains(out_dir),
        "ReadWritePaths holds {out_dir}"
    );
    // @system-service alone refuses bpf(2).
    assert!(settings(&unit, "SystemCallFilter").contains(&"bpf"));
}

#[test]
fn the_service_unit_verifies_and_is_locked_down() {
    let Some(systemd_analyze) = require_program("systemd-analyze", "systemd") else {
        return;
    };
    let dir = tempfile::tempdir().expect("unit directory");
    // Any existing executable stands in for the installed binary.
    let unit = unit_for(Path::new("/bin/true"), dir.path());

    let output = run_bounded(
        Command::new(&systemd_analyze).arg("verify").arg(&unit),
        RUN_TIMEOUT,
    )
    .expect("systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "verify: {said}");
    let about_our_unit: Vec<&str> = said
        .lines()
        .filter(|line| line.contains("dns-counter.service"))
        .collect();
    assert!(about_our_unit.is_empty(), "verify complains: {said}");

    let output = run_bounded(
        Command::new(&systemd_analyze)
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&unit),
        RUN_TIMEOUT,
    )
    .expect("systemd-analyze security");
    let said = String::from_utf8_lossy(&output.stdout);
    let exposure =
        overall_exposure(&said).unwrap_or_else(|| panic!("no overall exposure level in: {said}"));
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} above {MAX_EXPOSURE}:\n{said}"
    );
}

/// The figure in `→ Overall exposure level for dns-counter.service: 1.8 OK 🙂`.
fn overall_exposure(security: &str) -> Option<f64> {
    let line = security
        .lines()
        .find(|line| line.contains("Overall exposure level"))?;
    let (_, after) = line.rsplit_once(':')?;
    after.split_whitespace().next()?.parse().ok()
}
