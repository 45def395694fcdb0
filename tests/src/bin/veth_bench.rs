//! `dns-counter-veth-bench [--quick]`: the bench's "veth" part. Pre-built DNS query frames go
//! from the lab's client namespace into the resolver's veth end as fast as the machine allows
//! (tests/src/traffic.rs), with no program, a count-only XDP program and dns-counter on the
//! receiving end; then dnsperf against unbound, answered, without and with dns-counter; then the
//! kernel's cost per query (its own run-time statistics) at 1 k and at 1 M distinct names.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use aya::maps::PerCpuArray;
use aya::programs::{Xdp, XdpMode};
use dns_counter::kernel::loader;
use dns_counter_tests::bench::{
    Column, Machine, PartArgs, PartHeader, Section, Table, Target, figure, median, publish,
    targets_table, thousands, written_by,
};
use dns_counter_tests::bpf_stats::{self, BpfStatsEnabled, ProgramRunStats};
use dns_counter_tests::counter::wait_for_room_in_interval;
use dns_counter_tests::lab::{RESOLVER_IFACE, RESOLVER_V4};
use dns_counter_tests::netdev;
use dns_counter_tests::prereq::check_privileges;
use dns_counter_tests::traffic::{self, Frames, LinkCounters, QUIET_V4, SendPlan, Sent};
use dns_counter_tests::{Counter, Dnsperf, Lab, Workload};
use serde::Serialize;

const PART: &str = "veth";
const JSON_SCHEMA: &str = "dns-counter/bench/veth/v1";

/// The bench's "veth" part: packets per second on a veth with no program, a count-only program
/// and dns-counter; dnsperf against unbound; kernel cost per query at 1 k and 1 M names. Needs
/// root; `cargo xtask bench` runs it.
#[derive(clap::Parser)]
#[command(name = "dns-counter-veth-bench")]
struct Args {
    #[command(flatten)]
    part: PartArgs,
}

/// The sender's CPU, and the other one, where the receiving side polls when it has a thread.
const SENDER_CPU: usize = 0;
const RECEIVER_CPU: usize = 1;

/// The count-only yardstick in dns-counter-ebpf/src/baseline.rs, and its counter.
const COUNT_ONLY: &str = "baseline_count";
const COUNT_ONLY_MAP: &str = "BASELINE_COUNTER";
/// Table size when the object is loaded only for its count-only program.
const COUNT_ONLY_MAX_NAMES: u32 = 1024;

/// Line-rate runs: names in the frame set, frames in it (sent over and over).
const RATE_NAMES: usize = 10_000;
const RATE_FRAME_SET: u64 = 100_000;
/// The first send, which warms the path and measures the rate the others are sized from.
const WARM_UP: Duration = Duration::from_secs(1);
/// Reports far longer than any run, so no flip happens while measuring (a run that straddles a
/// boundary gets two reports, which are summed).
const INTERVAL: Duration = Duration::from_secs(3600);
/// Room in a report interval for a counter to start and stop around its sends.
const COUNTER_ROOM: Duration = Duration::from_secs(60);
/// How long frames still queued after a send may take to arrive.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Names dnsperf draws from, and the lines of its datafile, which it loops over until its time
/// limit (its runs through the file are sized from a short run's rate).
const DNSPERF_NAMES: usize = 10_000;
const DNSPERF_LINES: u64 = 100_000;
/// The short run that measures how fast dnsperf sends here: the datafile once, at most this long.
const DNSPERF_CALIBRATION: Duration = Duration::from_secs(1);
/// The small name set of the growth runs.
const GROWTH_SMALL_NAMES: usize = 1_000;
/// Passes over the large name set: the first inserts every name, the later ones find them.
const GROWTH_PASSES: usize = 3;

/// What a full run and a `--quick` smoke run measure.
struct Sizes {
    /// Each line-rate run sends for this long.
    run_time: Duration,
    rounds: usize,
    dnsperf_seconds: u64,
    growth_large_names: usize,
}

const FULL: Sizes = Sizes {
    run_time: Duration::from_secs(5),
    rounds: 3,
    dnsperf_seconds: 10,
    growth_large_names: 1_000_000,
};
const QUICK: Sizes = Sizes {
    run_time: Duration::from_millis(500),
    rounds: 1,
    dnsperf_seconds: 3,
    growth_large_names: 100_000,
};

fn main() -> ExitCode {
    dns_counter_tests::bench::main(|args: Args| bench(args.part.quick))
}

/// What is on the resolver's veth end during a line-rate run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Receiver {
    NoProgram,
    CountOnly,
    DnsCounter,
}

impl Receiver {
    fn label(self) -> &'static str {
        match self {
            Self::NoProgram => "no program",
            Self::CountOnly => "count-only XDP program",
            Self::DnsCounter => "dns-counter",
        }
    }
}

