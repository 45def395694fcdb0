//! The lab leaves nothing behind: once a `Lab` is dropped, normally or while a test panics, its
//! namespaces are gone and its unbound is not running.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use dns_counter_tests::lab::{list_netns, process_is_running};
use dns_counter_tests::{Lab, require_lab_tools};

/// What a lab owns on the host, recorded while it is alive.
#[derive(Debug, Clone)]
struct LabFootprint {
    namespaces: [String; 2],
    unbound_pid: u32,
}

impl LabFootprint {
    fn of(lab: &Lab) -> Self {
        Self {
            namespaces: [lab.resolver_ns().to_owned(), lab.client_ns().to_owned()],
            unbound_pid: lab.unbound_pid(),
        }
    }

    fn assert_present(&self) {
        let existing = list_netns().expect("ip netns list");
        for namespace in &self.namespaces {
            assert!(
                existing.contains(namespace),
                "{namespace} missing from {existing:?} while the lab is alive"
            );
        }
        assert!(
            process_is_running(self.unbound_pid, "unbound"),
            "unbound is not running while the lab is alive"
        );
    }

    fn assert_removed(&self) {
        let existing = list_netns().expect("ip netns list");
        for namespace in &self.namespaces {
            assert!(
                !existing.contains(namespace),
                "{namespace} still exists after the lab was dropped"
            );
        }
        assert!(
            !process_is_running(self.unbound_pid, "unbound"),
            "unbound (pid {}) still runs after the lab was dropped",
            self.unbound_pid
        );
    }
}

#[test]
fn dropping_a_lab_removes_its_namespaces_and_unbound() {
    let Some(()) = require_lab_tools() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    let footprint = LabFootprint::of(&lab);
    footprint.assert_present();
    drop(lab);
    footprint.assert_removed();
}

#[test]
fn a_panic_in_the_test_body_still_removes_the_lab() {
    let Some(()) = require_lab_tools() else {
        return;
    };
    let recorded = Mutex::new(None);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let lab = Lab::new().expect("build the lab");
        let footprint = LabFootprint::of(&lab);
        footprint.assert_present();
        *recorded.lock().expect("footprint lock") = Some(footprint);
        panic!("deliberate panic with a live lab (this test checks the cleanup after it)");
    }));
    assert!(outcome.is_err(), "the body panicked");
    let footprint = recorded
        .into_inner()
        .expect("footprint lock")
        .expect("the lab was built before the panic");
    footprint.assert_removed();
}
