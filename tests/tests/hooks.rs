//! `--hook tc`: counting at the tc ingress hook beside programs already on the interface.
//! Resolver hosts often run an XDP filter; dns-counter at tc counts behind it, and as a passive
//! link of the tcx chain (TCX_NEXT, never TC_ACT_OK, which would end the chain) every program
//! behind it still sees every packet.

use std::time::Duration;

use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::report::check_against_workload;
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload, require_privileges};

#[test]
fn behind_an_xdp_program_and_ahead_of_another_tc_program_every_one_counts_every_query() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(0x7c01, 1_000, 10_000);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");
    let args = ["--top", "0", "--interval", "1h"];
    let start = |out_dir: &std::path::Path, hook: &str| {
        let mut all = args.to_vec();
        all.extend(["--hook", hook]);
        Counter::start(&privileges.dns_counter, &lab, out_dir, &all)
            .unwrap_or_else(|err| panic!("start the {hook} counter: {err:#}"))
    };
    // In the order packets meet them: the interface's XDP program, ours at tc, one more at tc
    // (tcx appends each program behind those there).
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("report directory"))
        .collect();
    let mut xdp = start(dirs[0].path(), "xdp");
    let mut ours = start(dirs[1].path(), "tc");
    ours.wait_for_stderr("(tcx mode)", 1, Duration::from_secs(5))
        .expect("attached with tcx");
    let mut behind = start(dirs[2].path(), "tc");

    let summary = Dnsperf::new(RESOLVER_V4, &datafile)
        .time_limit(Duration::from_secs(30))
        .run(&lab)
        .expect("run dnsperf");
    assert_eq!(summary.sent, workload.total(), "dnsperf sent it all");

    for (name, counter) in [
        ("xdp", &mut xdp),
        ("tc", &mut ours),
        ("tc behind", &mut behind),
    ] {
        let reports = counter.stop().expect("stop the counter");
        if let Err(problems) = check_against_workload(&reports, &workload) {
            panic!(
                "the {name} counter's reports do not match the workload:\n{problems}\nstderr:\n{}",
                counter.stderr()
            );
        }
    }
}