/// Where the veth's receive side runs with an XDP program attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Napi {
    /// The kernel's default: softirq on the sender's CPU (no program: the per-CPU backlog there).
    SenderCpu,
    /// Threaded NAPI, its kernel thread pinned to the other CPU.
    OwnThread,
}

impl Napi {
    fn label(self) -> &'static str {
        match self {
            Self::SenderCpu => "softirq on the sender's CPU",
            Self::OwnThread => "threaded NAPI on the other CPU",
        }
    }
}

/// One line-rate run.
#[derive(Clone, Debug, Serialize)]
struct RateRun {
    receiver: Receiver,
    napi: Napi,
    round: usize,
    sent: u64,
    sent_pps: f64,
    seconds: f64,
    /// Sends the kernel refused and the generator repeated.
    retries: u64,
    /// vres rx_packets over the run.
    received: u64,
    received_pps: f64,
    /// Dropped on the way: vcli tx_dropped + vres rx_dropped.
    dropped: u64,
    /// The count-only program's own counter, or dns-counter's `totals.packets`.
    program_packets: Option<u64>,
    /// dns-counter's `totals.counted`: queries counted by name.
    counted: Option<u64>,
}

/// The medians of one receiver and NAPI mode.
#[derive(Clone, Debug, Serialize)]
struct RateCase {
    receiver: Receiver,
    napi: Napi,
    received_pps: f64,
    sent_pps: f64,
    /// Every run's program count equals its frames sent (dns-counter: counted by name).
    all_counted: Option<bool>,
    dropped: u64,
}

