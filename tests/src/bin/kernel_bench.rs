//! `dns-counter-kernel-bench` (run by `cargo xtask bench`): what the XDP program costs per packet,
//! as the kernel itself times it with BPF_PROG_TEST_RUN, next to two yardsticks from the same
//! object: an empty program and one that only bumps a per-CPU counter. Prints a table, writes
//! `<target>/bench/kernel-path.json` and the kernel-path section of BENCHMARKS.md, and says which
//! of the targets are met. A missed target is a result, not a failure: the bench fails
//! only when it cannot measure (load, test_run, a verdict other than XDP_PASS, or a packet that
//! the program does not take down the path it is meant to measure).

use std::{fmt::Write as _, process::ExitCode, sync::Barrier};

use anyhow::{Context as _, Result, bail, ensure};
use aya::{
    Ebpf,
    maps::PerCpuArray,
    programs::{TestRun as _, TestRunOptions, Xdp},
};
use dns_counter::kernel::loader;
use dns_counter_common::{
    Reason,
    maps::{
        DEFAULT_MAX_NAMES, PROGRAM_NAME, STAT_COUNTED, STAT_PACKETS, STAT_REASONS, STATS_MAP,
        STATS_PER_SET,
    },
    testing::{Encapsulation, frame},
};
use dns_counter_tests::bench::{
    Column, Machine, PartArgs, PartHeader, Section, Table, Target, median, pin_to_cpu, publish,
    targets_table, thousands, written_by,
};
use serde::Serialize;

/// The yardsticks in dns-counter-ebpf/src/baseline.rs.
const BASELINE_PASS: &str = "baseline_pass";
const BASELINE_COUNT: &str = "baseline_count";
/// Every program measured, in table column order.
const PROGRAMS: [&str; 3] = [BASELINE_PASS, BASELINE_COUNT, PROGRAM_NAME];

const XDP_PASS: u32 = 2;

/// At least the floor of 7 runs of a million repeats: 11, so the median stays put when a
/// few runs share the CPU with something else (a busy 2-core VM does that).
const RUNS: usize = 11;
const REPEAT: u32 = 1_000_000;
/// `--quick`: a smoke run that checks the plumbing; its numbers are noisy.
const QUICK_RUNS: usize = 3;
const QUICK_REPEAT: u32 = 20_000;
/// Repeats of the untimed run before timing: makes names hot and caches warm.
const WARMUP_REPEAT: u32 = 10_000;
/// The two cores of the hot-name comparison.
const HOT_NAME_CPUS: [usize; 2] = [0, 1];

/// This part's name: its JSON file and its BENCHMARKS.md markers.
const PART: &str = "kernel-path";
const JSON_SCHEMA: &str = "dns-counter/bench/kernel-path/v1";

/// The bench's "kernel-path" part: the XDP program's cost per packet with BPF_PROG_TEST_RUN,
/// against an empty and a count-only program. Needs root; `cargo xtask bench` runs it.
#[derive(clap::Parser)]
#[command(name = "dns-counter-kernel-bench")]
struct Args {
    #[command(flatten)]
    part: PartArgs,
}

fn main() -> ExitCode {
    dns_counter_tests::bench::main(|args: Args| bench(args.part.quick))
}

/// One packet the programs are timed on.
struct Case {
    /// Short stable key, used in the JSON.
    key: &'static str,
    /// What the packet is, for people.
    label: &'static str,
    frame: Vec<u8>,
    /// How `dns_counter` must account for it: counted (`None`) or not counted for this reason.
    /// Checked before timing, so a table row always measures the path its label names.
    expect: Option<Reason>,
}

const TYPICAL: &str = "typical";
const LONG_NAME: &str = "long_name_127_labels";
const QINQ: &str = "qinq";
const IPV6: &str = "ipv6";
const NTP: &str = "udp_port_123";
const ARP: &str = "arp";

