//! The compiled XDP program counting client prefixes (`--clients`), run by the kernel through
//! BPF_PROG_TEST_RUN: per-prefix counts are exact for any prefix lengths and every
//! encapsulation, a full client table counts the rest as untracked so the report still adds up,
//! nothing is lost across interval flips, and with clients off the client maps stay empty.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use aya::maps::{PerCpuArray, PerCpuHashMap};
use dns_counter::kernel::{
    drain::Drainer,
    loader::{self, Loaded, LoaderError},
};
use dns_counter_common::{
    maps::{
        CLIENTS_MAPS, ClientKey, MAX_CLIENT_PREFIXES, STAT_CLIENTS_UNTRACKED, STAT_COUNTED,
        STATS_MAP,
    },
    testing::{self as frames, ENCAPSULATIONS},
};
use dns_counter_report::{
    analysis::{
        ReportOptions, build_report,
        clients::{Anonymizer, ClientOptions},
        exclude::Exclusions,
    },
    interval::{ClientPrefix, Interval, Meta},
};
use dns_counter_tests::require_root;
use dns_counter_tests::test_run::{drain, program, run};
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

fn clients_of(interval: &Interval) -> BTreeMap<IpAddr, u64> {
    let clients = interval.clients.as_ref().expect("clients counted");
    let mut by_prefix = BTreeMap::new();
    for &(prefix, count) in &clients.prefixes {
        assert!(
            by_prefix.insert(prefix, count).is_none(),
            "{prefix} drained twice"
        );
    }
    by_prefix
}

fn counted(interval: &Interval) -> u64 {
    interval.names.iter().map(|(_, count)| count).sum()
}

/// `addr` with all but its first `len` bits cleared, by std's arithmetic.
fn masked(addr: IpAddr, prefix: ClientPrefix) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - prefix.v4))).into(),
        IpAddr::V6(v6) => Ipv6Addr::from(u128::from(v6) & (u128::MAX << (128 - prefix.v6))).into(),
    }
}

/// Addresses that share prefixes at some lengths and not at others: neighbours, the same /24 or
/// /56 apart, and random ones.
fn sources(rng: &mut StdRng) -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = [
        "192.0.2.1",
        "192.0.2.77",
        "192.0.2.200",
        "192.0.3.1",
        "198.51.100.9",
        "198.51.100.10",
        "10.255.255.255",
        "2001:db8:0:100::1",
        "2001:db8:0:1ff:ffff::9",
        "2001:db8:0:200::1",
        "2001:db8::1",
        "fd53::2",
        "fd53::3",
    ]
    .iter()
    .map(|text| text.parse().expect("an address"))
    .collect();
    for _ in 0..10 {
        addrs.push(IpAddr::V4(rng.random::<u32>().into()));
        addrs.push(IpAddr::V6(rng.random::<u128>().into()));
    }
    addrs
}

#[test]
fn per_prefix_counts_are_exact_for_every_prefix_length_and_encapsulation() {
    let Some(()) = require_root() else { return };
    let mut rng = StdRng::seed_from_u64(24_56);
    let addrs = sources(&mut rng);
    for (v4, v6) in [(24, 56), (32, 128), (28, 120), (16, 48), (1, 1), (31, 127)] {
        let prefix = ClientPrefix { v4, v6 };
        let mut loaded = loader::load_with_clients(10_000, Some(prefix)).expect("load");
        let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
        let mut want: BTreeMap<IpAddr, u64> = BTreeMap::new();
        for (i, &addr) in addrs.iter().enumerate() {
            let encapsulations = ENCAPSULATIONS
                .iter()
                .filter(|e| e.is_ipv6() == addr.is_ipv6());
            for (j, &encapsulation) in encapsulations.enumerate() {
                let (frame, _) =
                    frames::frame_from(encapsulation, &frames::random_query(&mut rng), addr);
                let repeat = (i + j) as u32 % 4 + 1;
                run(program(&loaded), &frame, repeat);
                *want.entry(masked(addr, prefix)).or_default() += u64::from(repeat);
            }
            // Not counted by name, so not by client either: a response, and a query to port 5353.
            let mut response = frames::query_frame_from("www.example.com", 1, addr);
            let dns = response.len() - (12 + 17 + 4);
            response[dns + 2] |= 0x80;
            run(program(&loaded), &response, 1);
            let mut other_port = frames::query_frame_from("www.example.com", 1, addr);
            let udp = dns - 8;
            other_port[udp + 2..udp + 4].copy_from_slice(&5353u16.to_be_bytes());
            run(program(&loaded), &other_port, 1);
        }
        let interval = drain(&mut drainer);
        assert_eq!(clients_of(&interval), want, "/{v4} and /{v6}");
        assert_eq!(interval.clients.as_ref().expect("clients").untracked, 0);
        assert_eq!(
            want.values().sum::<u64>(),
            counted(&interval),
            "every query counted by name has a client"
        );
        assert_eq!(
            interval
                .uncounted
                .iter()
                .map(|(_, count)| count)
                .sum::<u64>(),
            2 * addrs.len() as u64
        );
    }
}

