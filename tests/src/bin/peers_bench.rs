//! `dns-counter-peers-bench` (run by `cargo xtask bench`): dns-counter against the tools an
//! operator would otherwise use, on the same generated traffic at the same rates: tcpdump writing
//! a capture (then the offline sort for a top 50, as in the seeds' story) and dnstop (libpcap,
//! live). For each tool and rate it reports the queries lost and the CPU seconds per million
//! queries; for the seeds' workload (1.25 M queries over 250 k names) the time from the last
//! packet to a complete top-50 file; and the daemon's peak RSS at 1 M distinct names. Prints a
//! table, writes `<target>/bench/peers.json` and the peers section of BENCHMARKS.md. A missed
//! target is a result; the bench fails only when it cannot measure, or when dns-counter's
//! top 50 disagrees with the workload's exact counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use dns_counter_tests::bench::{
    Column, Machine, PartArgs, PartHeader, Section, Table, Target, figure, pin_to_cpu, publish,
    targets_table, thousands, written_by,
};
use dns_counter_tests::bpf_stats::{self, BpfStatsEnabled};
use dns_counter_tests::counter::wait_for_room_in_interval;
use dns_counter_tests::prereq::{check_privileges, program_path};
use dns_counter_tests::process::{ChildGuard, run_bounded};
use dns_counter_tests::pty::PtyChild;
use dns_counter_tests::report::ReportFile;
use dns_counter_tests::traffic::{self, Frames, LinkCounters, QUIET_V4, SendPlan, Sent};
use dns_counter_tests::{Counter, Lab, Workload};
use serde::Serialize;

/// This part's name: its JSON file and its BENCHMARKS.md markers.
const PART: &str = "peers";
const JSON_SCHEMA: &str = "dns-counter/bench/peers/v1";

/// The bench's "peers" part: tcpdump and dnstop against dns-counter on the same traffic, the
/// seeds' workload, the daemon's peak RSS at 1 M names. Needs root; `cargo xtask bench` runs it.
#[derive(clap::Parser)]
#[command(name = "dns-counter-peers-bench")]
struct Args {
    #[command(flatten)]
    part: PartArgs,
}

/// The sender runs on CPU 0; every tool (and the daemon) on CPU 1, so a tool never takes the
/// sender's CPU and the sender never takes the tool's.
const SENDER_CPU: usize = 0;
const TOOL_CPU: usize = 1;

const WORKLOAD_SEED: u64 = 0x5eed;
const RSS_SEED: u64 = 0x0855;
/// The seeds' story: 10 minutes of an ISP resolver, 1.25 M queries over 250 k distinct names.
const SEEDS_NAMES: usize = 250_000;
const SEEDS_QUERIES: u64 = 1_250_000;
/// Fixed rates every tool gets, frames per second; `None` is as fast as the sender goes.
const RATES: [Option<u64>; 4] = [Some(50_000), Some(100_000), Some(200_000), None];
/// The rate of the top-50 timing: one a resolver sees and every tool here keeps up with.
const SEEDS_RATE: u64 = 100_000;
const TOP: usize = 50;
/// Peak RSS at this many distinct names, each queried once.
const RSS_NAMES: usize = 1_000_000;
/// Map size for the RSS run: at least the names sent.
const RSS_MAX_NAMES: usize = 1 << 20;
const RSS_RATE: u64 = 200_000;
/// The RSS run's interval, longer if its send's time bound needs it (all names in one report).
const RSS_INTERVAL: Duration = Duration::from_secs(60);
/// Room in the RSS run's interval for the daemon to start, beside its send's time bound.
const RSS_START_ROOM: Duration = Duration::from_secs(15);
/// The first send, with no tool, which measures the rate every send's time bound is sized from.
const CALIBRATION: Duration = Duration::from_secs(1);

/// `--quick`: a smoke run of the plumbing; its figures mean nothing.
const QUICK_NAMES: usize = 20_000;
const QUICK_QUERIES: u64 = 100_000;
const QUICK_RATES: [Option<u64>; 1] = [Some(50_000)];
const QUICK_SEEDS_RATE: u64 = 50_000;
const QUICK_RSS_NAMES: usize = 100_000;
const QUICK_RSS_INTERVAL: Duration = Duration::from_secs(30);

/// dns-counter's interval for the peer runs: one day, so the only report is the one SIGTERM
/// writes (the run first waits for room in the interval: start, send, settle, stop).
const LONG_INTERVAL: Duration = Duration::from_secs(86_400);

/// A tool has caught up once its CPU time has not grown by more than its noise floor per poll
/// for [`QUIET_WINDOW`]: longer than libpcap's 1 s buffer timeout, after which the kernel hands
/// over a partly filled block of packets.
const QUIET_WINDOW: Duration = Duration::from_millis(1_500);
const QUIET_POLL: Duration = Duration::from_millis(20);
/// CPU per poll below which a tool counts as idle: tcpdump wakes each second for nothing;
/// dnstop also redraws its screen each second.
const TCPDUMP_IDLE_CPU: Duration = Duration::from_micros(200);
const DNSTOP_IDLE_CPU: Duration = Duration::from_millis(5);
/// Machine CPU is summed from just before the first frame to this long after the last, the same
/// window for every tool and for the run without one.
const MACHINE_TAIL: Duration = Duration::from_secs(2);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(600);
/// dnstop redraws once a second; its total is read once two redraws agree.
const DNSTOP_REDRAW: Duration = Duration::from_millis(1_100);
const DNSTOP_ROWS: u16 = 50;
const DNSTOP_COLS: u16 = 160;

/// The operator's capture: DNS queries only, numeric, default buffer (2 MiB) and snap length;
/// `-Z root` because Debian's tcpdump otherwise drops to user `tcpdump`, who cannot write into
/// the bench's private directory.
const TCPDUMP_FILTER: &str = "udp dst port 53";
/// The seeds' offline sort, as an operator types it: decode the capture, take the name after the
/// `A?`-style qtype field, fold case (resolvers send 0x20-mixed case), count, sort, top 50.
const PIPELINE: &str = r#"tcpdump -n -r "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i ~ /\?$/) { print tolower($(i + 1)); break } }' | sort | uniq -c | sort -rn | head -50 > "$2""#;