#[derive(Clone, Debug, Serialize)]
struct DnsperfRun {
    receiver: Receiver,
    /// The time limit; dnsperf's own run time is `run_seconds`.
    seconds: u64,
    run_seconds: f64,
    /// The bound on runs through the datafile, sized from the calibration's rate.
    runs_through_datafile: u64,
    sent: u64,
    completed: u64,
    lost: u64,
    queries_per_second: f64,
    /// Queries sent by runs before this one that used up their runs through the datafile
    /// before the time limit (and were run again); dns-counter counted those too.
    sent_by_earlier_runs: u64,
    /// dns-counter's counted total, beside dnsperf's sent.
    counted: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
struct DnsperfRuns {
    lines: u64,
    /// Queries per second of the calibration run, which sized the runs through the datafile.
    calibration_qps: f64,
    runs: Vec<DnsperfRun>,
}

#[derive(Clone, Debug, Serialize)]
struct GrowthRun {
    distinct_names: usize,
    frames_per_pass: u64,
    /// Kernel ns per query of each pass.
    pass_ns: Vec<f64>,
    pass_sent_pps: Vec<f64>,
    /// The first pass (names new: inserts and ring buffer events).
    first_pass_ns: f64,
    /// The later passes together (names hot).
    later_passes_ns: f64,
    /// dns-counter's `totals.counted` and `totals.queries`.
    counted: u64,
    queries: u64,
    sent: u64,
    /// vres rx_packets, and drops on the pair, over the passes.
    received: u64,
    dropped: u64,
    /// run_cnt of the program over the passes.
    program_runs: u64,
}

#[derive(Serialize)]
struct Results {
    #[serde(flatten)]
    header: PartHeader,
    sender_cpu: usize,
    receiver_cpu: usize,
    /// Each line-rate run sends for this long, bounded in count from the warm-up's rate.
    run_seconds: f64,
    warm_up_pps: f64,
    rounds: usize,
    frame_bytes: usize,
    rate_runs: Vec<RateRun>,
    rate_cases: Vec<RateCase>,
    /// The NAPI mode the count-only program received fastest with; the targets compare in it.
    chosen_napi: Napi,
    generator_max_pps: f64,
    generator_capacity: GeneratorCapacity,
    dnsperf: DnsperfRuns,
    growth: Vec<GrowthRun>,
}

fn bench(quick: bool) -> Result<()> {
    let privileges = check_privileges().map_err(anyhow::Error::msg)?;
    loader::raise_memlock_limit();
    let sizes = if quick { QUICK } else { FULL };
    let machine = Machine::this()?;
    ensure!(
        machine.cpus > RECEIVER_CPU,
        "this bench needs {} CPUs (a sender and a receiver), the machine has {}",
        RECEIVER_CPU + 1,
        machine.cpus
    );
    let dns_counter = privileges.dns_counter.as_path();
    let lab = Lab::new().context("building the lab")?;
    let out_root = tempfile::Builder::new()
        .prefix("dns-counter-veth-bench-")
        .tempdir()?;

    let rate_workload = Workload::zipf(0x5eed, RATE_NAMES, RATE_FRAME_SET);
    let frames = Frames::queries(&lab, QUIET_V4, rate_workload.queries())?;
    let frame_bytes = frames.frame(0).len();
    // Warms the path (ARP-free: the frames carry the MACs), the qdisc and the page allocator,
    // and measures the rate the line-rate runs' count bounds are sized from.
    let warm_up_pps =
        traffic::send(&lab, &frames, &SendPlan::calibration(WARM_UP, SENDER_CPU))?.pps();
    let run_plan = SendPlan::timed(sizes.run_time, warm_up_pps, SENDER_CPU)?;

    let mut rate_runs = Vec::new();
    let cases = [
        (Receiver::NoProgram, Napi::SenderCpu),
        (Receiver::CountOnly, Napi::SenderCpu),
        (Receiver::CountOnly, Napi::OwnThread),
        (Receiver::DnsCounter, Napi::SenderCpu),
        (Receiver::DnsCounter, Napi::OwnThread),
    ];
    for round in 0..sizes.rounds {
        for (receiver, napi) in cases {
            let out_dir = out_root
                .path()
                .join(format!("rate-{round}-{receiver:?}-{napi:?}"));
            let run = rate_run(
                &lab,
                dns_counter,
                &out_dir,
                &frames,
                receiver,
                napi,
                round,
                &run_plan,
            )
            .with_context(|| format!("{} with {}", receiver.label(), napi.label()))?;
            eprintln!(
                "round {round}: {} ({}): sent {} at {:.0} pps, vres received {} ({:.0} pps), \
                 program saw {:?}, counted {:?}, dropped {}",
                receiver.label(),
                napi.label(),
                run.sent,
                run.sent_pps,
                run.received,
                run.received_pps,
                run.program_packets,
                run.counted,
                run.dropped
            );
            rate_runs.push(run);
        }
    }
    let rate_cases: Vec<RateCase> = cases
        .iter()
        .map(|&(receiver, napi)| rate_case(&rate_runs, receiver, napi))
        .collect();
    let case_pps = |receiver, napi| {
        rate_cases
            .iter()
            .find(|case| case.receiver == receiver && case.napi == napi)
            .map_or(f64::NAN, |case| case.received_pps)
    };
    let chosen_napi = if case_pps(Receiver::CountOnly, Napi::OwnThread)
        >= case_pps(Receiver::CountOnly, Napi::SenderCpu)
    {
        Napi::OwnThread
    } else {
        Napi::SenderCpu
    };
    let generator_max_pps = rate_runs.iter().map(|run| run.sent_pps).fold(0.0, f64::max);
    let generator_capacity = generator_capacity(&lab, &frames, &run_plan, sizes.rounds)?;
    // The growth passes must send every frame: their time bounds are sized from dns-counter's
    // own rate in the chosen mode.
    let counter_pps = rate_cases
        .iter()
        .find(|case| case.receiver == Receiver::DnsCounter && case.napi == chosen_napi)
        .map_or(f64::NAN, |case| case.sent_pps);

    let dnsperf = dnsperf_runs(&lab, dns_counter, out_root.path(), &sizes)?;
    let growth = growth_runs(
        &lab,
        dns_counter,
        out_root.path(),
        &sizes,
        chosen_napi,
        counter_pps,
    )?;

    let mut results = Results {
        header: PartHeader::new(JSON_SCHEMA, machine, quick),
        sender_cpu: SENDER_CPU,
        receiver_cpu: RECEIVER_CPU,
        run_seconds: sizes.run_time.as_secs_f64(),
        warm_up_pps,
        rounds: sizes.rounds,
        frame_bytes,
        rate_runs,
        rate_cases,
        chosen_napi,
        generator_max_pps,
        generator_capacity,
        dnsperf,
        growth,
    };
    results.header.targets = targets(&results);
    let section = render(&results);
    publish(PART, &section, &results, quick)
}

/// Starts dns-counter on the resolver's veth end with a JSON report at most every [`INTERVAL`],
/// once the interval has room left for `sends` and for the counter to start and stop, so the
/// sends land in one interval (its report, or the one SIGTERM writes). `extra` is more arguments.
fn start_counter(
    dns_counter: &Path,
    lab: &Lab,
    out_dir: &Path,
    sends: Duration,
    extra: &[&str],
) -> Result<Counter> {
    wait_for_room_in_interval(INTERVAL, sends + COUNTER_ROOM);
    let interval = humantime::format_duration(INTERVAL).to_string();
    let mut args = vec!["--top", "10", "--interval", &interval, "--format", "json"];
    args.extend_from_slice(extra);
    Counter::start(dns_counter, lab, out_dir, &args)
}

/// The count-only program attached to the resolver's veth end; detached on drop.
struct CountOnly {
    loaded: loader::Loaded,
}

impl CountOnly {
    fn attach(lab: &Lab) -> Result<Self> {
        let mut loaded = loader::load(COUNT_ONLY_MAX_NAMES).context("loading the XDP object")?;
        let program: &mut Xdp = loaded
            .ebpf
            .program_mut(COUNT_ONLY)
            .with_context(|| format!("the eBPF object has no program {COUNT_ONLY}"))?
            .try_into()
            .with_context(|| format!("{COUNT_ONLY} is not an XDP program"))?;
        program
            .load()
            .with_context(|| format!("the kernel refused {COUNT_ONLY}"))?;
        // The link is a bpf_link: it lives in the program, not in the namespace's netlink socket.
        netdev::in_namespace(lab.resolver_ns(), || {
            program.attach(RESOLVER_IFACE, XdpMode::Driver).map(drop)
        })?
        .with_context(|| format!("attaching {COUNT_ONLY} to {RESOLVER_IFACE} (native)"))?;
        Ok(Self { loaded })
    }