#[test]
fn a_full_client_table_counts_the_rest_as_untracked_and_the_report_adds_up() {
    let Some(()) = require_root() else { return };
    const ROOM: u32 = 8;
    let prefix = ClientPrefix { v4: 24, v6: 56 };
    let mut loaded = loader::load_sized(1_000, ROOM).expect("load");
    loaded.count_clients(prefix).expect("count clients");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    // 20 /24s, one query each from two hosts of each, three times over: the first 8 prefixes fill
    // the table and keep counting; the other 12 never get in.
    let frames_of = |net: u8| {
        [10, 20].map(|host| {
            frames::query_frame_from(
                &format!("n{net}.example"),
                1,
                Ipv4Addr::new(198, 51, net, host).into(),
            )
        })
    };
    for _ in 0..3 {
        for net in 0..20u8 {
            for frame in frames_of(net) {
                run(program(&loaded), &frame, 1);
            }
        }
    }
    let interval = drain(&mut drainer);
    let clients = clients_of(&interval);
    let want: BTreeMap<IpAddr, u64> = (0..ROOM as u8)
        .map(|net| (Ipv4Addr::new(198, 51, net, 0).into(), 6))
        .collect();
    assert_eq!(clients, want);
    assert_eq!(
        interval.clients.as_ref().expect("clients").untracked,
        12 * 6
    );
    assert_eq!(counted(&interval), 20 * 6);
    assert_eq!(
        interval
            .uncounted
            .iter()
            .map(|(_, count)| count)
            .sum::<u64>(),
        0,
        "untracked is no reason"
    );

    let exclusions = Exclusions::new(&["n19.example".into()], &[]).expect("exclusions");
    let meta = Meta {
        host: "test".into(),
        interfaces: vec![],
    };
    for anonymizer in [None, Some(Anonymizer::random())] {
        let options = ReportOptions {
            clients: Some(ClientOptions { prefix, anonymizer }),
            ..ReportOptions::new(3, &exclusions)
        };
        let report = build_report(&interval, &meta, &options);
        report.check_invariants().expect("the report adds up");
        let section = report.clients.as_ref().expect("clients section");
        assert_eq!((report.totals.counted, report.totals.excluded), (19 * 6, 6));
        assert_eq!(
            (
                section.list.top.len(),
                section.list.rest.keys,
                section.list.rest.count,
                section.untracked
            ),
            (3, 5, 30, 72)
        );
        assert_eq!(section.anonymized, anonymizer.is_some());
        if anonymizer.is_none() {
            assert_eq!(section.list.top[0].key, "198.51.0.0/24");
        }
    }

    // The next interval starts with an empty table.
    for frame in frames_of(19) {
        run(program(&loaded), &frame, 1);
    }
    let interval = drain(&mut drainer);
    assert_eq!(
        clients_of(&interval),
        BTreeMap::from([(Ipv4Addr::new(198, 51, 19, 0).into(), 2)])
    );
    assert_eq!(interval.clients.as_ref().expect("clients").untracked, 0);
}