fn main() -> ExitCode {
    dns_counter_tests::bench::main(|args: Args| bench(args.part.quick))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Tool {
    Tcpdump,
    Dnstop,
    DnsCounter,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Tcpdump, Tool::Dnstop, Tool::DnsCounter];

    fn name(self) -> &'static str {
        match self {
            Tool::Tcpdump => "tcpdump",
            Tool::Dnstop => "dnstop",
            Tool::DnsCounter => "dns-counter",
        }
    }
}

/// One tool at one rate.
#[derive(Clone, Debug, Serialize)]
struct ToolRun {
    tool: Tool,
    /// Asked for; `None` is as fast as the sender goes.
    rate_pps: Option<u64>,
    sent: u64,
    achieved_pps: f64,
    /// Queries the tool saw: packets in tcpdump's file, dnstop's total, the reports'
    /// `totals.counted`.
    seen: u64,
    lost: u64,
    /// Frames the resolver's veth end dropped before any tool could see them (its `rx_dropped`).
    dropped_at_veth: u64,
    /// tcpdump's own exit summary, for context.
    tool_summary: String,
    /// The tool's process CPU (user + system, all threads) from the first frame until it had
    /// caught up.
    process_cpu_seconds: f64,
    /// dns-counter only: the XDP program's run time as the kernel counted it, same window.
    program_cpu_seconds: Option<f64>,
    cpu_seconds: f64,
    cpu_seconds_per_million: f64,
    /// Busy CPU of the whole machine (`/proc/stat`: user, nice, system, irq, softirq, steal)
    /// from the first frame to [`MACHINE_TAIL`] after the last: includes the sender, the
    /// kernel's receive path and the softirq time process CPU misses.
    machine_cpu_seconds: f64,
    /// `machine_cpu_seconds` minus that of the same send with no tool, per million queries.
    machine_extra_cpu_seconds_per_million: Option<f64>,
}

/// The same send with no tool on the interface: the machine CPU every tool's is compared with.
#[derive(Clone, Debug, Serialize)]
struct NoToolRun {
    rate_pps: Option<u64>,
    sent: u64,
    achieved_pps: f64,
    dropped_at_veth: u64,
    machine_cpu_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
struct TopFifty {
    rate_pps: u64,
    /// Last frame sent → dns-counter's report file written (it caught up, got SIGTERM, wrote).
    dns_counter_seconds: f64,
    /// Last frame sent → top50.txt written (tcpdump caught up and stopped, then the sort).
    pipeline_seconds: f64,
    /// Of that, the offline sort alone.
    pipeline_sort_seconds: f64,
    /// Names of the workload's exact top 50 that tcpdump's pipeline lists with the exact count.
    pipeline_exact_entries: usize,
    /// Names dns-counter's and the pipeline's top 50 share.
    shared_names: usize,
}

#[derive(Clone, Debug, Serialize)]
struct PeakRss {
    names: usize,
    max_names: usize,
    /// What the report the RSS was read after counted.
    reported_distinct_names: u64,
    vm_hwm_kib: u64,
    vm_rss_kib: u64,
}

#[derive(Serialize)]
struct Results {
    #[serde(flatten)]
    header: PartHeader,
    distinct_names: usize,
    queries: u64,
    workload_build_seconds: f64,
    frames_build_seconds: f64,
    tcpdump_command: String,
    dnstop_command: String,
    pipeline: String,
    runs: Vec<ToolRun>,
    no_tool: Vec<NoToolRun>,
    top_fifty: TopFifty,
    peak_rss: PeakRss,
}

fn bench(quick: bool) -> Result<()> {
    let machine = Machine::this()?;
    ensure!(
        machine.cpus > TOOL_CPU,
        "needs at least two CPUs (one sender, one tool)"
    );
    let privileges = check_privileges().map_err(anyhow::Error::msg)?;
    for program in ["tcpdump", "dnstop", "tc"] {
        ensure!(
            program_path(program).is_absolute(),
            "`{program}` is not installed (`cargo xtask bench` installs tcpdump and dnstop)"
        );
    }
    let (names, queries) = if quick {
        (QUICK_NAMES, QUICK_QUERIES)
    } else {
        (SEEDS_NAMES, SEEDS_QUERIES)
    };
    let rates: &[Option<u64>] = if quick { &QUICK_RATES } else { &RATES };
    let seeds_rate = if quick { QUICK_SEEDS_RATE } else { SEEDS_RATE };

    // Children inherit this thread's CPU set: every tool runs on TOOL_CPU.
    pin_to_cpu(TOOL_CPU)?;
    let _stats = BpfStatsEnabled::enable()?;
    let lab = Lab::new().context("building the lab")?;
    let scratch = tempfile::Builder::new()
        .prefix("dns-counter-peers-")
        .tempdir()?;

    let started = Instant::now();
    let workload = Workload::zipf(WORKLOAD_SEED, names, queries);
    let workload_build_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let frames = Frames::queries(&lab, QUIET_V4, workload.queries())?;
    let frames_build_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "workload: {} queries over {} names built in {workload_build_seconds:.1} s, frames in {frames_build_seconds:.1} s",
        thousands(queries),
        thousands(names as u64)
    );
    let expected_top = exact_top(&workload);
    let sender_pps = traffic::send(
        &lab,
        &frames,
        &SendPlan::calibration(CALIBRATION, SENDER_CPU),
    )?
    .pps();
    eprintln!("sender alone: {} pps", figure(sender_pps));

