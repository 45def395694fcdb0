//! The compiled XDP program, run by the kernel through BPF_PROG_TEST_RUN: it counts what the
//! shared walk counts on the host, says why for the rest, always passes the packet on, keeps
//! counting past `--max-names` under a reason, and loses nothing across interval flips.

use std::collections::HashMap;

use dns_counter::kernel::{drain::Drainer, loader};
use dns_counter_common::testing as frames;
use dns_counter_common::{Reason, maps::NAME_WORDS, walk::parse_query};
use dns_counter_report::{
    analysis::{ReportOptions, build_report, exclude::Exclusions},
    interval::{Interval, Meta},
};
use dns_counter_tests::require_root;
use dns_counter_tests::test_run::{drain, program, run};

fn reason_count(interval: &Interval, reason: &str) -> u64 {
    interval
        .uncounted
        .iter()
        .find(|(counted, _)| counted.name() == reason)
        .map_or(0, |(_, count)| *count)
}

/// What the host walk makes of the same frames: counts per folded wire name and per reason.
fn host_counts(frames: &[Vec<u8>]) -> (HashMap<Vec<u8>, u64>, HashMap<&'static str, u64>) {
    let mut names = HashMap::new();
    let mut reasons = HashMap::new();
    for frame in frames {
        let mut words = [0u64; NAME_WORDS];
        match parse_query(frame.as_slice(), |port| port == 53, [1, 2], &mut words) {
            Ok(query) => {
                let name: Vec<u8> = words
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .take(query.name_len)
                    .collect();
                *names.entry(name).or_insert(0) += 1;
            }
            Err(reason) => *reasons.entry(reason.name()).or_insert(0) += 1,
        }
    }
    (names, reasons)
}

