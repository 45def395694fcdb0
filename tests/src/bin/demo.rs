//! `dns-counter-demo`: the motivating story on one machine. An ISP resolver sees a few dominant
//! names, a name hard-coded in many customer routers (about a fifth of all queries, excluded
//! with `--exclude` because everyone already knows about it) and a long tail of misconfigured
//! and rare names. The demo builds a lab, plays that traffic through `dns-counter run`, prints the
//! last report and keeps the report files under `target/demo-reports/<timestamp>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use dns_counter_tests::lab::RESOLVER_V4;
use dns_counter_tests::prereq::{check_privileges, target_dir};
use dns_counter_tests::workload::zipf_counts;
use dns_counter_tests::{Counter, Dnsperf, Lab, ReportFile, Workload};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SEED: u64 = 2024;
/// The NTP name baked into the customers' routers: a fifth of all queries.
const ROUTER_NAME: &str = "time.router-vendor.example";
const ROUTER_QUERIES: u64 = 30_000;
/// The big platforms, with the query counts they get in the demo.
const DOMINANT_NAMES: [(&str, u64); 7] = [
    ("graph.facebook.example", 16_000),
    ("star-mini.c10r.facebook.example", 9_000),
    ("scontent.xx.fbcdn.example", 12_000),
    ("e6858.dscx.akamaiedge.example", 10_000),
    ("www.google.example", 11_000),
    ("clients4.google.example", 7_000),
    ("connectivitycheck.gstatic.example", 4_000),
];
/// Ordinary sites between the giants and the tail, Zipf-shaped.
const MIDDLE_NAMES: usize = 300;
const MIDDLE_QUERIES: u64 = 40_000;
/// Misconfigured or rare names, each asked a handful of times.
const TAIL_NAMES: usize = 3_000;
const TAIL_MAX_QUERIES: u64 = 5;

/// 25,000 queries/s spreads the ~150,000 queries over about three 2 s intervals.
const SEND_RATE_QPS: u32 = 25_000;
const INTERVAL: &str = "2s";
const INTERVAL_SECONDS: f64 = 2.0;
const TOP: &str = "50";

fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        eprintln!(
            "usage: dns-counter-demo (no arguments; needs root, unbound, dnsperf and DNS_COUNTER_BIN)"
        );
        return ExitCode::from(2);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let privileges =
        check_privileges().map_err(|reason| anyhow::anyhow!("cannot run the demo: {reason}"))?;
    let report_dir = target_dir()
        .join("demo-reports")
        .join(compact_utc_stamp(SystemTime::now()));
    fs::create_dir_all(&report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;

    println!("building the lab (two network namespaces, a veth pair, unbound)...");
    let lab = Lab::new()?;
    let workload = isp_workload();
    let datafile = lab.work_dir().join("isp.queries");
    workload.write_datafile(&datafile)?;
    println!(
        "workload: {} queries over {} names; {ROUTER_NAME} is {} of them and is excluded",
        workload.total(),
        workload.expected_names().len(),
        ROUTER_QUERIES
    );

    let mut counter = Counter::start(
        &privileges.dns_counter,
        &lab,
        &report_dir,
        &[
            "--interval",
            INTERVAL,
            "--top",
            TOP,
            "--exclude",
            ROUTER_NAME,
        ],
    )?;
    println!(
        "counter attached to {} in {}; sending at {SEND_RATE_QPS} queries/s...",
        lab.resolver_iface(),
        lab.resolver_ns()
    );
    let summary = Dnsperf::new(RESOLVER_V4, &datafile)
        .max_qps(SEND_RATE_QPS)
        .time_limit(Duration::from_secs(30))
        .run(&lab)?;
    println!(
        "dnsperf: {} sent, {} answered, {} lost",
        summary.sent, summary.completed, summary.lost
    );
    let reports = counter.stop()?;

    print_report_overview(&reports);
    // The first and the last report cover part of an interval; show the last whole one.
    let whole = |r: &&dns_counter_tests::ReportFile| r.report.seconds >= INTERVAL_SECONDS - 0.1;
    let last = reports
        .iter()
        .rev()
        .find(whole)
        .or(reports.last())
        .context("the counter wrote no report")?;
    let table = fs::read_to_string(last.txt_path())
        .with_context(|| format!("reading {}", last.txt_path().display()))?;
    println!("\n=== {} ===\n{table}", file_name(&last.txt_path()));
    println!("report files: {}", report_dir.display());
    Ok(())
}

/// The ISP story as exact per-name counts.
fn isp_workload() -> Workload {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut counts: Vec<(String, u64)> = vec![(ROUTER_NAME.to_owned(), ROUTER_QUERIES)];
    counts.extend(
        DOMINANT_NAMES
            .iter()
            .map(|(name, count)| ((*name).to_owned(), *count)),
    );

    let sites = [
        "shop", "news", "bank", "stream", "mail", "games", "maps", "weather",
    ];
    let services = ["www", "api", "cdn", "static"];
    for (rank, count) in zipf_counts(MIDDLE_NAMES, MIDDLE_QUERIES)
        .into_iter()
        .enumerate()
    {
        let name = format!(
            "{}.{}-{rank}.example",
            services[rank % services.len()],
            sites[rank % sites.len()]
        );
        counts.push((name, count));
    }

    // What a resolver's tail looks like: search-domain leaks, local names, typos.
    let tail_patterns = [
        "wpad.cust-{}.isp-broadband.example",
        "printer-{}.localdomain.example",
        "nas-{}.home.lan.example",
        "_ldap._tcp.dc-{}.corp.example",
        "www.gogle-{}.example",
        "update-{}.iot-camera.example",
    ];
    for index in 0..TAIL_NAMES {
        let name = tail_patterns[index % tail_patterns.len()].replace("{}", &index.to_string());
        counts.push((name, rng.random_range(1..=TAIL_MAX_QUERIES)));
    }
    Workload::from_counts(SEED, counts)
}

fn print_report_overview(reports: &[ReportFile]) {
    println!("\n{} reports:", reports.len());
    for file in reports {
        let totals = &file.report.totals;
        println!(
            "  {}  {} .. {}  queries {:>7}  counted {:>7}  excluded {:>6}  names {:>5}",
            file_name(&file.path),
            file.report.start,
            file.report.end,
            totals.queries,
            totals.counted,
            totals.excluded,
            totals.distinct_names
        );
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `20250102T030405Z`, a directory name that sorts by time.
fn compact_utc_stamp(time: SystemTime) -> PathBuf {
    let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
    PathBuf::from(rfc3339.replace(['-', ':'], ""))
}