    let mut runs = Vec::new();
    let mut no_tool = Vec::new();
    let mut top_fifty = None;
    let mut ours_top = None;
    for &rate in rates {
        let timed = rate == Some(seeds_rate);
        eprintln!("no tool at {}", describe_rate(rate));
        let plan = SendPlan::counted(queries, rate, sender_pps, SENDER_CPU)?;
        let baseline = run_no_tool(&lab, &frames, &plan)?;
        for tool in Tool::ALL {
            eprintln!("{} at {}", tool.name(), describe_rate(rate));
            let run = match tool {
                Tool::Tcpdump => {
                    let (run, capture) = run_tcpdump(&lab, &frames, &plan, scratch.path())?;
                    if timed {
                        let top = run_pipeline(&capture, scratch.path())?;
                        top_fifty = Some(top);
                    }
                    fs::remove_file(&capture.file)
                        .with_context(|| format!("removing {}", capture.file.display()))?;
                    run
                }
                Tool::Dnstop => run_dnstop(&lab, &frames, &plan)?,
                Tool::DnsCounter => {
                    let (run, report, seconds) = run_dns_counter(
                        &lab,
                        &privileges.dns_counter,
                        &frames,
                        &plan,
                        scratch.path(),
                    )?;
                    check_top(&report, &expected_top)
                        .with_context(|| format!("dns-counter at {}", describe_rate(rate)))?;
                    if timed {
                        ours_top = Some((report, seconds));
                    }
                    run
                }
            };
            eprintln!(
                "  sent {} at {} pps, seen {}, lost {}, {:.3} CPU s per million",
                thousands(run.sent),
                figure(run.achieved_pps),
                thousands(run.seen),
                thousands(run.lost),
                run.cpu_seconds_per_million
            );
            let mut run = run;
            run.machine_extra_cpu_seconds_per_million = Some(per_million(
                run.machine_cpu_seconds - baseline.machine_cpu_seconds,
                run.sent,
            ));
            runs.push(run);
        }
        no_tool.push(baseline);
    }
    let (Some(pipeline_top), Some((ours_report, ours_seconds))) = (top_fifty, ours_top) else {
        bail!("no run at the seeds' rate {seeds_rate}");
    };
    let top_fifty = compare_tops(
        seeds_rate,
        &pipeline_top,
        &ours_report,
        ours_seconds,
        &expected_top,
    );
    eprintln!(
        "last frame to a top 50: dns-counter {:.2} s, tcpdump and sort {:.2} s ({:.2} s sorting)",
        top_fifty.dns_counter_seconds, top_fifty.pipeline_seconds, top_fifty.pipeline_sort_seconds
    );
    drop(frames);
    drop(workload);

    let rss_names = if quick { QUICK_RSS_NAMES } else { RSS_NAMES };
    let rss_interval = if quick {
        QUICK_RSS_INTERVAL
    } else {
        RSS_INTERVAL
    };
    let peak_rss = measure_peak_rss(
        &lab,
        &privileges.dns_counter,
        rss_names,
        rss_interval,
        sender_pps,
        scratch.path(),
    )?;
    drop(lab);

    let targets = judge(&runs, &top_fifty, &peak_rss);
    let results = Results {
        header: PartHeader {
            targets,
            ..PartHeader::new(JSON_SCHEMA, machine, quick)
        },
        distinct_names: names,
        queries,
        workload_build_seconds,
        frames_build_seconds,
        tcpdump_command: format!("tcpdump -n -Z root -i vres -w FILE '{TCPDUMP_FILTER}'"),
        dnstop_command: "dnstop -l 3 vres".to_owned(),
        pipeline: PIPELINE.to_owned(),
        runs,
        no_tool,
        top_fifty,
        peak_rss,
    };
    let section = render(&results);
    publish(PART, &section, &results, quick)
}

fn describe_rate(rate: Option<u64>) -> String {
    rate.map_or_else(
        || "unlimited".to_owned(),
        |pps| format!("{} pps", thousands(pps)),
    )
}

/// A send: what went out, when the last frame did, and the machine's busy CPU around it.
struct Sending {
    sent: Sent,
    last_frame: Instant,
    machine: MachineCpu,
}

/// Sends, then checks the sender sent everything (a time limit hit would make every loss figure
/// wrong).
fn send(lab: &Lab, frames: &Frames, plan: &SendPlan) -> Result<Sending> {
    let busy_before = machine_busy()?;
    let sent = traffic::send(lab, frames, plan)?;
    let last_frame = Instant::now();
    let tail = thread::spawn(|| {
        thread::sleep(MACHINE_TAIL);
        machine_busy()
    });
    ensure!(
        sent.frames == plan.count,
        "the sender sent {} of {} frames within {:?}, a bound sized from the sender's rate \
         with no tool",
        sent.frames,
        plan.count,
        plan.time_limit
    );
    Ok(Sending {
        sent,
        last_frame,
        machine: MachineCpu { busy_before, tail },
    })
}

/// The machine's busy CPU from before a send until [`MACHINE_TAIL`] after it, being read.
struct MachineCpu {
    busy_before: Duration,
    tail: JoinHandle<Result<Duration>>,
}

impl MachineCpu {
    fn seconds(self) -> Result<f64> {
        let after = self
            .tail
            .join()
            .map_err(|_| anyhow::anyhow!("the /proc/stat reader panicked"))??;
        Ok(after.saturating_sub(self.busy_before).as_secs_f64())
    }
}

/// Busy time of all CPUs since boot: the first `cpu` line of `/proc/stat` without idle and
/// iowait (and without guest time, already in user).
fn machine_busy() -> Result<Duration> {
    let text = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let fields: Vec<u64> = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(|field| field.parse().context("parsing /proc/stat"))
        .collect::<Result<_>>()?;
    ensure!(
        fields.len() >= 8,
        "a short cpu line in /proc/stat: {fields:?}"
    );
    // user nice system idle iowait irq softirq steal
    let busy_ticks = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7];
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    Ok(Duration::from_secs_f64(
        busy_ticks as f64 / ticks_per_second as f64,
    ))
}

fn run_no_tool(lab: &Lab, frames: &Frames, plan: &SendPlan) -> Result<NoToolRun> {
    let link_before = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?;
    let sending = send(lab, frames, plan)?;
    let machine_cpu_seconds = sending.machine.seconds()?;
    let link = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?.since(&link_before);
    Ok(NoToolRun {
        rate_pps: plan.rate_pps,
        sent: sending.sent.frames,
        achieved_pps: sending.sent.pps(),
        dropped_at_veth: link.rx_dropped,
        machine_cpu_seconds,
    })
}

// ---------------------------------------------------------------------------------------------
// CPU time and memory of a process, from /proc.

