//! The lab on its own, without the daemon: unbound answers every query of a workload over IPv4 and
//! IPv6, and dnsperf's summary accounts for all of them.

use std::time::Duration;

use dns_counter_tests::lab::{RESOLVER_V4, RESOLVER_V6};
use dns_counter_tests::{Dnsperf, Lab, Workload, require_lab_tools};

const SEED: u64 = 0x1ab;

#[test]
fn unbound_answers_a_workload_over_both_families() {
    let Some(()) = require_lab_tools() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let workload = Workload::zipf(SEED, 500, 5_000);
    let datafile = lab.work_dir().join("queries");
    workload
        .write_datafile(&datafile)
        .expect("write the datafile");

    for server in [RESOLVER_V4, RESOLVER_V6] {
        let summary = Dnsperf::new(server, &datafile)
            .time_limit(Duration::from_secs(20))
            .run(&lab)
            .expect("run dnsperf");
        assert_eq!(
            summary.sent,
            workload.total(),
            "every query is sent to {server}"
        );
        assert_eq!(
            summary.completed,
            workload.total(),
            "unbound answers every query on {server}"
        );
        assert_eq!(summary.lost, 0, "{server}");
    }
}
