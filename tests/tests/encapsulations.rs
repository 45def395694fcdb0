//! Queries sent from real sockets in the client namespace with 802.1Q and QinQ tags, IPv4
//! options, IPv6 extension headers and over TCP, each encapsulation under a name of its own: the
//! counter on the resolver's veth counts every one of them exactly once. Queries under three VLAN
//! tags, one more than the walk follows, are the control: they must not be counted, which they
//! would be if the tags did not reach the XDP program in the frames' bytes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, bail};
use dns_counter_tests::client::{
    self, IpHeaderExtras, PADN_OPTIONS_HEADER, ROUTER_ALERT_OPTIONS, UdpClient,
};
use dns_counter_tests::lab::{RESOLVER_V4, RESOLVER_V6};
use dns_counter_tests::report::{ReportFile, check_against_workload};
use dns_counter_tests::{
    Counter, Lab, Qtype, TaggedAddress, VlanTag, Workload, require_privileges,
};

const SEED: u64 = 0xe4ca;
/// Far longer than the test, so normally the only report is the one written on SIGTERM.
const INTERVAL: &str = "600s";

/// The lab's tagged addresses, by index in [`TAGS`].
const VLAN: usize = 0;
const QINQ: usize = 1;
const THREE_TAGS: usize = 2;
const TAGS: [&[VlanTag]; 3] = [
    &[VlanTag::dot1q(42)],
    &[VlanTag::dot1ad(100), VlanTag::dot1q(200)],
    &[
        VlanTag::dot1ad(300),
        VlanTag::dot1q(400),
        VlanTag::dot1q(500),
    ],
];

/// The control: sent under three tags, never counted (`not_ip`).
const THREE_TAGS_NAME: &str = "three-tags.encap.test";
const THREE_TAGS_QUERIES: u16 = 4;

/// How the queries for one name travel.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// Plain UDP to a tagged resolver address, so under its VLAN tags.
    Tagged { address: usize, ipv6: bool },
    /// UDP to the resolver's base address with extras in every IP header.
    Udp {
        server: IpAddr,
        extras: IpHeaderExtras,
    },
    /// DNS over TCP to the resolver's base address, one connection per query.
    Tcp { server: IpAddr },
}

/// Each name, how many queries ask for it and how they travel. The counts all differ, so a query
/// counted twice or under another encapsulation's name shows up as a wrong count.
const CASES: [(&str, u64, Route); 8] = [
    (
        "vlan4.encap.test",
        5,
        Route::Tagged {
            address: VLAN,
            ipv6: false,
        },
    ),
    (
        "vlan6.encap.test",
        6,
        Route::Tagged {
            address: VLAN,
            ipv6: true,
        },
    ),
    (
        "qinq4.encap.test",
        7,
        Route::Tagged {
            address: QINQ,
            ipv6: false,
        },
    ),
    (
        "qinq6.encap.test",
        8,
        Route::Tagged {
            address: QINQ,
            ipv6: true,
        },
    ),
    (
        "ipv4-options.encap.test",
        9,
        Route::Udp {
            server: RESOLVER_V4,
            extras: IpHeaderExtras::Ipv4Options(&ROUTER_ALERT_OPTIONS),
        },
    ),
    (
        "ipv6-extensions.encap.test",
        10,
        Route::Udp {
            server: RESOLVER_V6,
            extras: IpHeaderExtras::Ipv6HopByHopAndDestination {
                hop_by_hop: &PADN_OPTIONS_HEADER,
                destination: &PADN_OPTIONS_HEADER,
            },
        },
    ),
    (
        "tcp4.encap.test",
        4,
        Route::Tcp {
            server: RESOLVER_V4,
        },
    ),
    (
        "tcp6.encap.test",
        3,
        Route::Tcp {
            server: RESOLVER_V6,
        },
    ),
];

