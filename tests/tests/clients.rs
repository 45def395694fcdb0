//! Client prefixes (`--clients`) end to end: queries from several addresses of the lab's client
//! namespace, in different /28s and /120s, reach unbound through the counter; each prefix's count
//! in the report is what its addresses sent, and the clients add up to the names. With
//! `--anonymize` no address appears in any report file, the counts are the same, and a prefix has
//! the same name in every report of the run.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use dns_counter_tests::client::{DNS_PORT, query_message};
use dns_counter_tests::counter::wait_for_room_in_interval;
use dns_counter_tests::lab::{CLIENT_IFACE, RESOLVER_V4, RESOLVER_V6};
use dns_counter_tests::prereq::program_path;
use dns_counter_tests::report::Totals;
use dns_counter_tests::{Counter, Lab, Qtype, require_privileges};
use serde::Deserialize;

/// Prefix lengths that make several prefixes inside the lab's 169.254.53.0/24 and fd53::/64.
const CLIENT_PREFIX: &str = "28,120";
/// Sent by every client, and excluded: clients count excluded names too.
const EXCLUDED_NAME: &str = "router.clients.lab.test";
const EXCLUDED_PER_CLIENT: u64 = 2;

/// Each address of the client namespace and the queries it sends; the counts make every prefix's
/// sum distinct, so an anonymized prefix can be told by its count. 169.254.53.2 and fd53::2 are
/// the lab's own client addresses, the others are added for this test.
const SENDERS: [(&str, u64); 9] = [
    ("169.254.53.2", 11),
    ("169.254.53.20", 13),
    ("169.254.53.21", 17),
    ("169.254.53.40", 23),
    ("169.254.53.100", 37),
    ("fd53::2", 19),
    ("fd53::1:5", 29),
    ("fd53::1:9", 31),
    ("fd53::2:7", 41),
];

/// What the report must say for [`SENDERS`] under /28 and /120.
fn expected_prefixes() -> BTreeMap<String, u64> {
    BTreeMap::from(
        [
            ("169.254.53.0/28", 11),
            ("169.254.53.16/28", 13 + 17),
            ("169.254.53.32/28", 23),
            ("169.254.53.96/28", 37),
            ("fd53::/120", 19),
            ("fd53::1:0/120", 29 + 31),
            ("fd53::2:0/120", 41),
        ]
        .map(|(prefix, count)| (prefix.to_owned(), count)),
    )
}

/// The parts of a report this test reads, parsed on their own rather than with the daemon's types.
#[derive(Debug, Deserialize)]
struct ClientsReport {
    totals: Totals,
    clients: Option<Clients>,
}

#[derive(Debug, Deserialize)]
struct Clients {
    prefix_v4: u8,
    prefix_v6: u8,
    anonymized: bool,
    top: Vec<ClientEntry>,
    rest: ClientRest,
    untracked: u64,
}