fn cases() -> Vec<Case> {
    let typical_dns = dns_query(&wire_name(&[b"www", b"example", b"com"]), 1);
    // 127 one-byte labels: the most labels a 255-byte name can have, so the most work for the
    // label walk.
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let one_byte_labels: Vec<&[u8]> = (0..127).map(|i| &letters[i % 26..i % 26 + 1]).collect();
    // Also 255 bytes, in the fewest labels (63 + 63 + 63 + 61): the same hashing, little walking.
    let (a, b) = ([b'a'; 63], [b'b'; 61]);
    let long_labels: [&[u8]; 4] = [&a, &a, &a, &b];
    let mut truncated = typical_dns.clone();
    truncated.truncate(12 + 9); // ends inside "example"

    let ipv4 = |dns: &[u8]| frame(Encapsulation::Ipv4, dns).0;
    vec![
        Case {
            key: TYPICAL,
            label: "IPv4/UDP query `www.example.com` A",
            frame: ipv4(&typical_dns),
            expect: None,
        },
        Case {
            key: LONG_NAME,
            label: "255-byte name, 127 one-byte labels",
            frame: ipv4(&dns_query(&wire_name(&one_byte_labels), 1)),
            expect: None,
        },
        Case {
            key: "long_name_4_labels",
            label: "255-byte name, 4 labels (63+63+63+61)",
            frame: ipv4(&dns_query(&wire_name(&long_labels), 1)),
            expect: None,
        },
        Case {
            key: QINQ,
            label: "typical, 802.1ad + 802.1Q tags",
            frame: frame(Encapsulation::QinQ, &typical_dns).0,
            expect: None,
        },
        Case {
            key: IPV6,
            label: "typical over IPv6",
            frame: frame(Encapsulation::Ipv6, &typical_dns).0,
            expect: None,
        },
        Case {
            key: NTP,
            label: "non-DNS: IPv4/UDP NTP request (port 123)",
            frame: ntp_request(),
            expect: Some(Reason::OtherPort),
        },
        Case {
            key: ARP,
            label: "non-DNS: ARP request",
            frame: arp_request(),
            expect: Some(Reason::NotIp),
        },
        Case {
            key: "compression_pointer",
            label: "malformed: `www` + compression pointer",
            frame: ipv4(&dns_query(&[3, b'w', b'w', b'w', 0xc0, 0x0c], 1)),
            expect: Some(Reason::CompressionPointer),
        },
        Case {
            key: "truncated_question",
            label: "malformed: question cut inside the name",
            frame: ipv4(&truncated),
            expect: Some(Reason::TruncatedQuestion),
        },
    ]
}

/// `labels` in DNS wire form, terminating zero included.
fn wire_name(labels: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for label in labels {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    wire
}

/// A DNS query as a stub resolver sends it: RD set, one question of class IN, no EDNS.
fn dns_query(wire_name: &[u8], qtype: u16) -> Vec<u8> {
    let mut message = vec![0x53, 0x53, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(wire_name);
    message.extend_from_slice(&qtype.to_be_bytes());
    message.extend_from_slice(&1u16.to_be_bytes());
    message
}

/// An NTPv4 client request (48 bytes, LI 0, VN 4, mode 3) from port 123 to port 123.
fn ntp_request() -> Vec<u8> {
    let mut ntp = vec![0u8; 48];
    ntp[0] = 0x23;
    let (mut f, payload) = frame(Encapsulation::Ipv4, &ntp);
    // `frame` writes UDP from 50000 to 53; the UDP header is the 8 bytes before the payload.
    let udp = payload - 8;
    f[udp..udp + 4].copy_from_slice(&[0, 123, 0, 123]);
    f
}

/// A broadcast ARP request (who has 169.254.53.1?), padded to the 60-byte Ethernet minimum.
fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet/IPv4, request
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 169, 254, 53, 2]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 169, 254, 53, 1]);
    f.resize(60, 0);
    f
}