    /// The program's own packet count, summed over CPUs.
    fn packets(&self) -> Result<u64> {
        let map = self
            .loaded
            .ebpf
            .map(COUNT_ONLY_MAP)
            .with_context(|| format!("the eBPF object has no map {COUNT_ONLY_MAP}"))?;
        let counter: PerCpuArray<_, u64> = PerCpuArray::try_from(map)?;
        Ok(counter.get(&0, 0)?.iter().sum())
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one run's whole setting, passed once"
)]
fn rate_run(
    lab: &Lab,
    dns_counter: &Path,
    out_dir: &Path,
    frames: &Frames,
    receiver: Receiver,
    napi: Napi,
    round: usize,
    plan: &SendPlan,
) -> Result<RateRun> {
    let mut count_only = None;
    let mut counter = None;
    match receiver {
        Receiver::NoProgram => {}
        Receiver::CountOnly => count_only = Some(CountOnly::attach(lab)?),
        Receiver::DnsCounter => {
            counter = Some(start_counter(
                dns_counter,
                lab,
                out_dir,
                plan.time_limit + RECEIVE_TIMEOUT,
                &[],
            )?);
        }
    }
    match napi {
        Napi::OwnThread => {
            ensure!(
                receiver != Receiver::NoProgram,
                "a veth without XDP has no NAPI to thread"
            );
            traffic::receive_in_thread_on_cpu(lab, RECEIVER_CPU)?;
        }
        // The setting outlives the program that made the NAPI context, and can only be
        // changed while one is attached.
        Napi::SenderCpu if receiver != Receiver::NoProgram => {
            traffic::set_receive_threaded(lab, false)?;
        }
        Napi::SenderCpu => {}
    }
    let program_before = count_only.as_ref().map(CountOnly::packets).transpose()?;
    let (sent, links) = send_and_watch(lab, frames, plan)?;

    let mut program_packets = None;
    let mut counted = None;
    if let (Some(count_only), Some(before)) = (&count_only, program_before) {
        program_packets = Some(count_only.packets()? - before);
    }
    if let Some(mut counter) = counter {
        let reports = counter.stop()?;
        ensure!(!reports.is_empty(), "dns-counter wrote no report");
        program_packets = Some(reports.iter().map(|file| file.report.totals.packets).sum());
        counted = Some(reports.iter().map(|file| file.report.totals.counted).sum());
    }
    drop(count_only);
    let seconds = sent.elapsed.as_secs_f64();
    Ok(RateRun {
        receiver,
        napi,
        round,
        sent: sent.frames,
        sent_pps: sent.pps(),
        seconds,
        retries: sent.retries,
        received: links.received,
        received_pps: links.received as f64 / seconds,
        dropped: links.dropped,
        program_packets,
        counted,
    })
}

/// The sender alone: the count-only program on the other CPU, and frames addressed to another
/// host, which the resolver's stack discards right after XDP.
#[derive(Serialize)]
struct GeneratorCapacity {
    /// Per round: frames the kernel took per second.
    sent_pps: Vec<f64>,
    median_pps: f64,
    /// The program saw every frame sent, every round.
    all_received: bool,
}

/// An Ethernet address no interface in the lab has (locally administered).
const ANOTHER_HOST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x53, 0x99];

fn generator_capacity(
    lab: &Lab,
    frames: &Frames,
    plan: &SendPlan,
    rounds: usize,
) -> Result<GeneratorCapacity> {
    let frames = frames.addressed_to(ANOTHER_HOST_MAC);
    let count_only = CountOnly::attach(lab)?;
    traffic::receive_in_thread_on_cpu(lab, RECEIVER_CPU)?;
    let mut sent_pps = Vec::new();
    let mut all_received = true;
    for round in 0..rounds {
        let before = count_only.packets()?;
        let (sent, _) = send_and_watch(lab, &frames, plan)?;
        all_received &= count_only.packets()? - before >= sent.frames;
        eprintln!(
            "round {round}: generator capacity: sent {} at {:.0} pps",
            sent.frames,
            sent.pps()
        );
        sent_pps.push(sent.pps());
    }
    Ok(GeneratorCapacity {
        median_pps: median(&sent_pps),
        sent_pps,
        all_received,
    })
}