#[derive(Debug, Deserialize)]
struct ClientEntry {
    rank: u64,
    client: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
struct ClientRest {
    prefixes: u64,
    count: u64,
}

/// Adds the senders' addresses the lab does not have to the client's veth end.
fn add_client_addresses(lab: &Lab) -> anyhow::Result<()> {
    for (addr, _) in &SENDERS[..] {
        let addr: IpAddr = addr.parse()?;
        if addr == dns_counter_tests::lab::CLIENT_V4 || addr == dns_counter_tests::lab::CLIENT_V6 {
            continue;
        }
        let mut command = Command::new(program_path("ip"));
        command.args(["-n", lab.client_ns(), "addr", "add"]);
        match addr {
            IpAddr::V4(v4) => command.arg(format!("{v4}/24")),
            IpAddr::V6(v6) => command.args([format!("{v6}/64"), "nodad".into()]),
        };
        let output = command
            .args(["dev", CLIENT_IFACE])
            .output()
            .context("running ip")?;
        if !output.status.success() {
            bail!(
                "ip addr add {addr}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}

/// Sends every sender's queries from its own address, one at a time, each answer awaited (the
/// lab's link is lossless: a missing answer fails the test rather than being retried).
fn send_queries(lab: &Lab, round: u32) -> anyhow::Result<()> {
    lab.in_client_ns(|| {
        for (addr, count) in SENDERS {
            let addr: IpAddr = addr.parse()?;
            let server = if addr.is_ipv4() {
                RESOLVER_V4
            } else {
                RESOLVER_V6
            };
            let socket = UdpSocket::bind(SocketAddr::new(addr, 0))
                .with_context(|| format!("binding {addr}"))?;
            socket.connect(SocketAddr::new(server, DNS_PORT))?;
            socket.set_read_timeout(Some(Duration::from_secs(2)))?;
            for i in 0..count {
                let name = if i < EXCLUDED_PER_CLIENT {
                    EXCLUDED_NAME.to_owned()
                } else {
                    format!("q{i}.r{round}.clients.lab.test")
                };
                let id = u16::try_from(i).context("few queries")?;
                socket.send(&query_message(id, &name, Qtype::A)?)?;
                let mut answer = [0u8; 4096];
                let len = socket
                    .recv(&mut answer)
                    .with_context(|| format!("answer to {name} from {addr}"))?;
                if len < 12 || answer[..2] != id.to_be_bytes() || answer[2] & 0x80 == 0 {
                    bail!("{addr}: a reply that does not answer query {id}");
                }
            }
        }
        Ok(())
    })?
}

fn read_clients_reports(out_dir: &Path) -> anyhow::Result<Vec<(String, ClientsReport)>> {
    let mut reports = Vec::new();
    for entry in fs::read_dir(out_dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".json") && name != "latest.json" {
            let report =
                serde_json::from_str(&fs::read_to_string(&path)?).with_context(|| name.clone())?;
            reports.push((name, report));
        }
    }
    reports.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reports)
}

/// Checks what every report with `--clients` must hold and returns its prefixes' counts.
fn checked_clients(name: &str, report: &ClientsReport, anonymized: bool) -> BTreeMap<String, u64> {
    let clients = report
        .clients
        .as_ref()
        .unwrap_or_else(|| panic!("{name} has no clients section"));
    assert_eq!(
        (clients.prefix_v4, clients.prefix_v6, clients.anonymized),
        (28, 120, anonymized),
        "{name}"
    );
    let listed: u64 = clients.top.iter().map(|entry| entry.count).sum();
    assert_eq!(
        listed + clients.rest.count + clients.untracked,
        report.totals.counted + report.totals.excluded,
        "{name}: clients must add up to the queries counted by name"
    );
    assert_eq!(
        (clients.rest.prefixes, clients.rest.count, clients.untracked),
        (0, 0, 0),
        "{name}: --top 0"
    );
    for (index, entry) in clients.top.iter().enumerate() {
        assert_eq!(entry.rank, index as u64 + 1, "{name}");
    }
    assert!(
        clients
            .top
            .windows(2)
            .all(|pair| pair[0].count >= pair[1].count),
        "{name}: most first"
    );
    let mut counts = BTreeMap::new();
    for entry in &clients.top {
        assert!(
            counts.insert(entry.client.clone(), entry.count).is_none(),
            "{name}: {} twice",
            entry.client
        );
    }
    counts
}

fn total_sent() -> u64 {
    SENDERS.iter().map(|(_, count)| count).sum()
}

#[test]
fn each_prefix_counts_what_its_addresses_sent() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let lab = Lab::new().expect("build the lab");
    add_client_addresses(&lab).expect("add client addresses");
    let out_dir = tempfile::tempdir().expect("report directory");
    let args = [
        "--clients",
        "--client-prefix",
        CLIENT_PREFIX,
        "--top",
        "0",
        "--interval",
        "600s",
        "--exclude",
        EXCLUDED_NAME,
    ];
    let mut counter = Counter::start(&privileges.dns_counter, &lab, out_dir.path(), &args)
        .expect("start the counter");
    send_queries(&lab, 0).expect("send the queries");
    counter.stop().expect("stop the counter");
    let context = format!("counter stderr:\n{}", counter.stderr());

    // Summed over reports, in case the run straddled an interval boundary.
    let mut prefixes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut counted, mut excluded) = (0, 0);
    for (name, report) in read_clients_reports(out_dir.path()).expect("read the reports") {
        for (prefix, count) in checked_clients(&name, &report, false) {
            *prefixes.entry(prefix).or_default() += count;
        }
        counted += report.totals.counted;
        excluded += report.totals.excluded;
    }
    assert_eq!(prefixes, expected_prefixes(), "{context}");
    let excluded_sent = EXCLUDED_PER_CLIENT * SENDERS.len() as u64;
    assert_eq!(
        (counted, excluded),
        (total_sent() - excluded_sent, excluded_sent),
        "{context}"
    );
}

#[test]
fn anonymized_prefixes_keep_their_counts_and_their_names_for_the_run() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    const INTERVAL: Duration = Duration::from_secs(3);
    let lab = Lab::new().expect("build the lab");
    add_client_addresses(&lab).expect("add client addresses");
    let out_dir = tempfile::tempdir().expect("report directory");
    let args = [
        "--clients",
        "--client-prefix",
        CLIENT_PREFIX,
        "--anonymize",
        "--top",
        "0",
        "--interval",
        "3s",
    ];
    let mut counter = Counter::start(&privileges.dns_counter, &lab, out_dir.path(), &args)
        .expect("start the counter");
    // Two rounds of the same traffic, each at the start of an interval of its own.
    for round in 0..2 {
        wait_for_room_in_interval(INTERVAL, INTERVAL);
        send_queries(&lab, round).expect("send the queries");
    }
    wait_for_room_in_interval(INTERVAL, INTERVAL);
    counter.stop().expect("stop the counter");
    let context = format!("counter stderr:\n{}", counter.stderr());

    // No file the counter wrote names a client address, in any form.
    for entry in fs::read_dir(out_dir.path()).expect("list reports") {
        let path = entry.expect("entry").path();
        let text = fs::read_to_string(&path).expect("read a report file");
        for needle in ["169.254.53.", "fd53:"] {
            assert!(
                !text.contains(needle),
                "{} contains {needle:?}:\n{text}",
                path.display()
            );
        }
    }

    let reports = read_clients_reports(out_dir.path()).expect("read the reports");
    let busy: Vec<BTreeMap<String, u64>> = reports
        .iter()
        .map(|(name, report)| checked_clients(name, report, true))
        .filter(|clients| !clients.is_empty())
        .collect();
    assert_eq!(
        busy.len(),
        2,
        "one report per round: {reports:#?}; {context}"
    );
    let expected_counts = {
        let mut counts: Vec<u64> = expected_prefixes().into_values().collect();
        counts.sort_unstable();
        counts
    };
    for clients in &busy {
        let mut counts: Vec<u64> = clients.values().copied().collect();
        counts.sort_unstable();
        assert_eq!(
            counts, expected_counts,
            "the same counts as without --anonymize; {context}"
        );
        assert!(
            clients
                .keys()
                .all(|client| client.starts_with("anon-") && client.len() == 5 + 16),
            "{clients:?}"
        );
    }
    // Every prefix's count is distinct, so equal maps mean each prefix kept its name.
    assert_eq!(busy[0], busy[1], "a prefix has one name for the whole run");
}
