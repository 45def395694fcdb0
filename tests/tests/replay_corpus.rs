//! `dns-counter replay` over tcpdump's own DNS captures (tests/corpus/tcpdump-dns): every query
//! tcpdump decodes on a counted port is counted under its name, every other packet is counted
//! under the reason tcpdump's decode implies, every report adds up, intervals split a capture on
//! the epoch-aligned boundaries of a live run, captures of other link types (Linux cooked, BSD
//! loopback, raw IP) and from a pipe replay as their Ethernet file does, and a capture of a link
//! type replay does not know is refused, naming it. The expectations come from tcpdump's `.out`
//! decodes, read here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use dns_counter_tests::process::run_bounded;
use dns_counter_tests::report::{Report, ReportFile, diff_counts, read_reports, summed_top_counts};
use dns_counter_tests::{require_corpus, require_privileges};

/// Every replay here is a handful of packets; one that takes longer has stalled.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(60);
/// Small name tables load faster than the default million; the captures ask for a few names.
const MAX_NAMES: &str = "1000";
/// `LINKTYPE_ETHERNET`.
const ETHERNET: u32 = 1;
/// The link types replay takes: Ethernet, and those it puts an Ethernet header on (LINUX_SLL,
/// LINUX_SLL2, NULL, LOOP, RAW, IPV4, IPV6).
const REPLAYABLE: [u32; 8] = [ETHERNET, 113, 276, 0, 108, 101, 228, 229];

/// Every capture of the corpus with its decode: `NAME.pcap` and `NAME.out` (`dnssec-vv.out`
/// for `dnssec.pcap`, decoded with -vv).
fn captures(corpus: &Path) -> Vec<(PathBuf, Decode)> {
    let mut captures: Vec<(PathBuf, Decode)> = fs::read_dir(corpus)
        .expect("list the corpus")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcap"))
        .map(|pcap| {
            let stem = pcap
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 name")
                .to_owned();
            let out = [format!("{stem}.out"), format!("{stem}-vv.out")]
                .map(|name| corpus.join(name))
                .into_iter()
                .find(|out| out.is_file())
                .unwrap_or_else(|| panic!("no tcpdump decode for {}", pcap.display()));
            let text = fs::read_to_string(&out).expect("read the decode");
            (pcap, Decode::parse(&text))
        })
        .collect();
    captures.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        captures.len() >= 10,
        "the corpus looks incomplete: {captures:?}"
    );
    captures
}

/// The link type in a pcap file's global header (either byte order).
fn link_type(pcap: &Path) -> u32 {
    let bytes = fs::read(pcap).expect("read the capture");
    let field = |at: usize| <[u8; 4]>::try_from(&bytes[at..at + 4]).expect("a pcap header");
    match field(0) {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => u32::from_le_bytes(field(20)),
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => u32::from_be_bytes(field(20)),
        magic => panic!("{} is not a pcap file (magic {magic:02x?})", pcap.display()),
    }
}

/// One packet as tcpdump printed it.
#[derive(Debug, Clone)]
struct Decoded {
    number: usize,
    time: SystemTime,
    /// The destination port, from `src.port > dst.port:`.
    port: Option<u16>,
    tcp: bool,
    /// A segment's or an undecoded datagram's `length N`.
    length: Option<u64>,
    /// `[length N < 12]`: a payload too short for a DNS header.
    short_dns: bool,
    /// A question printed as a query's (`ID+ [1au] A? www.tcpdump.org.`), not a response's (`q: A? ...`).
    query: Option<Query>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Query {
    qtype: String,
    name: String,
}

#[derive(Debug)]
struct Decode {
    packets: Vec<Decoded>,
}

impl Decode {
    /// tcpdump's test output: every packet starts `  N  <time> ...`, -v continues it on
    /// indented lines.
    fn parse(text: &str) -> Self {
        let mut entries: Vec<String> = Vec::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            let numbered = trimmed
                .split_once("  ")
                .is_some_and(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()));
            match entries.last_mut() {
                Some(entry) if !numbered => {
                    entry.push(' ');
                    entry.push_str(trimmed);
                }
                _ => entries.push(trimmed.to_owned()),
            }
        }
        let packets = entries.iter().map(|entry| Decoded::parse(entry)).collect();
        Self { packets }
    }
}