/// What the veth's counters saw over one send.
struct LinkDelta {
    received: u64,
    dropped: u64,
}

/// Sends, then waits until vres has received every frame sent (so a counter stopped next has
/// seen them all) and reads how many it received and how many the pair dropped.
fn send_and_watch(lab: &Lab, frames: &Frames, plan: &SendPlan) -> Result<(Sent, LinkDelta)> {
    let res_before = LinkCounters::read(lab.resolver_ns(), RESOLVER_IFACE)?;
    let cli_before = LinkCounters::read(lab.client_ns(), "vcli")?;
    let sent = traffic::send(lab, frames, plan)?;
    let res = traffic::wait_until_received(lab, &res_before, sent.frames, RECEIVE_TIMEOUT)?;
    let cli = LinkCounters::read(lab.client_ns(), "vcli")?.since(&cli_before);
    Ok((
        sent,
        LinkDelta {
            received: res.rx_packets,
            dropped: cli.tx_dropped + res.rx_dropped,
        },
    ))
}

fn rate_case(runs: &[RateRun], receiver: Receiver, napi: Napi) -> RateCase {
    let runs: Vec<&RateRun> = runs
        .iter()
        .filter(|run| run.receiver == receiver && run.napi == napi)
        .collect();
    let received: Vec<f64> = runs.iter().map(|run| run.received_pps).collect();
    let sent: Vec<f64> = runs.iter().map(|run| run.sent_pps).collect();
    // The program saw every frame sent (the count-only program may also see a stray IPv6
    // neighbour or router message), and dns-counter counted every one of them by name.
    let all_counted = match receiver {
        Receiver::NoProgram => None,
        Receiver::CountOnly => Some(
            runs.iter()
                .all(|run| run.program_packets.is_some_and(|seen| seen >= run.sent)),
        ),
        Receiver::DnsCounter => Some(runs.iter().all(|run| run.counted == Some(run.sent))),
    };
    RateCase {
        receiver,
        napi,
        received_pps: median(&received),
        sent_pps: median(&sent),
        all_counted,
        dropped: runs.iter().map(|run| run.dropped).sum(),
    }
}

/// dnsperf against unbound for a fixed time, without and with dns-counter (the kernel's default
/// receive path: dnsperf and unbound take both CPUs, there is none to spare for a NAPI thread).
/// dnsperf loops over its datafile; a short run first measures how fast it sends, which sizes
/// the runs through the file that bound the timed runs.
fn dnsperf_runs(
    lab: &Lab,
    dns_counter: &Path,
    out_root: &Path,
    sizes: &Sizes,
) -> Result<DnsperfRuns> {
    let workload = Workload::zipf(0xd25, DNSPERF_NAMES, DNSPERF_LINES);
    let datafile = lab.work_dir().join("dnsperf.queries");
    workload.write_datafile(&datafile)?;
    let calibration = Dnsperf::new(RESOLVER_V4, &datafile)
        .time_limit(DNSPERF_CALIBRATION)
        .run(lab)
        .context("running dnsperf's calibration")?;
    let calibration_qps = calibration.sent_per_second();
    eprintln!("dnsperf calibration: {calibration:?}, {calibration_qps:.0} queries/s sent");
    let dnsperf =
        Dnsperf::new(RESOLVER_V4, &datafile).time_limit(Duration::from_secs(sizes.dnsperf_seconds));
    let mut runs = Vec::new();
    for receiver in [Receiver::NoProgram, Receiver::DnsCounter] {
        let mut counter = None;
        if receiver == Receiver::DnsCounter {
            counter = Some(start_counter(
                dns_counter,
                lab,
                &out_root.join("dnsperf"),
                dnsperf.longest_timed_run(),
                &[],
            )?);
            traffic::set_receive_threaded(lab, false)?;
        }
        let timed = dnsperf
            .run_for_time_limit(lab, DNSPERF_LINES, calibration_qps)
            .context("running dnsperf")?;
        for early in &timed.ended_early {
            eprintln!(
                "dnsperf, {}: used up its runs through the datafile before the time limit, run \
                 again: {early:?}",
                receiver.label()
            );
        }
        let counted = match counter {
            Some(mut counter) => {
                let reports = counter.stop()?;
                Some(reports.iter().map(|file| file.report.totals.counted).sum())
            }
            None => None,
        };
        let summary = timed.summary;
        let run = DnsperfRun {
            receiver,
            seconds: sizes.dnsperf_seconds,
            run_seconds: summary.run_seconds,
            runs_through_datafile: timed.runs_through_datafile,
            sent: summary.sent,
            completed: summary.completed,
            lost: summary.lost,
            queries_per_second: summary.completed as f64 / summary.run_seconds,
            sent_by_earlier_runs: timed.ended_early.iter().map(|early| early.sent).sum(),
            counted,
        };
        eprintln!("dnsperf, {}: {run:?}", receiver.label());
        runs.push(run);
    }
    Ok(DnsperfRuns {
        lines: DNSPERF_LINES,
        calibration_qps,
        runs,
    })
}