#[test]
fn kernel_counts_what_the_host_walk_counts() {
    let Some(()) = require_root() else { return };
    let mut loaded = loader::load(100_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
    // The frames the host differential test compares with hickory-proto.
    let frames: Vec<Vec<u8>> =
        frames::generated(frames::DIFFERENTIAL_FRAMES, frames::DIFFERENTIAL_SEED)
            .into_iter()
            .map(|g| g.frame)
            .filter(|f| f.len() >= 14)
            .collect();
    for frame in &frames {
        run(program(&loaded), frame, 1);
    }
    let interval = drain(&mut drainer);
    let (want_names, want_reasons) = host_counts(&frames);
    assert_eq!(interval.packets, frames.len() as u64);
    let got_names: HashMap<Vec<u8>, u64> = interval.names.iter().cloned().collect();
    assert_eq!(got_names.len(), want_names.len(), "distinct names");
    assert_eq!(got_names, want_names);
    for reason in Reason::ALL {
        let want = want_reasons.get(reason.name()).copied().unwrap_or(0);
        assert_eq!(
            reason_count(&interval, reason.name()),
            want,
            "{}",
            reason.name()
        );
    }
    assert!(
        want_reasons.len() >= 5,
        "the frames exercise too few reasons: {want_reasons:?}"
    );
}

#[test]
fn names_past_max_names_are_counted_under_a_reason_and_the_report_adds_up() {
    let Some(()) = require_root() else { return };
    const MAX_NAMES: u32 = 100;
    let mut loaded = loader::load(MAX_NAMES).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let frames: Vec<Vec<u8>> = (0..300)
        .map(|i| frames::query_frame(&format!("n{i}.example"), 1))
        .collect();
    for frame in &frames {
        run(program(&loaded), frame, 2);
    }
    let interval = drain(&mut drainer);
    assert_eq!(interval.names.len(), MAX_NAMES as usize);
    assert!(
        interval.names.iter().all(|(_, count)| *count == 2),
        "{:?}",
        interval.names
    );
    assert_eq!(
        reason_count(&interval, "name_table_full"),
        2 * (300 - u64::from(MAX_NAMES))
    );
    let exclusions = Exclusions::default();
    let meta = Meta {
        host: "test".into(),
        interfaces: vec![],
    };
    let report = build_report(&interval, &meta, &ReportOptions::new(10, &exclusions));
    report.check_invariants().expect("report adds up");
    assert_eq!(report.totals.queries, 600);
    assert_eq!(report.totals.counted, 200);

    // The next interval starts with an empty table.
    run(program(&loaded), &frames[299], 1);
    let interval = drain(&mut drainer);
    assert_eq!(interval.names.len(), 1);
    assert_eq!(reason_count(&interval, "name_table_full"), 0);
}

#[test]
fn no_query_is_lost_or_counted_twice_across_flips() {
    let Some(()) = require_root() else { return };
    const CALLS: u32 = 400;
    const REPEAT: u32 = 500;
    let mut loaded = loader::load(1_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let frame = frames::query_frame("www.example.com", 1);
    let mut intervals = Vec::new();
    std::thread::scope(|scope| {
        let program = program(&loaded);
        let sender = scope.spawn(|| {
            for _ in 0..CALLS {
                run(program, &frame, REPEAT);
            }
        });
        while !sender.is_finished() {
            intervals.push(drain(&mut drainer));
        }
        sender.join().expect("sender");
    });
    intervals.push(drain(&mut drainer));
    let busy = intervals.iter().filter(|i| i.packets > 0).count();
    assert!(
        busy >= 3,
        "flips happened while counting in only {busy} intervals"
    );
    let total: u64 = intervals
        .iter()
        .flat_map(|i| &i.names)
        .map(|(_, count)| count)
        .sum();
    let packets: u64 = intervals.iter().map(|i| i.packets).sum();
    assert_eq!(total, u64::from(CALLS * REPEAT));
    assert_eq!(packets, u64::from(CALLS * REPEAT));
}

#[test]
fn only_the_ports_named_are_counted() {
    let Some(()) = require_root() else { return };
    let mut loaded = loader::load(1_000).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let to_port = |port: u16| {
        let mut frame = frames::query_frame("www.example.com", 1);
        frame[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&port.to_be_bytes());
        frame
    };
    run(program(&loaded), &to_port(53), 1);
    run(program(&loaded), &to_port(8053), 1);
    let interval = drain(&mut drainer);
    assert_eq!(
        (interval.names.len(), reason_count(&interval, "other_port")),
        (1, 1),
        "default: port 53 only"
    );

    loaded.count_ports(&[8053, 5353]).expect("set ports");
    for port in [53, 8053, 5353] {
        run(program(&loaded), &to_port(port), 1);
    }
    let interval = drain(&mut drainer);
    assert_eq!(
        interval.names,
        vec![(b"\x03www\x07example\x03com\x00".to_vec(), 2)]
    );
    assert_eq!(reason_count(&interval, "other_port"), 1);
}

/// Records of the program's aya-log ring, kept for a test to read.
#[derive(Clone, Default)]
struct Kept(std::sync::Arc<std::sync::Mutex<Vec<(log::Level, String)>>>);

impl log::Log for Kept {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .expect("not poisoned")
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

impl Kept {
    /// The warnings kept so far that contain `text`, taken.
    fn take_matching(&self, text: &str) -> usize {
        let mut records = self.0.lock().expect("not poisoned");
        let matching = records
            .iter()
            .filter(|(level, message)| *level == log::Level::Warn && message.contains(text))
            .count();
        records.clear();
        matching
    }
}

/// A full name table is said through aya-log once an interval (per CPU), not for every query it
/// leaves uncounted by name; a new interval says it again.
#[test]
fn a_full_name_table_is_logged_once_an_interval() {
    let Some(()) = require_root() else { return };
    const MAX_NAMES: u32 = 10;
    const FULL: &str = "the name table is full";
    let mut loaded = loader::load(MAX_NAMES).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let kept = Kept::default();
    let mut logger =
        aya_log::EbpfLogger::init_with_logger(&mut loaded.ebpf, kept.clone()).expect("log ring");
    let cpus = dns_counter_tests::prereq::online_cpus();
    let frames: Vec<Vec<u8>> = (0..200)
        .map(|i| frames::query_frame(&format!("n{i}.example"), 1))
        .collect();

    // Within the table: nothing to say.
    for frame in &frames[..MAX_NAMES as usize] {
        run(program(&loaded), frame, 1);
    }
    logger.flush();
    assert_eq!(kept.take_matching(FULL), 0);
    // Said at least once, at most once per CPU.
    let mut said_once = |frames: &[Vec<u8>]| {
        for frame in frames {
            run(program(&loaded), frame, 1);
        }
        logger.flush();
        let said = kept.take_matching(FULL);
        assert!(
            (1..=cpus).contains(&said),
            "said {said} times on {cpus} CPUs"
        );
    };
    // 190 queries past it.
    said_once(&frames[MAX_NAMES as usize..]);
    let interval = drain(&mut drainer);
    assert_eq!(reason_count(&interval, "name_table_full"), 190);
    // The next interval fills up again, and says so again.
    said_once(&frames);
}