fn xdp<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp> {
    let program = ebpf
        .program(name)
        .with_context(|| format!("the eBPF object has no program {name}"))?;
    program
        .try_into()
        .with_context(|| format!("{name} is not an XDP program"))
}

/// Runs `program` on `frame` `repeat` times; returns the kernel's mean ns per run.
fn test_run(program: &Xdp, name: &str, frame: &[u8], repeat: u32) -> Result<u32> {
    let result = program
        .test_run(TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        })
        .with_context(|| format!("BPF_PROG_TEST_RUN of {name}"))?;
    ensure!(
        result.return_value == XDP_PASS,
        "{name} returned verdict {} instead of XDP_PASS ({XDP_PASS})",
        result.return_value
    );
    Ok(u32::try_from(result.duration.as_nanos()).unwrap_or(u32::MAX))
}

/// Set 0's stats slots summed over CPUs (the bench never flips sets).
fn stats(ebpf: &Ebpf) -> Result<Vec<u64>> {
    let map = ebpf
        .map(STATS_MAP)
        .with_context(|| format!("the eBPF object has no map {STATS_MAP}"))?;
    let stats: PerCpuArray<_, u64> = PerCpuArray::try_from(map).context("reading the stats map")?;
    (0..STATS_PER_SET)
        .map(|slot| {
            Ok(stats
                .get(&slot, 0)
                .context("reading the stats map")?
                .iter()
                .sum())
        })
        .collect()
}

/// The untimed run before timing. For `dns_counter` it also checks, from the stats map, that
/// every repeat was counted, or not counted for the expected reason.
fn warm_up(ebpf: &Ebpf, name: &str, case: &Case) -> Result<()> {
    let before = (name == PROGRAM_NAME).then(|| stats(ebpf)).transpose()?;
    test_run(xdp(ebpf, name)?, name, &case.frame, WARMUP_REPEAT)?;
    let Some(before) = before else { return Ok(()) };
    let after = stats(ebpf)?;
    let expected_slot = match case.expect {
        None => STAT_COUNTED,
        Some(reason) => STAT_REASONS + reason.index(),
    };
    let n = u64::from(WARMUP_REPEAT);
    for (slot, (b, a)) in before.iter().zip(&after).enumerate() {
        let slot = slot as u32;
        let want = if slot == STAT_PACKETS || slot == expected_slot {
            n
        } else {
            0
        };
        if a - b != want {
            bail!(
                "{name} did not take packet `{}` down the path it is meant to measure: stats slot {} ({}) \
                 moved by {} over {n} runs, expected {want}",
                case.key,
                slot,
                slot_name(slot),
                a - b
            );
        }
    }
    Ok(())
}

fn slot_name(slot: u32) -> &'static str {
    match slot {
        STAT_PACKETS => "packets",
        STAT_COUNTED => "counted",
        _ => Reason::ALL
            .get((slot - STAT_REASONS) as usize)
            .map_or("?", |reason| reason.name()),
    }
}

/// Every program on every packet, `runs` times. Runs interleave programs and packets, so a slow
/// spell of the machine spreads over all of them instead of skewing one ratio.
fn measure_each(ebpf: &Ebpf, cases: &[Case], runs: usize, repeat: u32) -> Result<Vec<Measurement>> {
    let mut times = vec![vec![Vec::with_capacity(runs); PROGRAMS.len()]; cases.len()];
    for _ in 0..runs {
        for (case, case_times) in cases.iter().zip(&mut times) {
            for (name, program_times) in PROGRAMS.iter().zip(case_times.iter_mut()) {
                let ns = test_run(xdp(ebpf, name)?, name, &case.frame, repeat)?;
                program_times.push(f64::from(ns));
            }
        }
    }
    let measurements = cases
        .iter()
        .zip(times)
        .flat_map(|(case, case_times)| {
            PROGRAMS
                .iter()
                .zip(case_times)
                .map(|(program, runs_ns)| Measurement {
                    program,
                    packet: case.key,
                    median_ns: median(&runs_ns),
                    runs_ns,
                })
        })
        .collect();
    Ok(measurements)
}