#[test]
fn every_encapsulation_is_counted_exactly_once() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::with_tagged_addresses(&TAGS).expect("build the lab with tagged addresses");
    // Mixed-case names and a mix of qtypes, so folding and qtype counts are checked on the way.
    let workload =
        Workload::from_counts(SEED, CASES.map(|(name, count, _)| (name.to_owned(), count)));
    let out_dir = tempfile::tempdir().expect("report directory");
    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        out_dir.path(),
        &["--top", "0", "--interval", INTERVAL],
    )
    .expect("start the counter");

    let tagged = lab.tagged_addresses();
    lab.in_client_ns(|| {
        send_workload(tagged, &workload)?;
        send_three_tag_control(&tagged[THREE_TAGS])
    })
    .expect("enter the client namespace")
    .expect("every query is answered");
    let reports = counter.stop().expect("stop the counter");

    eprintln!("{}", describe(&reports));
    assert!(
        (1..=2).contains(&reports.len()),
        "one report, or two if the run crossed an interval boundary: {reports:#?}"
    );
    // Every name counted as often as it was sent, and nothing else counted: not the control.
    if let Err(problems) = check_against_workload(&reports, &workload) {
        panic!(
            "the reports do not match the queries sent:\n{problems}\n{}\ncounter stderr:\n{}",
            describe(&reports),
            counter.stderr()
        );
    }
    let not_ip: u64 = reports
        .iter()
        .filter_map(|file| file.report.totals.not_queries.get("not_ip").copied())
        .sum();
    assert!(
        not_ip >= u64::from(THREE_TAGS_QUERIES),
        "{THREE_TAGS_QUERIES} queries under three tags are not_ip, but not_ip is {not_ip}\n{}",
        describe(&reports)
    );
}

/// Sends every query of `workload` by its name's route and checks each answer. Runs inside the
/// client namespace.
fn send_workload(tagged: &[TaggedAddress], workload: &Workload) -> anyhow::Result<()> {
    let routes: BTreeMap<&str, Route> = CASES
        .iter()
        .map(|&(name, _, route)| (name, route))
        .collect();
    // One UDP socket per name that goes over UDP, made before the first query.
    let mut udp_clients = BTreeMap::new();
    for (&name, &route) in &routes {
        let (server, extras) = match route {
            Route::Tagged { address, ipv6 } => {
                (tagged_server(&tagged[address], ipv6), IpHeaderExtras::None)
            }
            Route::Udp { server, extras } => (server, extras),
            Route::Tcp { .. } => continue,
        };
        let udp = UdpClient::connect(server, extras)
            .with_context(|| format!("a UDP socket to {server} for {name}"))?;
        udp_clients.insert(name, udp);
    }

    for (index, query) in workload.queries().iter().enumerate() {
        let name = query.name.to_ascii_lowercase();
        let id = u16::try_from(index).context("too many queries for distinct ids")?;
        let message = client::query_message(id, &query.name, query.qtype)?;
        let answer = match (routes.get(name.as_str()), udp_clients.get(name.as_str())) {
            (_, Some(udp)) => udp.ask(&message),
            (Some(Route::Tcp { server }), None) => client::ask_over_tcp(*server, &message),
            (route, None) => bail!("no way to send {name} ({route:?})"),
        };
        answer.with_context(|| format!("query {index} for {} {:?}", query.name, query.qtype))?;
    }
    Ok(())
}

/// The control queries, over UDP/IPv4 under three tags. Runs inside the client namespace.
fn send_three_tag_control(three_tags: &TaggedAddress) -> anyhow::Result<()> {
    let udp = UdpClient::connect(tagged_server(three_tags, false), IpHeaderExtras::None)?;
    for id in 0..THREE_TAGS_QUERIES {
        let message = client::query_message(id, THREE_TAGS_NAME, Qtype::A)?;
        udp.ask(&message)
            .with_context(|| format!("control query {id} for {THREE_TAGS_NAME}"))?;
    }
    Ok(())
}

fn tagged_server(tagged: &TaggedAddress, ipv6: bool) -> IpAddr {
    if ipv6 {
        tagged.resolver_v6.into()
    } else {
        tagged.resolver_v4.into()
    }
}

/// Per report: the names counted and the packets not counted, by reason.
fn describe(reports: &[ReportFile]) -> String {
    reports
        .iter()
        .map(|file| {
            let report = &file.report;
            let names: Vec<String> = report
                .top
                .iter()
                .map(|entry| format!("{} {}", entry.name, entry.count))
                .collect();
            let uncounted: BTreeMap<String, u64> = report
                .totals
                .reasons()
                .into_iter()
                .filter(|(_, count)| *count > 0)
                .collect();
            format!(
                "{}: {} packets seen, {} counted: {}; uncounted {uncounted:?}",
                file.path.display(),
                report.totals.packets,
                report.totals.counted,
                names.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