impl Decoded {
    fn parse(entry: &str) -> Self {
        let tokens: Vec<&str> = entry.split_whitespace().collect();
        let number = tokens[0].parse().expect("a packet number");
        // `caplen 98 len 98 2023-12-26 09:37:33.129402 IP ...` or `2019-02-13 01:16:43.306396 IP ...`
        let date = tokens
            .iter()
            .position(|t| t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-')
            .unwrap_or_else(|| panic!("no date in {entry}"));
        let time = humantime::parse_rfc3339_weak(&format!("{} {}", tokens[date], tokens[date + 1]))
            .unwrap_or_else(|err| panic!("bad time in {entry}: {err}"));
        // `src.port > dst.port:`, after `src-mac > dst-mac,` when tcpdump ran with -e.
        let arrow = (0..tokens.len().saturating_sub(1))
            .find(|&at| tokens[at] == ">" && tokens[at + 1].ends_with(':'));
        let port = arrow
            .and_then(|at| tokens.get(at + 1))
            .and_then(|dst| dst.strip_suffix(':'))
            .and_then(|dst| dst.rsplit_once('.'))
            .and_then(|(_, port)| port.parse().ok());
        let after = &tokens[arrow.map_or(tokens.len(), |at| at + 2)..];
        let length = after
            .windows(2)
            .filter(|pair| pair[0] == "length")
            .filter_map(|pair| pair[1].trim_end_matches(',').parse().ok())
            .next_back();
        let query = after
            .iter()
            .enumerate()
            .find(|(_, t)| t.ends_with('?'))
            .and_then(|(at, token)| {
                // `A? name` or, for another class, `Type0 (Class 4347)? name`.
                let qtype_at = if token.ends_with(")?") {
                    at.checked_sub(2)?
                } else {
                    at
                };
                let is_response_question = qtype_at > 0 && after[qtype_at - 1] == "q:";
                let qtype = after[qtype_at].trim_end_matches('?').to_owned();
                let name = after.get(at + 1)?;
                (!is_response_question).then(|| Query {
                    qtype,
                    name: presentation(name),
                })
            });
        Self {
            number,
            time,
            port,
            tcp: after.first().is_some_and(|t| *t == "Flags"),
            length,
            short_dns: entry.contains("[length ") && entry.contains(" < 12]"),
            query,
            text: entry.to_owned(),
        }
    }
}

/// tcpdump's name (`www.tcpdump.org.`, `.`) as reports print it: lower case, no trailing dot.
fn presentation(name: &str) -> String {
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b)),
        "tcpdump printed {name:?}; teach this test how tcpdump escapes names before using it"
    );
    let name = name.to_ascii_lowercase();
    match name.strip_suffix('.') {
        Some("") | None => name,
        Some(stripped) => stripped.to_owned(),
    }
}

/// tcpdump's qtype mnemonic as reports print it: hickory-proto has no mnemonic for URI (256), so
/// reports print it the RFC 3597 way, as they do tcpdump's `TypeN`.
fn report_qtype(tcpdump: &str) -> String {
    match tcpdump {
        "URI" => "TYPE256".to_owned(),
        other => match other.strip_prefix("Type") {
            Some(number) if number.bytes().all(|b| b.is_ascii_digit()) => format!("TYPE{number}"),
            _ => other.to_owned(),
        },
    }
}

/// What a report over a capture must say, from tcpdump's decode and the counted ports.
#[derive(Debug, Default)]
struct Expected {
    packets: u64,
    names: BTreeMap<String, u64>,
    qtypes: BTreeMap<String, u64>,
    /// Packets with data to a counted port that tcpdump did not decode as DNS (it decodes port
    /// 53 only): counted, under a name tcpdump cannot tell.
    undecoded: Vec<Decoded>,
    reasons: BTreeMap<String, u64>,
}