/// The typical query from CPU 0 alone, then from CPUs 0 and 1 at once, `runs` times each,
/// alternating.
fn measure_hot_name(program: &Xdp, typical: &[u8], runs: usize, repeat: u32) -> Result<HotName> {
    let (mut one, mut two) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        one.push(hot_name_on(program, typical, &HOT_NAME_CPUS[..1], repeat)?);
        two.push(hot_name_on(program, typical, &HOT_NAME_CPUS, repeat)?);
    }
    Ok(HotName {
        cpus: HOT_NAME_CPUS,
        one_core_median_ns: median(&one),
        two_cores_median_ns: median(&two),
        one_core_runs_ns: one,
        two_cores_runs_ns: two,
    })
}

/// The typical query through `dns_counter` from one thread per CPU in `cpus`, all at once: one
/// thread per CPU, pinned, warmed up, released together by a barrier. Returns the mean over the
/// threads of the kernel's ns per packet.
fn hot_name_on(program: &Xdp, frame: &[u8], cpus: &[usize], repeat: u32) -> Result<f64> {
    let start = Barrier::new(cpus.len());
    let per_thread: Vec<Result<u32>> = std::thread::scope(|scope| {
        let threads: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                let start = &start;
                scope.spawn(move || {
                    // Every thread reaches the barrier, even after an error, so none waits forever.
                    let ready = pin_to_cpu(cpu)
                        .and_then(|()| test_run(program, PROGRAM_NAME, frame, WARMUP_REPEAT));
                    start.wait();
                    ready.and_then(|_| test_run(program, PROGRAM_NAME, frame, repeat))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("a bench thread panicked"))
            .collect()
    });
    let mut total = 0.0;
    for ns in per_thread {
        total += f64::from(ns?);
    }
    Ok(total / cpus.len() as f64)
}

#[derive(Serialize)]
struct Packet {
    key: &'static str,
    label: &'static str,
    frame_bytes: usize,
}

#[derive(Serialize)]
struct Measurement {
    program: &'static str,
    packet: &'static str,
    /// Median over the runs of the kernel's mean ns per packet.
    median_ns: f64,
    runs_ns: Vec<f64>,
}

#[derive(Serialize)]
struct HotName {
    cpus: [usize; 2],
    one_core_median_ns: f64,
    two_cores_median_ns: f64,
    one_core_runs_ns: Vec<f64>,
    /// Per run, the mean of the two threads' ns per packet.
    two_cores_runs_ns: Vec<f64>,
}

#[derive(Serialize)]
struct Results {
    #[serde(flatten)]
    header: PartHeader,
    runs: usize,
    repeat: u32,
    packets: Vec<Packet>,
    measurements: Vec<Measurement>,
    /// Absent on a machine with fewer than two CPUs.
    hot_name: Option<HotName>,
}

impl Results {
    fn ns(&self, program: &str, packet: &str) -> f64 {
        self.measurements
            .iter()
            .find(|m| m.program == program && m.packet == packet)
            .map_or(f64::NAN, |m| m.median_ns)
    }
}

fn bench(quick: bool) -> Result<()> {
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    loader::raise_memlock_limit();
    let (runs, repeat) = if quick {
        (QUICK_RUNS, QUICK_REPEAT)
    } else {
        (RUNS, REPEAT)
    };
    let machine = Machine::this()?;

    // The daemon's default table size: lookups see the map the deployed program sees.
    let mut loaded = loader::load(DEFAULT_MAX_NAMES).context("loading the XDP object")?;
    for name in [BASELINE_PASS, BASELINE_COUNT] {
        let program = loaded
            .ebpf
            .program_mut(name)
            .with_context(|| format!("the eBPF object has no program {name}"))?;
        let program: &mut Xdp = program
            .try_into()
            .with_context(|| format!("{name} is not an XDP program"))?;
        program
            .load()
            .with_context(|| format!("the kernel refused {name}"))?;
    }
    let ebpf = &loaded.ebpf;
    // Every single-thread measurement runs on one CPU, so per-CPU state and caches stay put.
    pin_to_cpu(HOT_NAME_CPUS[0])?;

    let cases = cases();
    for case in &cases {
        for name in PROGRAMS {
            warm_up(ebpf, name, case)?;
        }
    }
    eprintln!(
        "measuring {} programs × {} packets, {runs} runs × {repeat} repeats each{}",
        PROGRAMS.len(),
        cases.len(),
        if quick {
            " (--quick: a smoke run, not a measurement)"
        } else {
            ""
        }
    );
    let measurements = measure_each(ebpf, &cases, runs, repeat)?;
    let hot_name = if machine.cpus >= HOT_NAME_CPUS.len() {
        let typical = cases
            .iter()
            .find(|case| case.key == TYPICAL)
            .context("no typical packet")?;
        Some(measure_hot_name(
            xdp(ebpf, PROGRAM_NAME)?,
            &typical.frame,
            runs,
            repeat,
        )?)
    } else {
        eprintln!(
            "only {} CPU: the hot name from two cores is not measured",
            machine.cpus
        );
        None
    };

    let mut results = Results {
        header: PartHeader::new(JSON_SCHEMA, machine, quick),
        runs,
        repeat,
        packets: cases
            .iter()
            .map(|case| Packet {
                key: case.key,
                label: case.label,
                frame_bytes: case.frame.len(),
            })
            .collect(),
        measurements,
        hot_name,
    };
    results.header.targets = targets(&results);

    let section = render(&results, &cases);
    publish(PART, &section, &results, quick)
}

/// The targets, each a ratio of two figures from this run, each with why it would miss.
fn targets(results: &Results) -> Vec<Target> {
    let ours = |packet| results.ns(PROGRAM_NAME, packet);
    let empty = |packet| results.ns(BASELINE_PASS, packet);
    let ratio = |what: &str,
                 limit: f64,
                 (num, num_what): (f64, &str),
                 (den, den_what): (f64, &str),
                 miss: String| {
        Target::at_most(
            what,
            num / den,
            limit,
            format!("{num_what} {num:.1} ns / {den_what} {den:.1} ns"),
        )
        .if_missed(miss)
    };
    // Against `empty`, a fixed cost weighs more the cheaper this machine's test-run harness is.
    let over_empty = |packet, work: &str| {
        format!(
            "`empty`, the test-run harness alone, costs {:.0} ns on this machine, and {work} adds \
             {:.0} ns to it; fewer bounds-checked loads in the walk would fix it (`bpftool prog \
             profile` shows where the time goes)",
            empty(packet),
            ours(packet) - empty(packet)
        )
    };
    let mut targets =
        vec![
        ratio(
            "typical ≤ 6× empty",
            6.0,
            (ours(TYPICAL), "typical"),
            (empty(TYPICAL), "empty"),
            over_empty(
                TYPICAL,
                "the walk, the name's hash, its count and its qtype",
            ),
        ),
        ratio(
            "255-byte name ≤ 4× typical",
            4.0,
            (ours(LONG_NAME), "127 labels"),
            (ours(TYPICAL), "typical"),
            "each of the 127 labels costs the walk a bounds-checked load, a copy and a hash step, \
             which the count's map update does not dwarf here; reading a name in wider loads \
             would fix it"
                .to_owned(),
        ),
        ratio(
            "VLAN ≤ 1.3× typical",
            1.3,
            (ours(QINQ), "QinQ"),
            (ours(TYPICAL), "typical"),
            "each VLAN tag costs a load and a compare; profile the Ethernet walk".to_owned(),
        ),
        ratio(
            "IPv6 ≤ 1.3× typical",
            1.3,
            (ours(IPV6), "IPv6"),
            (ours(TYPICAL), "typical"),
            "the IPv6 header walk costs more than it should; profile it".to_owned(),
        ),
        ratio(
            "non-DNS (UDP 123) ≤ 1.5× empty",
            1.5,
            (ours(NTP), "UDP 123"),
            (empty(NTP), "empty"),
            over_empty(NTP, "the Ethernet, IP and UDP walk with the counted-ports lookup"),
        ),
        ratio(
            "non-DNS (ARP) ≤ 1.5× empty",
            1.5,
            (ours(ARP), "ARP"),
            (empty(ARP), "empty"),
            over_empty(ARP, "reading the EtherType"),
        ),
    ];
    if let Some(hot) = &results.hot_name {
        targets.push(ratio(
            "hot name from 2 cores ≤ 1.2× from one",
            1.2,
            (hot.two_cores_median_ns, "two cores"),
            (hot.one_core_median_ns, "one core"),
            "a name has one count shared by all CPUs (so its kernel memory does not grow with \
             the CPU count), added atomically: two cores counting the same name at once take \
             its cache line from each other; counting the names hot in the last interval in \
             per-CPU slots would fix it"
                .to_owned(),
        ));
    }
    targets
}

/// The BENCHMARKS.md section, also what the bench prints.
fn render(results: &Results, cases: &[Case]) -> Section {
    let mut out = Section::new();
    // Writing to a Section cannot fail.
    let _ = writeln!(out, "### Last run: ns per packet\n");
    let _ = writeln!(
        out,
        "{}: median of {} runs × {} repeats of the kernel's mean ns per packet (whole ns). {}\n",
        results.header.provenance(),
        results.runs,
        thousands(u64::from(results.repeat)),
        written_by(PART)
    );
    let mut table = Table::new([
        Column::left("packet"),
        Column::right("empty"),
        Column::right("one counter"),
        Column::right("dns_counter"),
        Column::right("dns_counter ÷ empty"),
    ]);
    for case in cases {
        let [pass, count, ours] = PROGRAMS.map(|program| results.ns(program, case.key));
        table.row([
            case.label.to_owned(),
            format!("{pass:.1}"),
            format!("{count:.1}"),
            format!("{ours:.1}"),
            format!("{:.2}×", ours / pass),
        ]);
    }
    out.table(&table);
    if let Some(hot) = &results.hot_name {
        let _ = writeln!(
            out,
            "\nHot name (the typical query, `dns_counter`): {:.1} ns per packet from CPU {} alone, \
             {:.1} ns per packet per core from CPUs {} and {} at once.",
            hot.one_core_median_ns, hot.cpus[0], hot.two_cores_median_ns, hot.cpus[0], hot.cpus[1]
        );
    }
    let _ = writeln!(out);
    out.table(&targets_table(&results.header.targets));
    let _ = writeln!(out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_what_their_labels_say() {
        let cases = cases();
        let frame_of = |key: &str| &cases.iter().find(|case| case.key == key).unwrap().frame;
        // 14 Ethernet + 20 IPv4 + 8 UDP + 12 DNS header, then the name.
        assert_eq!(frame_of(LONG_NAME).len(), 54 + 255 + 4);
        assert_eq!(frame_of("long_name_4_labels").len(), 54 + 255 + 4);
        assert_eq!(frame_of(QINQ).len(), frame_of(TYPICAL).len() + 8);
        assert_eq!(frame_of(ARP).len(), 60);
        // The host walk agrees with the expected outcome of every packet.
        for case in &cases {
            let mut words = [0u64; dns_counter_common::maps::NAME_WORDS];
            let outcome = dns_counter_common::walk::parse_query(
                case.frame.as_slice(),
                |port| port == 53,
                [1, 2],
                &mut words,
            );
            assert_eq!(outcome.err(), case.expect, "{}", case.key);
        }
    }
}