#[test]
fn no_client_is_lost_or_counted_twice_across_flips() {
    let Some(()) = require_root() else { return };
    const CALLS: u32 = 200;
    const REPEAT: u32 = 500;
    let prefix = ClientPrefix { v4: 24, v6: 56 };
    let mut loaded = loader::load_with_clients(1_000, Some(prefix)).expect("load");
    let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
    let v4 = frames::query_frame_from("www.example.com", 1, Ipv4Addr::new(192, 0, 2, 9).into());
    let v6 = frames::query_frame_from(
        "www.example.com",
        28,
        "2001:db8:0:1ab::9".parse().expect("an address"),
    );
    let mut intervals = Vec::new();
    std::thread::scope(|scope| {
        let program = program(&loaded);
        let sender = scope.spawn(|| {
            for call in 0..CALLS {
                run(program, if call % 2 == 0 { &v4 } else { &v6 }, REPEAT);
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
    let mut total: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for interval in &intervals {
        assert_eq!(
            clients_of(interval).values().sum::<u64>(),
            counted(interval),
            "each interval adds up"
        );
        for (prefix, count) in clients_of(interval) {
            *total.entry(prefix).or_default() += count;
        }
    }
    let half = u64::from(CALLS / 2 * REPEAT);
    let want = BTreeMap::from([
        ("192.0.2.0".parse().expect("v4"), half),
        ("2001:db8:0:100::".parse().expect("v6"), half),
    ]);
    assert_eq!(total, want);
}

/// Set 0's client map, read without a drainer (the program counts into set 0 until a flip).
fn set_0_clients(loaded: &Loaded) -> Vec<ClientKey> {
    let map: PerCpuHashMap<_, ClientKey, u64> =
        PerCpuHashMap::try_from(loaded.ebpf.map(CLIENTS_MAPS[0]).expect("clients map"))
            .expect("a per-CPU hash");
    map.keys().collect::<Result<_, _>>().expect("keys")
}

fn set_0_stat(loaded: &Loaded, slot: u32) -> u64 {
    let stats: PerCpuArray<_, u64> =
        PerCpuArray::try_from(loaded.ebpf.map(STATS_MAP).expect("stats map"))
            .expect("a per-CPU array");
    stats.get(&slot, 0).expect("slot").iter().sum()
}

#[test]
fn with_clients_off_the_client_maps_stay_empty() {
    let Some(()) = require_root() else { return };
    let frame = frames::query_frame_from("www.example.com", 1, Ipv4Addr::new(192, 0, 2, 9).into());
    // Loaded as a run without --clients loads it, and with room for clients but never told to.
    for mut loaded in [
        loader::load(1_000).expect("load"),
        loader::load_sized(1_000, 100).expect("load"),
    ] {
        run(program(&loaded), &frame, 10);
        assert_eq!(set_0_stat(&loaded, STAT_COUNTED), 10);
        assert_eq!(set_0_clients(&loaded), []);
        assert_eq!(set_0_stat(&loaded, STAT_CLIENTS_UNTRACKED), 0);
        let mut drainer = Drainer::new(&mut loaded.ebpf).expect("maps");
        let interval = drain(&mut drainer);
        assert_eq!((counted(&interval), interval.clients), (10, None));
    }
    // The same program counts clients once told to.
    let mut loaded = loader::load_sized(1_000, 100).expect("load");
    loaded
        .count_clients(ClientPrefix { v4: 24, v6: 56 })
        .expect("count clients");
    run(program(&loaded), &frame, 10);
    let keys = set_0_clients(&loaded);
    assert_eq!(
        keys.iter().map(ClientKey::ip).collect::<Vec<_>>(),
        [Some("192.0.2.0".parse().expect("v4"))]
    );
}

#[test]
fn clients_need_a_client_table() {
    let Some(()) = require_root() else { return };
    let mut loaded = loader::load(1_000).expect("load");
    let err = loaded
        .count_clients(ClientPrefix { v4: 24, v6: 56 })
        .expect_err("no room for clients");
    assert!(matches!(err, LoaderError::NoClientTable), "{err}");
}

/// Instructions the verifier may process for the program. The kernel refuses a program past
/// 1,000,000 (BPF_COMPLEXITY_LIMIT_INSNS). The program took 434,312 on kernel 6.18 before the
/// qtype maps were split and 305,186 after: the figure swings by a third with small changes to
/// the code (how the verifier prunes states), so the ceiling leaves that much room over the
/// larger one, and still fails well before the kernel's limit, while there is room to act.
const VERIFIED_INSTRUCTIONS_CEILING: u32 = 600_000;

#[test]
fn the_program_with_clients_stays_within_the_verifier_budget() {
    let Some(()) = require_root() else { return };
    let loaded =
        loader::load_sized(1_000, MAX_CLIENT_PREFIXES).expect("the kernel accepts the program");
    let info = program(&loaded).info().expect("program info");
    let verified = info
        .verified_instruction_count()
        .expect("the kernel reports verified instructions (Linux 5.16 and later)");
    // Printed for whoever changes the walk.
    eprintln!("verified instructions: {verified} (ceiling {VERIFIED_INSTRUCTIONS_CEILING})");
    assert!(
        verified <= VERIFIED_INSTRUCTIONS_CEILING,
        "the verifier processed {verified} instructions, past the ceiling of \
         {VERIFIED_INSTRUCTIONS_CEILING}: the kernel refuses the program at 1,000,000"
    );
}