/// Time on CPU (user + system) of every live thread of `pid`, from `/proc/<pid>/task/*/schedstat`
/// (nanoseconds; `/proc/<pid>/stat` counts in 10 ms ticks, too coarse for the daemon). It misses
/// the softirq time the kernel spends handing packets to the process's socket: that is charged
/// to whatever the CPU was running, here mostly the sender.
fn cpu_time(pid: u32) -> Result<Duration> {
    let tasks = format!("/proc/{pid}/task");
    let mut nanos = 0u64;
    for entry in fs::read_dir(&tasks).with_context(|| format!("listing {tasks}"))? {
        let path = entry?.path().join("schedstat");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // A thread that ended between the listing and the read.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let on_cpu: u64 = text
            .split_whitespace()
            .next()
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("parsing {}: {text:?}", path.display()))?;
        nanos += on_cpu;
    }
    Ok(Duration::from_nanos(nanos))
}

/// When a tool was last busy and its CPU time then.
struct CaughtUp {
    at: Instant,
    cpu: Duration,
}

/// Waits until `pid` has caught up: no poll of [`QUIET_POLL`] in the last [`QUIET_WINDOW`] saw
/// it use more than `idle_cpu`. Returns the end of its last busy poll.
fn wait_until_caught_up(pid: u32, idle_cpu: Duration) -> Result<CaughtUp> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = CaughtUp {
        at: Instant::now(),
        cpu: cpu_time(pid)?,
    };
    let mut previous = last.cpu;
    loop {
        thread::sleep(QUIET_POLL);
        let now = cpu_time(pid)?;
        if now.saturating_sub(previous) > idle_cpu {
            last = CaughtUp {
                at: Instant::now(),
                cpu: now,
            };
        } else if last.at.elapsed() >= QUIET_WINDOW {
            return Ok(last);
        }
        ensure!(
            Instant::now() < deadline,
            "pid {pid} was still busy after {SETTLE_TIMEOUT:?}"
        );
        previous = now;
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

fn per_million(seconds: f64, queries: u64) -> f64 {
    if queries == 0 {
        f64::NAN
    } else {
        seconds * 1e6 / queries as f64
    }
}

// ---------------------------------------------------------------------------------------------
// tcpdump.

/// A capture tcpdump wrote.
struct Capture {
    file: std::path::PathBuf,
    /// Last frame → tcpdump caught up and exited, file complete.
    stopped_after: Duration,
}

fn run_tcpdump(
    lab: &Lab,
    frames: &Frames,
    plan: &SendPlan,
    dir: &Path,
) -> Result<(ToolRun, Capture)> {
    let file = dir.join("capture.pcap");
    let mut child = Lab::netns_command(lab.resolver_ns(), program_path("tcpdump"))
        .args(["-n", "-Z", "root", "-i", lab.resolver_iface(), "-w"])
        .arg(&file)
        .arg(TCPDUMP_FILTER)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning tcpdump")?;
    let stderr = child.stderr.take();
    let mut process = ChildGuard::new(child, "tcpdump");
    let (lines, listening) = collect_lines(stderr, "listening on");
    listening
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("tcpdump did not start listening: {}", lines.text()))?;
    let pid = process.id();

    let link_before = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?;
    let cpu_before = cpu_time(pid)?;
    let Sending {
        sent,
        last_frame,
        machine,
    } = send(lab, frames, plan)?;
    let caught_up = wait_until_caught_up(pid, TCPDUMP_IDLE_CPU)?;
    let cpu = caught_up.cpu.saturating_sub(cpu_before);
    // The top-50 clock: catching up, then the stop (the quiet wait that proved it is not
    // charged).
    let stopping = Instant::now();
    let status = process.terminate(STOP_TIMEOUT)?;
    let stopped_after = caught_up.at.saturating_duration_since(last_frame) + stopping.elapsed();
    let machine_cpu_seconds = machine.seconds()?;
    let link = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?.since(&link_before);
    let summary = lines.join();
    ensure!(status.success(), "tcpdump exited with {status}: {summary}");

    let captured = count_pcap_records(&file)?;
    let tool_summary = tcpdump_summary(&summary);
    let cpu_seconds = cpu.as_secs_f64();
    let run = ToolRun {
        tool: Tool::Tcpdump,
        rate_pps: plan.rate_pps,
        sent: sent.frames,
        achieved_pps: sent.pps(),
        seen: captured,
        lost: sent.frames.saturating_sub(captured),
        dropped_at_veth: link.rx_dropped,
        tool_summary,
        process_cpu_seconds: cpu_seconds,
        program_cpu_seconds: None,
        cpu_seconds,
        cpu_seconds_per_million: per_million(cpu_seconds, sent.frames),
        machine_cpu_seconds,
        machine_extra_cpu_seconds_per_million: None,
    };
    Ok((
        run,
        Capture {
            file,
            stopped_after,
        },
    ))
}

/// tcpdump's exit lines (`N packets captured`, `... received by filter`, `... dropped by
/// kernel`), joined.
fn tcpdump_summary(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| line.contains(" packets "))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records in a classic pcap file (either byte order, micro- or nanosecond).
fn count_pcap_records(path: &Path) -> Result<u64> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.len() >= 24,
        "{} is shorter than a pcap header",
        path.display()
    );
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let little_endian = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => bail!("{} is not a pcap file (magic {magic:02x?})", path.display()),
    };
    let mut offset = 24;
    let mut records = 0;
    while offset + 16 <= bytes.len() {
        let field: [u8; 4] = bytes[offset + 8..offset + 12].try_into()?;
        let captured = if little_endian {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        };
        offset += 16 + captured as usize;
        ensure!(
            offset <= bytes.len(),
            "{} ends inside record {records}",
            path.display()
        );
        records += 1;
    }
    Ok(records)
}

/// The seeds' pipeline on a finished capture. Returns its top 50 and how long it took from the
/// last frame.
struct PipelineTop {
    entries: Vec<(String, u64)>,
    seconds: f64,
    sort_seconds: f64,
}