/// dns-counter's kernel cost per query (run_time_ns / run_cnt) over the same number of frames
/// cycling over few names and over many, pass by pass.
fn growth_runs(
    lab: &Lab,
    dns_counter: &Path,
    out_root: &Path,
    sizes: &Sizes,
    napi: Napi,
    counter_pps: f64,
) -> Result<Vec<GrowthRun>> {
    let large = sizes.growth_large_names;
    let frames_per_pass = large as u64;
    let plan = SendPlan::counted(frames_per_pass, None, counter_pps, SENDER_CPU)?;
    let max_names = (large + large / 4).max(1_000_000).to_string();
    let _stats = BpfStatsEnabled::enable()?;
    let mut runs = Vec::new();
    for names in [GROWTH_SMALL_NAMES, large] {
        let workload = Workload::from_counts(
            0x960 + names as u64,
            (0..names).map(|index| (format!("n{index}.growth{names}.example"), 1)),
        );
        let frames = Frames::queries(lab, QUIET_V4, workload.queries())?;
        drop(workload);
        let mut counter = start_counter(
            dns_counter,
            lab,
            &out_root.join(format!("growth-{names}")),
            (plan.time_limit + RECEIVE_TIMEOUT) * GROWTH_PASSES as u32,
            &["--max-names", &max_names],
        )?;
        // By id: another process may have a program of the same name loaded.
        let ours = [traffic::resolver_xdp_program_id(lab)?];
        match napi {
            Napi::OwnThread => drop(traffic::receive_in_thread_on_cpu(lab, RECEIVER_CPU)?),
            Napi::SenderCpu => traffic::set_receive_threaded(lab, false)?,
        }
        let mut pass_stats: Vec<ProgramRunStats> = Vec::new();
        let mut pass_sent_pps = Vec::new();
        let (mut sent_total, mut received, mut dropped) = (0, 0, 0);
        for _ in 0..GROWTH_PASSES {
            let before = bpf_stats::run_stats_of(&ours)?;
            let (sent, links) = send_and_watch(lab, &frames, &plan)?;
            ensure!(
                sent.frames == frames_per_pass,
                "a growth pass over {names} names sent {} of {frames_per_pass} frames within \
                 {:?} (sized from dns-counter's {counter_pps:.0} pps in the line-rate runs)",
                sent.frames,
                plan.time_limit
            );
            pass_stats.push(bpf_stats::run_stats_of(&ours)?.since(&before));
            pass_sent_pps.push(sent.pps());
            sent_total += sent.frames;
            received += links.received;
            dropped += links.dropped;
        }
        let reports = counter.stop()?;
        let counted = reports.iter().map(|file| file.report.totals.counted).sum();
        let queries = reports.iter().map(|file| file.report.totals.packets).sum();
        let later = pass_stats[1..]
            .iter()
            .fold(ProgramRunStats::default(), |sum, pass| ProgramRunStats {
                run_time_ns: sum.run_time_ns + pass.run_time_ns,
                run_count: sum.run_count + pass.run_count,
            });
        let run = GrowthRun {
            distinct_names: names,
            frames_per_pass,
            pass_ns: pass_stats.iter().map(ProgramRunStats::ns_per_run).collect(),
            pass_sent_pps,
            first_pass_ns: pass_stats[0].ns_per_run(),
            later_passes_ns: later.ns_per_run(),
            counted,
            queries,
            sent: sent_total,
            received,
            dropped,
            program_runs: pass_stats.iter().map(|pass| pass.run_count).sum(),
        };
        eprintln!("growth, {names} names: {run:?}");
        runs.push(run);
    }
    Ok(runs)
}

const MISSED_COUNT: &str = "frames were lost between the generator and the program, or the \
    program did not count every query: see the runs' dropped and counted figures in the JSON";
const MISSED_GENERATOR: &str = "with a receiver that discards frames right after XDP on the other \
    CPU, the one sender thread is the limit: each frame is an skb allocation, a qdisc pass and a \
    veth transmit; QDISC_BYPASS or AF_XDP on the sender would cut that";
const MISSED_GROWTH: &str = "cycling through 1 M names, each query's lookup reads a hash bucket \
    and an entry that no CPU cache still holds (a counts map for 1 M names is far larger than any \
    cache), where 1 k names stay in cache: the extra is memory latency, not more work. A smaller \
    entry would not fit 1 M names in cache either; prefetching the next packet's bucket is out of \
    an XDP program's reach. Resolver traffic is skewed, so its hot names stay cached";

