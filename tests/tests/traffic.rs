//! The traffic generator at full speed through the counter: every frame it says the kernel took
//! must be counted, name by name and qtype by qtype, with nothing lost on the veth.

use std::time::Duration;

use dns_counter_tests::lab::RESOLVER_IFACE;
use dns_counter_tests::report::check_against_workload;
use dns_counter_tests::traffic::{self, Frames, LinkCounters, QUIET_V4, SendPlan};
use dns_counter_tests::{Counter, Lab, Workload, require_privileges};

const DISTINCT_NAMES: usize = 5_000;
const TOTAL_QUERIES: u64 = 200_000;
/// Far longer than the test, so normally the only report is the one written on SIGTERM (a run
/// straddling a boundary gets two, which the check sums).
const INTERVAL: &str = "600s";
const SEED: u64 = 0x7a_ff1c;

#[test]
fn frames_sent_at_full_speed_are_all_counted() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(SEED, DISTINCT_NAMES, TOTAL_QUERIES);
    let frames = Frames::queries(&lab, QUIET_V4, workload.queries()).expect("build the frames");
    assert_eq!(frames.len() as u64, TOTAL_QUERIES);
    let out_dir = tempfile::tempdir().expect("report directory");
    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", INTERVAL],
    )
    .expect("start the counter");

    // The receiving side in its own thread on another CPU: the sender then outruns it now and
    // then, and the veth's full ring must hold frames back rather than drop them.
    if dns_counter_tests::prereq::online_cpus() >= 2 {
        traffic::receive_in_thread_on_cpu(&lab, 1).expect("threaded NAPI on CPU 1");
    }
    let before = LinkCounters::read(lab.resolver_ns(), RESOLVER_IFACE).expect("read vres counters");
    let plan = SendPlan {
        count: TOTAL_QUERIES,
        rate_pps: None,
        time_limit: Duration::from_secs(20),
        cpu: 0,
    };
    let sent = traffic::send(&lab, &frames, &plan).expect("send the frames");
    assert_eq!(
        sent.frames, TOTAL_QUERIES,
        "the generator sent everything in time: {sent:?}"
    );
    // Frames still queued for the receiving side would miss a counter stopped now.
    let received =
        traffic::wait_until_received(&lab, &before, TOTAL_QUERIES, Duration::from_secs(10))
            .expect("vres receives every frame sent");
    let reports = counter.stop().expect("stop the counter");

    if let Err(problems) = check_against_workload(&reports, &workload) {
        panic!(
            "reports do not match the frames sent ({sent:?}, vres {received:?}):\n{problems}\ncounter stderr:\n{}",
            counter.stderr()
        );
    }
}