impl Expected {
    fn new(decode: &Decode, ports: &[u16]) -> Self {
        let mut expected = Self {
            packets: decode.packets.len() as u64,
            ..Self::default()
        };
        for packet in &decode.packets {
            let reason = match packet.port {
                None => panic!(
                    "no destination port in packet {}: {}",
                    packet.number, packet.text
                ),
                Some(port) if !ports.contains(&port) => "other_port",
                Some(_) => match (&packet.query, packet.length) {
                    (Some(query), _) => {
                        *expected.names.entry(query.name.clone()).or_default() += 1;
                        *expected
                            .qtypes
                            .entry(report_qtype(&query.qtype))
                            .or_default() += 1;
                        continue;
                    }
                    (None, Some(0)) if packet.tcp => "tcp_no_payload",
                    (None, _) if packet.short_dns => "truncated_dns_header",
                    (None, Some(1..)) if packet.port != Some(53) => {
                        expected.undecoded.push(packet.clone());
                        continue;
                    }
                    _ => panic!(
                        "packet {} goes to a counted port, and this test does not know what tcpdump's decode means \
                         for the counter: {}",
                        packet.number, packet.text
                    ),
                },
            };
            *expected.reasons.entry(reason.to_owned()).or_default() += 1;
        }
        expected
    }

    fn counted(&self) -> u64 {
        self.names.values().sum::<u64>() + self.undecoded.len() as u64
    }
}