/// Why dns-counter receives fewer packets per second than the count-only program: the extra ns
/// per packet, set against the program's own run time from the growth runs.
fn missed_rate(ours_pps: f64, count_only_pps: f64, results: &Results) -> String {
    let ns = |pps: f64| 1e9 / pps;
    let extra = ns(ours_pps) - ns(count_only_pps);
    let own = results.growth.first().map_or(String::new(), |few| {
        format!(
            "; the program itself runs {:.0} ns per query ({} names, growth runs), and \
             `perf record` on the NAPI thread would show where the rest goes",
            few.later_passes_ns,
            thousands(few.distinct_names as u64)
        )
    });
    format!(
        "per packet the receiving CPU spends {extra:.0} ns more with dns-counter than with the \
         count-only program ({:.0} against {:.0} ns): the walk, the name's hash and its count{own}; \
         a cheaper walk (see the kernel-path part) would close it",
        ns(ours_pps),
        ns(count_only_pps)
    )
}

fn targets(results: &Results) -> Vec<Target> {
    let case = |receiver, napi| {
        results
            .rate_cases
            .iter()
            .find(|case| case.receiver == receiver && case.napi == napi)
    };
    let napi = results.chosen_napi;
    let mut targets = Vec::new();
    if let (Some(ours), Some(count_only)) = (
        case(Receiver::DnsCounter, napi),
        case(Receiver::CountOnly, napi),
    ) {
        targets.push(
            Target::at_least(
                "dns-counter ≥ 0.9× count-only (pps received on veth)",
                ours.received_pps / count_only.received_pps,
                0.9,
                format!(
                    "dns-counter {} pps / count-only {} pps, medians, {}",
                    figure(ours.received_pps),
                    figure(count_only.received_pps),
                    napi.label()
                ),
            )
            .if_missed(missed_rate(
                ours.received_pps,
                count_only.received_pps,
                results,
            )),
        );
    }
    let ours_runs: Vec<&RateRun> = results
        .rate_runs
        .iter()
        .filter(|run| run.receiver == Receiver::DnsCounter)
        .collect();
    let exact = ours_runs
        .iter()
        .filter(|run| run.counted == Some(run.sent))
        .count();
    let (sent, counted) = ours_runs.iter().fold((0, 0), |(sent, counted), run| {
        (sent + run.sent, counted + run.counted.unwrap_or(0))
    });
    targets.push(
        Target::at_least(
            "dns-counter's counted total = frames sent (runs exact, of all)",
            exact as f64 / ours_runs.len().max(1) as f64,
            1.0,
            format!(
                "{exact} of {} runs exact; {} frames sent, {} counted in all",
                ours_runs.len(),
                thousands(sent),
                thousands(counted)
            ),
        )
        .if_missed(MISSED_COUNT),
    );
    targets.push(
        Target::at_least(
            "generator reaches ≥ 1 Mpps (one pinned sender)",
            results.generator_capacity.median_pps,
            1_000_000.0,
            format!(
                "median frames per second the kernel took, into a receiver that discards them \
                 after XDP; {} pps at most into the resolver's stack",
                figure(results.generator_max_pps)
            ),
        )
        .if_missed(MISSED_GENERATOR),
    );
    if let [small, large] = results.growth.as_slice() {
        targets.push(
            Target::at_most(
                format!(
                    "kernel cost per query at {} names ≤ 1.5× at {} (names hot)",
                    thousands(large.distinct_names as u64),
                    thousands(small.distinct_names as u64)
                ),
                large.later_passes_ns / small.later_passes_ns,
                1.5,
                format!(
                    "{:.1} ns / {:.1} ns per query, passes 2–{GROWTH_PASSES}; first pass (names \
                     new): {:.1} ns / {:.1} ns",
                    large.later_passes_ns,
                    small.later_passes_ns,
                    large.first_pass_ns,
                    small.first_pass_ns
                ),
            )
            .if_missed(MISSED_GROWTH),
        );
    }
    targets
}