fn run_pipeline(capture: &Capture, dir: &Path) -> Result<PipelineTop> {
    let out = dir.join("top50.txt");
    let mut command = Command::new("sh");
    command
        .args(["-c", PIPELINE, "pipeline"])
        .arg(&capture.file)
        .arg(&out);
    // The sort gets every CPU, as on the operator's machine (the bench pinned itself).
    // SAFETY: sched_setaffinity is async-signal-safe; the set is built before the fork.
    let all_cpus = all_cpus_set();
    unsafe {
        command.pre_exec(move || {
            if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &all_cpus) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let output = run_bounded(&mut command, PIPELINE_TIMEOUT)?;
    let sort_seconds = started.elapsed().as_secs_f64();
    let seconds = capture.stopped_after.as_secs_f64() + sort_seconds;
    ensure!(
        output.status.success(),
        "the pipeline failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let text = fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let entries = parse_uniq_counts(&text)?;
    ensure!(!entries.is_empty(), "the pipeline's top 50 is empty");
    Ok(PipelineTop {
        entries,
        seconds,
        sort_seconds,
    })
}

fn all_cpus_set() -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in range below 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    }
}

/// `uniq -c` lines (`  77123 name.example.test.`) as (name without the trailing dot, count).
fn parse_uniq_counts(text: &str) -> Result<Vec<(String, u64)>> {
    text.lines()
        .map(|line| {
            let (count, name) = line
                .trim()
                .split_once(' ')
                .with_context(|| format!("not a `uniq -c` line: {line:?}"))?;
            let count = count
                .parse()
                .with_context(|| format!("not a count in {line:?}"))?;
            let name = name.trim();
            Ok((name.strip_suffix('.').unwrap_or(name).to_owned(), count))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// dnstop.

fn run_dnstop(lab: &Lab, frames: &Frames, plan: &SendPlan) -> Result<ToolRun> {
    let mut command = Lab::netns_command(lab.resolver_ns(), program_path("dnstop"));
    command.args(["-l", "3", lab.resolver_iface()]);
    let mut dnstop = PtyChild::spawn(command, "dnstop", DNSTOP_ROWS, DNSTOP_COLS)?;
    let shown = dnstop
        .wait_for(START_TIMEOUT, dnstop_total)
        .context("dnstop did not start")?;
    ensure!(
        shown == 0,
        "dnstop counted {shown} queries before any was sent"
    );
    let pid = dnstop.id();

    let link_before = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?;
    let cpu_before = cpu_time(pid)?;
    let Sending { sent, machine, .. } = send(lab, frames, plan)?;
    let caught_up = wait_until_caught_up(pid, DNSTOP_IDLE_CPU)?;
    let cpu = caught_up.cpu.saturating_sub(cpu_before);
    let machine_cpu_seconds = machine.seconds()?;
    let link = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?.since(&link_before);
    // The total on screen is as of the last redraw: read it once two redraws agree.
    let mut total = dnstop.wait_for(START_TIMEOUT, dnstop_total)?;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        thread::sleep(DNSTOP_REDRAW);
        let again = dnstop.wait_for(START_TIMEOUT, dnstop_total)?;
        if again == total {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "dnstop's total kept changing for {SETTLE_TIMEOUT:?}"
        );
        total = again;
    }
    // ^X is dnstop's exit key.
    dnstop.type_keys(b"\x18")?;
    if !dnstop.wait_exit(STOP_TIMEOUT)? {
        eprintln!("warning: dnstop did not exit on ^X and was stopped");
    }
    let cpu_seconds = cpu.as_secs_f64();
    Ok(ToolRun {
        tool: Tool::Dnstop,
        rate_pps: plan.rate_pps,
        sent: sent.frames,
        achieved_pps: sent.pps(),
        seen: total,
        lost: sent.frames.saturating_sub(total),
        dropped_at_veth: link.rx_dropped,
        tool_summary: format!("Queries: {total} total"),
        process_cpu_seconds: cpu_seconds,
        program_cpu_seconds: None,
        cpu_seconds,
        cpu_seconds_per_million: per_million(cpu_seconds, sent.frames),
        machine_cpu_seconds,
        machine_extra_cpu_seconds_per_million: None,
    })
}

/// The `M` of dnstop's header line `Queries: N new, M total`.
fn dnstop_total(screen: &str) -> Option<u64> {
    let line = screen
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("Queries:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|word| word.starts_with("total"))?;
    words.get(at.checked_sub(1)?)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// dns-counter.

/// Runs the daemon over one send; returns the run, its one report, and the seconds from the last
/// frame to the report written.
fn run_dns_counter(
    lab: &Lab,
    dns_counter: &Path,
    frames: &Frames,
    plan: &SendPlan,
    dir: &Path,
) -> Result<(ToolRun, ReportFile, f64)> {
    let out_dir = tempfile::Builder::new()
        .prefix("reports-")
        .tempdir_in(dir)?;
    wait_for_room_in_interval(
        LONG_INTERVAL,
        START_TIMEOUT + plan.time_limit + SETTLE_TIMEOUT + STOP_TIMEOUT,
    );
    let interval = format!("{}s", LONG_INTERVAL.as_secs());
    let top = TOP.to_string();
    let mut counter = Counter::start(
        dns_counter,
        lab,
        out_dir.path(),
        &["--top", &top, "--interval", &interval],
    )?;
    let pid = counter.pid();

    let program_id = [traffic::resolver_xdp_program_id(lab)?];
    let link_before = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?;
    let program_before = bpf_stats::run_stats_of(&program_id)?;
    let cpu_before = cpu_time(pid)?;
    let Sending {
        sent,
        last_frame,
        machine,
    } = send(lab, frames, plan)?;
    // Caught up once the program has run on every frame (it runs in the receiving NAPI poll,
    // a moment after the sender hands a frame over) and the daemon has read the new names.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while bpf_stats::run_stats_of(&program_id)?
        .since(&program_before)
        .run_count
        < sent.frames
    {
        ensure!(
            Instant::now() < deadline,
            "the XDP program did not see every frame within {SETTLE_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let program = bpf_stats::run_stats_of(&program_id)?.since(&program_before);
    let cpu = cpu_time(pid)?.saturating_sub(cpu_before);
    let reports = counter.stop()?;
    let seconds = last_frame.elapsed().as_secs_f64();
    let machine_cpu_seconds = machine.seconds()?;
    let link = LinkCounters::read(lab.resolver_ns(), lab.resolver_iface())?.since(&link_before);

    // Counted, not `totals.packets`: that also holds packets seen and not counted (a stray
    // packet of the lab's own, a full name table), which would hide a loss.
    let seen: u64 = reports.iter().map(|file| file.report.totals.counted).sum();
    let mut uncounted: BTreeMap<String, u64> = BTreeMap::new();
    for file in &reports {
        for (reason, count) in file.report.totals.reasons() {
            *uncounted.entry(reason).or_default() += count;
        }
    }
    uncounted.retain(|_, count| *count > 0);
    let [report] = <[ReportFile; 1]>::try_from(reports)
        .map_err(|reports| anyhow::anyhow!("expected one report, got {}", reports.len()))?;
    report
        .report
        .check_consistent()
        .map_err(anyhow::Error::msg)?;
    let process_cpu_seconds = cpu.as_secs_f64();
    let program_cpu_seconds = program.run_time_ns as f64 / 1e9;
    let cpu_seconds = process_cpu_seconds + program_cpu_seconds;
    let run = ToolRun {
        tool: Tool::DnsCounter,
        rate_pps: plan.rate_pps,
        sent: sent.frames,
        achieved_pps: sent.pps(),
        seen,
        lost: sent.frames.saturating_sub(seen),
        dropped_at_veth: link.rx_dropped,
        tool_summary: format!(
            "program ran {} times ({:.0} ns each); uncounted: {}",
            program.run_count,
            program.ns_per_run(),
            if uncounted.is_empty() {
                "none".to_owned()
            } else {
                format!("{uncounted:?}")
            }
        ),
        process_cpu_seconds,
        program_cpu_seconds: Some(program_cpu_seconds),
        cpu_seconds,
        cpu_seconds_per_million: per_million(cpu_seconds, sent.frames),
        machine_cpu_seconds,
        machine_extra_cpu_seconds_per_million: None,
    };
    Ok((run, report, seconds))
}

// ---------------------------------------------------------------------------------------------
// Top-50 checks.

/// The workload's exact top [`TOP`], most queried first.
fn exact_top(workload: &Workload) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = workload
        .expected_names()
        .iter()
        .map(|(name, count)| (name.clone(), *count))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(TOP);
    counts
}

/// dns-counter's top list must be the workload's exactly: every listed name with its exact
/// count, and the same counts as the exact top (so a tie at the cut may list either name).
fn check_top(report: &ReportFile, expected_top: &[(String, u64)]) -> Result<()> {
    let exact: BTreeMap<&str, u64> = expected_top
        .iter()
        .map(|(name, count)| (name.as_str(), *count))
        .collect();
    let listed = &report.report.top;
    ensure!(
        listed.len() == expected_top.len(),
        "{} lists {} names, not {}",
        report.path.display(),
        listed.len(),
        expected_top.len()
    );
    for (entry, (_, expected_count)) in listed.iter().zip(expected_top) {
        ensure!(
            entry.count == *expected_count,
            "rank {} is {} with {}, the workload's rank {} has {expected_count}",
            entry.rank,
            entry.name,
            entry.count,
            entry.rank
        );
        if let Some(count) = exact.get(entry.name.as_str()) {
            ensure!(
                *count == entry.count,
                "{} counted {}, sent {count}",
                entry.name,
                entry.count
            );
        }
    }
    Ok(())
}

fn compare_tops(
    rate: u64,
    pipeline: &PipelineTop,
    ours: &ReportFile,
    ours_seconds: f64,
    expected_top: &[(String, u64)],
) -> TopFifty {
    let exact: BTreeMap<&str, u64> = expected_top
        .iter()
        .map(|(name, count)| (name.as_str(), *count))
        .collect();
    let pipeline_exact_entries = pipeline
        .entries
        .iter()
        .filter(|(name, count)| exact.get(name.as_str()) == Some(count))
        .count();
    let ours_names: Vec<&str> = ours
        .report
        .top
        .iter()
        .map(|entry| entry.name.as_str())
        .collect();
    let shared_names = pipeline
        .entries
        .iter()
        .filter(|(name, _)| ours_names.contains(&name.as_str()))
        .count();
    TopFifty {
        rate_pps: rate,
        dns_counter_seconds: ours_seconds,
        pipeline_seconds: pipeline.seconds,
        pipeline_sort_seconds: pipeline.sort_seconds,
        pipeline_exact_entries,
        shared_names,
    }
}

// ---------------------------------------------------------------------------------------------
// Peak RSS.

fn measure_peak_rss(
    lab: &Lab,
    dns_counter: &Path,
    names: usize,
    interval: Duration,
    sender_pps: f64,
    dir: &Path,
) -> Result<PeakRss> {
    eprintln!("peak RSS at {} distinct names", thousands(names as u64));
    let workload = Workload::zipf(RSS_SEED, names, names as u64);
    let frames = Frames::queries(lab, QUIET_V4, workload.queries())?;
    drop(workload);
    let plan = SendPlan::counted(names as u64, Some(RSS_RATE), sender_pps, SENDER_CPU)?;
    let out_dir = tempfile::Builder::new()
        .prefix("rss-reports-")
        .tempdir_in(dir)?;
    let max_names = RSS_MAX_NAMES.max(names);
    // All names in one interval: start with room for the start and the send's whole time
    // bound, in an interval long enough to hold them.
    let room = RSS_START_ROOM + plan.time_limit;
    let interval = interval.max(Duration::from_secs(room.as_secs() + 1));
    wait_for_room_in_interval(interval, room);
    let interval_arg = format!("{}s", interval.as_secs());
    let max_names_arg = max_names.to_string();
    let mut counter = Counter::start(
        dns_counter,
        lab,
        out_dir.path(),
        &[
            "--top",
            "50",
            "--interval",
            &interval_arg,
            "--max-names",
            &max_names_arg,
        ],
    )?;
    let pid = counter.pid();
    let sent = send(lab, &frames, &plan)?.sent;
    drop(frames);

    let deadline = Instant::now() + interval * 2 + Duration::from_secs(30);
    let reported = loop {
        let reports = counter.reports()?;
        let queries: u64 = reports.iter().map(|file| file.report.totals.packets).sum();
        if queries >= sent.frames {
            break reports;
        }
        ensure!(
            Instant::now() < deadline,
            "the reports hold {queries} of {} queries after {interval:?}",
            sent.frames
        );
        thread::sleep(Duration::from_millis(200));
    };
    let vm_hwm_kib = status_kib(pid, "VmHWM")?;
    let vm_rss_kib = status_kib(pid, "VmRSS")?;
    eprintln!(
        "VmHWM {} MiB, VmRSS {} MiB",
        vm_hwm_kib / 1024,
        vm_rss_kib / 1024
    );
    counter.stop()?;
    let reported_distinct_names = reported
        .iter()
        .map(|file| file.report.totals.distinct_names)
        .max()
        .unwrap_or(0);
    ensure!(
        reported.len() == 1 && reported_distinct_names == names as u64,
        "the names were split over {} reports (largest: {reported_distinct_names} names)",
        reported.len()
    );
    Ok(PeakRss {
        names,
        max_names,
        reported_distinct_names,
        vm_hwm_kib,
        vm_rss_kib,
    })
}

// ---------------------------------------------------------------------------------------------
// Targets and rendering.

fn judge(runs: &[ToolRun], top: &TopFifty, rss: &PeakRss) -> Vec<Target> {
    let _ = (top, rss);
    let mut targets = Vec::new();
    let ours = |rate: Option<u64>| {
        runs.iter()
            .find(|run| run.tool == Tool::DnsCounter && run.rate_pps == rate)
    };
    let rates: Vec<Option<u64>> = runs
        .iter()
        .filter(|run| run.tool == Tool::DnsCounter)
        .map(|run| run.rate_pps)
        .collect();

    // Loss: judged where a peer lost; if none did, on every rate.
    let peer_lost_at: Vec<Option<u64>> = rates
        .iter()
        .copied()
        .filter(|&rate| {
            runs.iter()
                .any(|run| run.tool != Tool::DnsCounter && run.rate_pps == rate && run.lost > 0)
        })
        .collect();
    let (judged_rates, where_) = if peer_lost_at.is_empty() {
        (
            rates.clone(),
            "at every rate (no peer lost anywhere)".to_owned(),
        )
    } else {
        let listed: Vec<String> = peer_lost_at
            .iter()
            .map(|&rate| describe_rate(rate))
            .collect();
        (
            peer_lost_at,
            format!("where a peer lost: {}", listed.join(", ")),
        )
    };
    let our_loss: u64 = judged_rates
        .iter()
        .filter_map(|&rate| ours(rate))
        .map(|run| run.lost)
        .sum();
    let sent: u64 = judged_rates
        .iter()
        .filter_map(|&rate| ours(rate))
        .map(|run| run.sent)
        .sum();
    targets.push(
        Target::at_most(
            "dns-counter loses no query where tcpdump or dnstop lose",
            our_loss as f64,
            0.0,
            format!("queries lost of {} sent, {where_}", thousands(sent)),
        )
        .if_missed("dns-counter missed queries the generator sent; see the runs table (veth drops or uncounted reasons)"),
    );

    // CPU: the worst ratio over the rates.
    let worst = rates
        .iter()
        .filter_map(|&rate| {
            let ours = ours(rate)?;
            let tcpdump = runs
                .iter()
                .find(|run| run.tool == Tool::Tcpdump && run.rate_pps == rate)?;
            Some((
                rate,
                ours.cpu_seconds_per_million / tcpdump.cpu_seconds_per_million,
                ours,
                tcpdump,
            ))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((rate, ratio, ours, tcpdump)) = worst {
        targets.push(
            Target::at_most(
                "dns-counter CPU per million queries ≤ 0.1× tcpdump's",
                ratio,
                0.1,
                format!(
                    "worst rate {}: {:.3} / {:.3} CPU s per million queries",
                    describe_rate(rate),
                    ours.cpu_seconds_per_million,
                    tcpdump.cpu_seconds_per_million
                ),
            )
            .if_missed(format!(
                "tcpdump's figure is its process alone, {:.0} ns per query: the kernel's copy of each packet into its \
                 ring runs in softirq time charged to the sender (the machine column shows the whole cost). Ours is the \
                 XDP program's whole run time, {:.0} ns per query (the kernel-path part's hot-name cost plus first-seen \
                 names: a hash insert and a ring-buffer record each), plus the daemon's {:.0} ns per query, mostly \
                 copying first-seen names off the ring buffer (read every 100 ms) and writing the report. Every distinct \
                 name is first seen once per run; a cheaper insert path would cut the program's share{}",
                tcpdump.cpu_seconds_per_million * 1e3,
                ours.program_cpu_seconds.unwrap_or(0.0) * 1e9 / ours.sent as f64,
                ours.process_cpu_seconds * 1e9 / ours.sent as f64,
                if ours.program_cpu_seconds.unwrap_or(0.0) > 0.1 * tcpdump.cpu_seconds {
                    "; the program's share alone is above 0.1× tcpdump's process CPU, so only counting tcpdump's \
                     kernel time too would make the comparison fair"
                } else {
                    ""
                },
            )),
        );
    }
    targets
}

fn render(results: &Results) -> Section {
    let header = &results.header;
    let mut out = Section::new();
    let _ = writeln!(
        out,
        "## Against the peers: tcpdump and dnstop on the same traffic\n"
    );
    let _ = writeln!(out, "{}. {}\n", header.provenance(), written_by(PART));
    let _ = writeln!(
        out,
        "The generator (AF_PACKET, `sendmmsg`, one thread pinned to CPU {SENDER_CPU}) sends the same {} pre-built \
         query frames (Zipf over {} names) from the lab's client namespace into the resolver's veth, at each fixed \
         rate, to one tool at a time running on CPU {TOOL_CPU}: tcpdump writing a capture (`{}`; default 2 MiB \
         buffer and snap length), dnstop live on a pty (`{}`, its `Queries: … total` read off the screen), and \
         dns-counter (`run --top 50`). Lost = frames sent − what the tool saw (packets in tcpdump's file, dnstop's \
         total, the report's `totals.counted`); `veth drops` are frames the resolver's veth dropped before any \
         tool (a veth without an XDP program queues to the kernel's backlog, which can drop). CPU is each \
         process's user + system time from the first frame until it had caught up (per-thread `schedstat`), \
         plus for dns-counter the XDP program's `run_time_ns` (`BPF_ENABLE_STATS`). Process CPU misses the \
         softirq time the kernel spends copying packets to tcpdump's and dnstop's sockets (charged to the \
         sender's CPU), so their figures are lower bounds. The last column catches that: the whole machine's busy \
         CPU (`/proc/stat`) from the first frame to {} s after the last, minus the same send with no tool, per \
         million queries (10 ms ticks; a noisy figure on a shared machine).\n",
        thousands(results.queries),
        thousands(results.distinct_names as u64),
        results.tcpdump_command,
        results.dnstop_command,
        MACHINE_TAIL.as_secs(),
    );
    let mut table = Table::new([
        Column::right("rate (asked)"),
        Column::left("tool"),
        Column::right("sent"),
        Column::right("achieved pps"),
        Column::right("seen"),
        Column::right("lost"),
        Column::right("veth drops"),
        Column::right("CPU s"),
        Column::right("CPU s per M queries"),
        Column::left("tool says"),
        Column::right("machine CPU s per M over no tool"),
    ]);
    for baseline in &results.no_tool {
        table.row([
            describe_rate(baseline.rate_pps),
            "(no tool)".to_owned(),
            thousands(baseline.sent),
            thousands(baseline.achieved_pps.round() as u64),
            String::new(),
            String::new(),
            thousands(baseline.dropped_at_veth),
            String::new(),
            String::new(),
            String::new(),
            format!("({} s busy)", figure(baseline.machine_cpu_seconds)),
        ]);
    }
    for run in &results.runs {
        let cpu = match run.program_cpu_seconds {
            Some(program) => format!(
                "{} ({} daemon + {} XDP)",
                figure(run.cpu_seconds),
                figure(run.process_cpu_seconds),
                figure(program)
            ),
            None => figure(run.cpu_seconds),
        };
        table.row([
            describe_rate(run.rate_pps),
            run.tool.name().to_owned(),
            thousands(run.sent),
            thousands(run.achieved_pps.round() as u64),
            thousands(run.seen),
            thousands(run.lost),
            thousands(run.dropped_at_veth),
            cpu,
            figure(run.cpu_seconds_per_million),
            run.tool_summary.clone(),
            run.machine_extra_cpu_seconds_per_million
                .map_or_else(String::new, figure),
        ]);
    }
    out.table(&table);
    let top = &results.top_fifty;
    let _ = writeln!(
        out,
        "\nThe seeds' story at {} pps: from the last frame sent to a complete top-50 file, dns-counter took \
         **{} s** (wait for the program to have seen every frame, SIGTERM, the final report written) and \
         tcpdump-and-sort **{} s** (wait for tcpdump to catch up, stop it, then `{}`: {} s of that). \
         dns-counter's top 50 equals the workload's exact counts (checked; the bench fails otherwise); the \
         pipeline's lists {} of the exact top 50 with the exact count, and the two lists share {} names.\n",
        thousands(top.rate_pps),
        figure(top.dns_counter_seconds),
        figure(top.pipeline_seconds),
        results.pipeline.replace('|', "\\|"),
        figure(top.pipeline_sort_seconds),
        top.pipeline_exact_entries,
        top.shared_names,
    );
    let rss = &results.peak_rss;
    let _ = writeln!(
        out,
        "Peak RSS of the daemon (`VmHWM`) after a report of {} distinct names (each queried once, \
         `--max-names {}`): **{} MiB** (RSS then {} MiB). Kernel map memory is not in RSS; the drain \
         part reports it.\n",
        thousands(rss.reported_distinct_names),
        thousands(rss.max_names as u64),
        figure(rss.vm_hwm_kib as f64 / 1024.0),
        figure(rss.vm_rss_kib as f64 / 1024.0),
    );
    out.table(&targets_table(&header.targets));
    out
}

// ---------------------------------------------------------------------------------------------
// Child output.

/// Lines a child writes to a pipe, collected on a thread.
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    reader: JoinHandle<()>,
}

impl Lines {
    fn text(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// Everything, once the pipe has closed.
    fn join(self) -> String {
        // The reader ends when the pipe closes; a panic in it has been printed already.
        let _ = self.reader.join();
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }
}

/// Collects `pipe`'s lines; the receiver hears once a line contains `marker`.
fn collect_lines(
    pipe: Option<impl std::io::Read + Send + 'static>,
    marker: &'static str,
) -> (Lines, mpsc::Receiver<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (seen, seen_receiver) = mpsc::channel();
    let collected = Arc::clone(&lines);
    let reader = thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if line.contains(marker) {
                // Nobody listens after startup; that is fine.
                let _ = seen.send(());
            }
            collected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
    (Lines { lines, reader }, seen_receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnstop_header_gives_the_total() {
        let screen = "Queries: 50 new, 1234 total                  Sun Nov 22 05:05:38 2026\n\nSources  Count\n";
        assert_eq!(dnstop_total(screen), Some(1234));
        assert_eq!(dnstop_total("Sources Count\n"), None);
    }

    #[test]
    fn uniq_counts_parse_and_lose_the_trailing_dot() {
        let parsed = parse_uniq_counts(
            "  77123 n0-ab.z3.example.test.\n     12 www.n1-q.z1.example.test.\n",
        )
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                ("n0-ab.z3.example.test".to_owned(), 77_123),
                ("www.n1-q.z1.example.test".to_owned(), 12)
            ]
        );
        assert!(parse_uniq_counts("garbage\n").is_err());
    }

    #[test]
    fn status_fields_parse() {
        let pid = std::process::id();
        assert!(status_kib(pid, "VmHWM").unwrap() > 0);
        assert!(status_kib(pid, "NoSuchField").is_err());
    }
}