/// Runs `dns-counter replay` with `args` into a fresh directory; returns its output and reports.
fn replay(bin: &Path, args: &[&str]) -> (Output, Vec<ReportFile>, tempfile::TempDir) {
    let out_dir = tempfile::tempdir().expect("report directory");
    let out = out_dir.path().to_str().expect("UTF-8 temp dir");
    let output = run_bounded(
        Command::new(bin)
            .args(["replay", "--max-names", MAX_NAMES, "--out-dir", out])
            .args(args),
        REPLAY_TIMEOUT,
    )
    .expect("replay finishes");
    let reports = read_reports(out_dir.path()).expect("read the reports");
    (output, reports, out_dir)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn nonzero(reasons: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    reasons
        .iter()
        .filter(|(_, count)| **count != 0)
        .map(|(r, c)| (r.clone(), *c))
        .collect()
}

/// A report's time as the time it stands for (v3 keeps sub-seconds).
fn time_of(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

#[test]
fn every_query_tcpdump_decodes_on_a_counted_port_is_counted_and_every_other_packet_has_its_reason()
{
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for (pcap, decode) in captures(&corpus) {
        if !REPLAYABLE.contains(&link_type(&pcap)) {
            continue;
        }
        for ports in [&[53][..], &[8053], &[53, 8053]] {
            let what = format!("{} with --port {ports:?}", pcap.display());
            let expected = Expected::new(&decode, ports);
            let mut args: Vec<String> = ports
                .iter()
                .flat_map(|port| ["--port".to_owned(), port.to_string()])
                .collect();
            args.extend([
                "--top".to_owned(),
                "0".to_owned(),
                pcap.display().to_string(),
            ]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (output, reports, _dir) = replay(&privileges.dns_counter, &args);
            if !output.status.success() || reports.len() != 1 {
                problems.push(format!(
                    "{what}: {} with {} reports: {}",
                    output.status,
                    reports.len(),
                    stderr(&output)
                ));
                continue;
            }
            checked += 1;
            let report = &reports[0].report;
            let totals = &report.totals;
            let mut check = |ok: bool, problem: String| {
                if !ok {
                    problems.push(format!("{what}: {problem}"));
                }
            };
            check(
                report.check_consistent().is_ok(),
                format!("inconsistent: {:?}", report.check_consistent()),
            );
            check(
                totals.packets == expected.packets,
                format!(
                    "{} packets looked at, tcpdump shows {}",
                    totals.packets, expected.packets
                ),
            );
            check(
                totals.counted == expected.counted(),
                format!(
                    "counted {}, expected {}",
                    totals.counted,
                    expected.counted()
                ),
            );
            check(
                nonzero(&totals.reasons()) == expected.reasons,
                format!(
                    "uncounted {:?}, expected {:?}",
                    nonzero(&totals.reasons()),
                    expected.reasons
                ),
            );
            check(
                report.rest.count == 0,
                format!("--top 0 left {:?} under rest", report.rest),
            );
            let names = report.top_counts().expect("names listed once");
            if expected.undecoded.is_empty() {
                check(
                    diff_counts(&expected.names, &names).is_ok(),
                    format!("names: {:?}", diff_counts(&expected.names, &names)),
                );
                let qtypes = report.qtype_counts().expect("qtypes listed once");
                check(
                    diff_counts(&expected.qtypes, &qtypes).is_ok(),
                    format!("qtypes: {:?}", diff_counts(&expected.qtypes, &qtypes)),
                );
            } else {
                let covered = expected
                    .names
                    .iter()
                    .all(|(name, count)| names.get(name).is_some_and(|got| got >= count));
                check(
                    covered,
                    format!(
                        "names {names:?} do not cover tcpdump's {:?}",
                        expected.names
                    ),
                );
            }
            let (first, last) = (
                decode.packets.iter().map(|p| p.time).min(),
                decode.packets.iter().map(|p| p.time).max(),
            );
            let (first, last) = (first.expect("packets"), last.expect("packets"));
            check(
                time_of(&report.start) == Some(first) && time_of(&report.end) == Some(last),
                format!("spans {} to {}", report.start, report.end),
            );
            let seconds = last.duration_since(first).expect("in order").as_secs_f64();
            check(
                (report.seconds - seconds).abs() < 1e-6,
                format!("{} s long, tcpdump shows {seconds} s", report.seconds),
            );
            let label = format!(
                "replay:{}",
                pcap.file_name()
                    .and_then(|n| n.to_str())
                    .expect("UTF-8 name")
            );
            check(
                report.interfaces == [label.clone()],
                format!("interfaces {:?}, not [{label:?}]", report.interfaces),
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked >= 30, "only {checked} replays were checked");
}

#[test]
fn spot_checks() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let top = |args: &[&str]| {
        let (output, reports, _dir) = replay(&privileges.dns_counter, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        summed_top_counts(&reports).expect("names listed once")
    };
    let one = |name: &str| BTreeMap::from([(name.to_owned(), 1)]);
    let udp = corpus.join("dns_udp.pcap");
    let udp = udp.to_str().expect("UTF-8 path");
    assert_eq!(top(&[udp]), one("www.tcpdump.org"));
    let tcp = corpus.join("dns_tcp.pcap");
    assert_eq!(
        top(&[tcp.to_str().expect("UTF-8 path")]),
        one("www.tcpdump.org")
    );
    // tcpdump decodes only port 53 as DNS; the 8053 captures hold the same query as dns_udp.
    for capture in ["dns_udp_8053.pcap", "dns_tcp_8053.pcap"] {
        let path = corpus.join(capture);
        let path = path.to_str().expect("UTF-8 path");
        assert_eq!(
            top(&[path]),
            BTreeMap::new(),
            "{capture} without --port 8053"
        );
        assert_eq!(
            top(&["--port", "8053", path]),
            one("www.tcpdump.org"),
            "{capture} with --port 8053"
        );
    }
    let edns = corpus.join("edns-opts.pcap");
    assert_eq!(
        top(&[edns.to_str().expect("UTF-8 path")]),
        BTreeMap::from([("example.com".to_owned(), 21)])
    );
}

#[test]
fn captures_of_other_link_types_are_refused_naming_their_link_type() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let mut refused = Vec::new();
    for (pcap, _) in captures(&corpus) {
        let linktype = link_type(&pcap);
        if REPLAYABLE.contains(&linktype) {
            continue;
        }
        let (output, reports, _dir) = replay(
            &privileges.dns_counter,
            &[pcap.to_str().expect("UTF-8 path")],
        );
        let stderr = stderr(&output);
        assert!(!output.status.success(), "{}: {stderr}", pcap.display());
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(&format!("{}: link type ", pcap.display())),
            "{stderr}"
        );
        let named = stderr.contains(&format!("link type {linktype} "))
            || stderr.contains(&format!(" ({linktype}"));
        assert!(named && stderr.contains("cannot be replayed"), "{stderr}");
        assert!(
            stderr.contains("only Ethernet (EN10MB, 1), LINUX_SLL (113)"),
            "{stderr}"
        );
        assert!(reports.is_empty(), "{reports:?}");
        refused.push(
            pcap.file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .expect("name"),
        );
    }
    assert!(
        refused.contains(&"ppp_ip_udp_dns.pcap".to_owned()),
        "{refused:?}"
    );
}

#[test]
fn a_missing_or_garbage_file_is_named() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("notes.pcap");
    fs::write(&garbage, "not a capture\n").expect("write");
    let missing = dir.path().join("missing.pcap");
    for (path, says) in [
        (&missing, "cannot read capture"),
        (&garbage, "is neither a pcap nor a pcapng capture"),
    ] {
        let (output, reports, _out) = replay(
            &privileges.dns_counter,
            &[path.to_str().expect("UTF-8 path")],
        );
        let stderr = stderr(&output);
        assert!(!output.status.success(), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(&path.display().to_string()) && stderr.contains(says),
            "{stderr}"
        );
        assert!(reports.is_empty());
    }
}

#[test]
fn intervals_split_a_capture_on_epoch_multiples_like_a_live_run() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    // 42 packets, one query and its answer a second, over 21 seconds.
    let pcap = corpus.join("edns-opts.pcap");
    let decode = Decode::parse(&fs::read_to_string(corpus.join("edns-opts.out")).expect("decode"));
    const STEP: u64 = 5;
    let bucket = |time: SystemTime| {
        time.duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            / STEP
    };
    let first = bucket(decode.packets[0].time);
    let last = bucket(decode.packets.last().expect("packets").time);
    let mut per_bucket = vec![0u64; usize::try_from(last - first + 1).expect("few")];
    for packet in &decode.packets {
        per_bucket[usize::try_from(bucket(packet.time) - first).expect("in order")] += 1;
    }

    let (output, reports, _dir) = replay(
        &privileges.dns_counter,
        &[
            "--interval",
            "5s",
            "--top",
            "0",
            pcap.to_str().expect("UTF-8 path"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let queries: Vec<u64> = reports
        .iter()
        .map(|file| file.report.totals.packets)
        .collect();
    assert_eq!(
        queries, per_bucket,
        "packets per report vs tcpdump's times in {STEP}s buckets"
    );
    for file in &reports {
        assert_eq!(
            Report::check_consistent(&file.report),
            Ok(()),
            "{}",
            file.path.display()
        );
    }
    for pair in reports.windows(2) {
        assert_eq!(
            pair[0].report.end, pair[1].report.start,
            "reports follow each other"
        );
        let end = humantime::parse_rfc3339(&pair[0].report.end).expect("an RFC 3339 end");
        let end = end
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970");
        assert_eq!(
            (end.as_secs() % STEP, end.subsec_nanos()),
            (0, 0),
            "ends on a multiple of {STEP}s"
        );
    }
    let whole = summed_top_counts(&reports).expect("names listed once");
    assert_eq!(whole, BTreeMap::from([("example.com".to_owned(), 21)]));
}

/// A pcap file (little-endian, microseconds) of frames at whole seconds since the epoch.
fn pcap_of(frames: &[(u32, &[u8])]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for field in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 262_144, ETHERNET] {
        bytes.extend(field.to_le_bytes());
    }
    for (second, frame) in frames {
        let len = u32::try_from(frame.len()).expect("small frame");
        for field in [*second, 0, len, len] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.extend(*frame);
    }
    bytes
}

/// The query of dns_udp.pcap (its first record), a frame of 98 bytes.
fn udp_query(corpus: &Path) -> Vec<u8> {
    let pcap = fs::read(corpus.join("dns_udp.pcap")).expect("corpus file");
    let len = u32::from_le_bytes(pcap[24 + 8..24 + 12].try_into().expect("4 bytes")) as usize;
    pcap[24 + 16..24 + 16 + len].to_vec()
}

fn write_pcap(dir: &Path, name: &str, frames: &[(u32, &[u8])]) -> String {
    let path = dir.join(name);
    fs::write(&path, pcap_of(frames)).expect("write the capture");
    path.to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn frames_of_any_length_are_looked_at_and_those_too_short_for_test_run_are_truncated_frames() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let query = udp_query(&corpus);
    // What GRO makes of a flow, and what tcpdump on the receiving host captures.
    let mut long = query.clone();
    long.resize(200_000, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let frames: [&[u8]; 6] = [&query, &[], &query[..13], &query, &query[..14], &long];
    let frames: Vec<(u32, &[u8])> = frames
        .into_iter()
        .map(|frame| (1_704_067_200, frame))
        .collect();
    let path = write_pcap(dir.path(), "lengths.pcap", &frames);
    let (output, reports, _out) = replay(&privileges.dns_counter, &[&path]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = &reports[0].report;
    assert_eq!(report.check_consistent(), Ok(()));
    assert_eq!((report.totals.packets, report.totals.counted), (6, 3));
    assert_eq!(
        nonzero(&report.totals.reasons()),
        BTreeMap::from([("truncated_frame".to_owned(), 3)])
    );
    assert!(
        stderr(&output).contains("frames longer than 64 KiB: 1;"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn captures_without_packets_or_with_too_many_intervals_are_refused() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let query = udp_query(&corpus);
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = write_pcap(dir.path(), "empty.pcap", &[]);
    let (output, reports, _out) = replay(&privileges.dns_counter, &[&empty]);
    assert!(!output.status.success() && reports.is_empty());
    assert!(
        stderr(&output).contains("empty.pcap holds no packets"),
        "{}",
        stderr(&output)
    );
    // A clock that jumped a year: a report every second would be 31 million of them.
    let mistimed = write_pcap(
        dir.path(),
        "mistimed.pcap",
        &[(1_672_531_200, &query), (1_704_067_200, &query)],
    );
    let (output, reports, _out) = replay(&privileges.dns_counter, &["--interval", "1s", &mistimed]);
    assert!(!output.status.success() && reports.is_empty());
    assert!(
        stderr(&output).contains("use a longer --interval"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn without_privileges_it_says_how_to_get_them() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    // setpriv drops every capability, as an unprivileged user would run it.
    let mut command = Command::new("setpriv");
    command
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(&privileges.dns_counter);
    command.arg("replay").arg(corpus.join("dns_udp.pcap"));
    let output = match run_bounded(&mut command, REPLAY_TIMEOUT) {
        Ok(output) => output,
        Err(err) => {
            assert!(
                !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")),
                "setpriv (util-linux): {err:#}"
            );
            eprintln!("skipping: setpriv (util-linux) does not run: {err:#}");
            return;
        }
    };
    let stderr = stderr(&output);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
    // Every capability was dropped, so each is named as missing.
    let (_, missing) = stderr.split_once("missing").expect("names what is missing");
    for capability in ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"] {
        assert!(missing.contains(capability), "names {capability}: {stderr}");
    }
}

/// The records of a little-endian microsecond pcap: (seconds, microseconds, frame).
fn records(pcap: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    assert_eq!(
        pcap[..4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microseconds"
    );
    let field = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().expect("4 bytes"));
    let mut records = Vec::new();
    let mut at = 24;
    while at < pcap.len() {
        let len = field(at + 8) as usize;
        records.push((
            field(at),
            field(at + 4),
            pcap[at + 16..at + 16 + len].to_vec(),
        ));
        at += 16 + len;
    }
    records
}

/// A pcap of link type `linktype` holding `records`, each frame rewritten by `frame_of`.
fn rewritten(
    records: &[(u32, u32, Vec<u8>)],
    linktype: u32,
    frame_of: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    for field in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 262_144, linktype] {
        bytes.extend(field.to_le_bytes());
    }
    for (seconds, micros, frame) in records {
        let frame = frame_of(frame);
        let len = u32::try_from(frame.len()).expect("small frame");
        for field in [*seconds, *micros, len, len] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.extend(frame);
    }
    bytes
}

/// Each report's JSON but for `interfaces`, which names the capture.
fn counts_of(reports: &[ReportFile]) -> Vec<serde_json::Value> {
    reports
        .iter()
        .map(|report| {
            let text = fs::read_to_string(&report.path).expect("read the report");
            let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            value
                .as_object_mut()
                .expect("an object")
                .remove("interfaces");
            value
        })
        .collect()
}

/// Defect: `tcpdump -i any` (LINUX_SLL, SLL2), BSD loopback (NULL, LOOP) and raw IP captures were
/// refused. Each counts as the same packets in Ethernet do.
#[test]
fn captures_of_other_link_types_replay_as_their_ethernet_capture_does() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let ethernet = corpus.join("edns-opts.pcap");
    let records = records(&fs::read(&ethernet).expect("corpus file"));
    assert!(
        records
            .iter()
            .all(|(_, _, frame)| frame[12..14] == [0x08, 0x00]),
        "IPv4 in untagged Ethernet"
    );
    let args = ["--top", "0", "--interval", "1s"];
    let replay_of = |path: &Path| {
        let mut all = args.to_vec();
        all.push(path.to_str().expect("UTF-8 path"));
        let (output, reports, _out) = replay(&privileges.dns_counter, &all);
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            stderr(&output)
        );
        counts_of(&reports)
    };
    let expected = replay_of(&ethernet);
    assert!(!expected.is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    let ip = |frame: &[u8]| frame[14..].to_vec();
    type FrameOf = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let variants: [(&str, u32, FrameOf); 5] = [
        (
            "sll",
            113,
            Box::new(|frame: &[u8]| {
                [
                    &[0, 0, 0, 1, 0, 6][..],
                    &frame[6..12],
                    &[0, 0],
                    &frame[12..],
                ]
                .concat()
            }),
        ),
        (
            "sll2",
            276,
            Box::new(|frame: &[u8]| {
                [
                    &frame[12..14],
                    &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6][..],
                    &frame[6..12],
                    &[0, 0],
                    &frame[14..],
                ]
                .concat()
            }),
        ),
        (
            "null",
            0,
            Box::new(move |frame: &[u8]| [&2u32.to_le_bytes()[..], &ip(frame)].concat()),
        ),
        (
            "loop",
            108,
            Box::new(move |frame: &[u8]| [&2u32.to_be_bytes()[..], &ip(frame)].concat()),
        ),
        ("raw", 101, Box::new(ip)),
    ];
    for (name, linktype, frame_of) in variants {
        let path = dir.path().join(format!("{name}.pcap"));
        fs::write(&path, rewritten(&records, linktype, frame_of)).expect("write");
        assert_eq!(replay_of(&path), expected, "{name}");
    }
}

/// `tcpdump -w - | dns-counter replay -`: a capture from a pipe gives the reports its file does.
#[test]
fn a_capture_from_a_pipe_replays_as_its_file_does() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let capture = corpus.join("dns_tcp.pcap");
    let capture = capture.to_str().expect("UTF-8 path");
    let (output, from_file, _out) = replay(
        &privileges.dns_counter,
        &["--top", "0", "--interval", "1s", capture],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out_dir = tempfile::tempdir().expect("report directory");
    let script =
        "cat \"$1\" | \"$2\" replay --max-names \"$3\" --top 0 --interval 1s --out-dir \"$4\" -";
    let output = run_bounded(
        Command::new("sh")
            .args(["-c", script, "sh", capture])
            .arg(&privileges.dns_counter)
            .arg(MAX_NAMES)
            .arg(out_dir.path()),
        REPLAY_TIMEOUT,
    )
    .expect("replay finishes");
    assert!(output.status.success(), "{}", stderr(&output));
    let from_pipe = read_reports(out_dir.path()).expect("read the reports");
    assert_eq!(counts_of(&from_pipe), counts_of(&from_file));
    assert!(
        from_pipe
            .iter()
            .all(|report| report.report.interfaces == ["replay:stdin"]),
        "{from_pipe:?}"
    );
}

/// Defect: `replay /dev/zero` read until memory ran out (2.1 GB before `ulimit` stopped it).
#[test]
fn an_endless_input_that_is_no_capture_is_refused_at_once() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let (output, reports, _out) = replay(&privileges.dns_counter, &["/dev/zero"]);
    let stderr = stderr(&output);
    assert!(!output.status.success() && reports.is_empty(), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("/dev/zero is neither a pcap nor a pcapng capture"),
        "{stderr}"
    );
}

/// Captures of several CPUs or interfaces are out of order by a few packets: replay puts them in
/// timestamp order (within 10,000 packets) before it splits them into intervals.
#[test]
fn packets_a_few_places_out_of_order_are_counted_in_their_intervals() {
    let Some(privileges) = require_privileges() else {
        return;
    };
    let Some(corpus) = require_corpus() else {
        return;
    };
    let capture = corpus.join("edns-opts.pcap");
    let mut shuffled = records(&fs::read(&capture).expect("corpus file"));
    // Each pair swapped, and the last packet moved to the front.
    for pair in shuffled.chunks_mut(2) {
        pair.reverse();
    }
    shuffled.rotate_right(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shuffled.pcap");
    fs::write(&path, rewritten(&shuffled, ETHERNET, <[u8]>::to_vec)).expect("write");
    let args = ["--top", "0", "--interval", "1s"];
    let replayed = |path: &Path| {
        let mut all = args.to_vec();
        all.push(path.to_str().expect("UTF-8 path"));
        let (output, reports, _out) = replay(&privileges.dns_counter, &all);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            !stderr(&output).contains("packets came more than"),
            "{}",
            stderr(&output)
        );
        counts_of(&reports)
    };
    let in_order = replayed(&capture);
    assert!(
        in_order.len() > 1,
        "the capture spans intervals: {in_order:?}"
    );
    assert_eq!(replayed(&path), in_order);
}