fn render(results: &Results) -> Section {
    let mut out = Section::new();
    let _ = writeln!(out, "### Last run: line rate on veth, dnsperf, growth\n");
    let _ = writeln!(
        out,
        "{}. {}\n",
        results.header.provenance(),
        written_by(PART)
    );
    let _ = writeln!(
        out,
        "The project's generator (`tests/src/traffic.rs`: an AF_PACKET socket on the client's veth \
         end, `sendmmsg` in batches of 64 from frames built once, one thread pinned to CPU {}) \
         sends for {} s per run ({}-byte UDP/IPv4 queries over {} names, to a resolver address \
         nothing answers on) as fast as the receiving side takes them: a FIFO qdisc on the \
         sender's end holds frames while the veth's ring is full, so nothing is dropped and the \
         send rate is the receive rate. Received packets per second are vres `rx_packets` over \
         the send time, median of {} rounds; the programs' own counts are checked against the \
         frames sent. With an XDP program a veth receives in NAPI: in softirq on the sender's \
         CPU by default, or, threaded, in a kernel thread pinned to CPU {}; both are measured, \
         and the targets compare in the mode where the count-only program was fastest ({}).\n",
        results.sender_cpu,
        results.run_seconds,
        results.frame_bytes,
        thousands(RATE_NAMES as u64),
        results.rounds,
        results.receiver_cpu,
        results.chosen_napi.label()
    );
    let mut table = Table::new([
        Column::left("on vres"),
        Column::left("receive path"),
        Column::right("received pps"),
        Column::right("sent pps"),
        Column::left("program saw every frame"),
        Column::right("dropped"),
    ]);
    for case in &results.rate_cases {
        let napi = if case.receiver == Receiver::NoProgram {
            "per-CPU backlog, sender's CPU"
        } else {
            case.napi.label()
        };
        let counted = match case.all_counted {
            None => "–",
            Some(true) => "yes, every run",
            Some(false) => "**no**",
        };
        table.row([
            case.receiver.label().to_owned(),
            napi.to_owned(),
            figure(case.received_pps),
            figure(case.sent_pps),
            counted.to_owned(),
            thousands(case.dropped),
        ]);
    }
    out.table(&table);
    let capacity = &results.generator_capacity;
    let _ = writeln!(
        out,
        "\nThe generator alone: into the same veth with the count-only program in a thread on \
         CPU {}, the frames addressed to another host's Ethernet address so the resolver's stack \
         discards them right after XDP, it sent a median of **{} pps** (rounds: {}; the program \
         saw every frame: {}). Into the resolver's stack (the table above) the receiver, not \
         the sender, sets the rate.",
        results.receiver_cpu,
        figure(capacity.median_pps),
        capacity
            .sent_pps
            .iter()
            .map(|pps| figure(*pps))
            .collect::<Vec<_>>()
            .join(", "),
        if capacity.all_received {
            "yes"
        } else {
            "**no**"
        }
    );
    let _ = writeln!(
        out,
        "\ndnsperf against unbound (answered, {} s each, the kernel's default receive path; \
         looping over a datafile of {} queries, its runs through it bounded from a first short \
         run's {} queries/s):\n",
        results.dnsperf.runs.first().map_or(0, |run| run.seconds),
        thousands(results.dnsperf.lines),
        figure(results.dnsperf.calibration_qps)
    );
    let mut table = Table::new([
        Column::left("on vres"),
        Column::right("queries/s completed"),
        Column::right("sent"),
        Column::right("lost"),
        Column::right("dns-counter counted"),
    ]);
    for run in &results.dnsperf.runs {
        let counted = run.counted.map_or("–".to_owned(), |counted| {
            if run.sent_by_earlier_runs == 0 {
                thousands(counted)
            } else {
                format!(
                    "{} (of {} sent, with the runs that ended early)",
                    thousands(counted),
                    thousands(run.sent + run.sent_by_earlier_runs)
                )
            }
        });
        table.row([
            run.receiver.label().to_owned(),
            figure(run.queries_per_second),
            thousands(run.sent),
            thousands(run.lost),
            counted,
        ]);
    }
    out.table(&table);
    let _ = writeln!(
        out,
        "\nGrowth: dns-counter's kernel cost per query (`run_time_ns / run_cnt` of its program, \
         statistics on through BPF_ENABLE_STATS) over the same {} passes of {} frames, cycling \
         over few names and over many. The first pass over many names inserts each one (and \
         sends it to the daemon through the ring buffer); later passes find them.\n",
        GROWTH_PASSES,
        thousands(results.growth.first().map_or(0, |run| run.frames_per_pass))
    );
    let mut table = Table::new([
        Column::right("distinct names"),
        Column::right("first pass ns/query"),
        Column::right("later passes ns/query"),
        Column::right("frames sent"),
        Column::right("vres received"),
        Column::right("program runs"),
        Column::right("`totals.packets`"),
        Column::right("`totals.counted`"),
    ]);
    for run in &results.growth {
        table.row([
            thousands(run.distinct_names as u64),
            format!("{:.1}", run.first_pass_ns),
            format!("{:.1}", run.later_passes_ns),
            thousands(run.sent),
            thousands(run.received),
            thousands(run.program_runs),
            thousands(run.queries),
            thousands(run.counted),
        ]);
    }
    out.table(&table);
    let _ = writeln!(out);
    out.table(&targets_table(&results.header.targets));
    let _ = writeln!(out);
    out
}
