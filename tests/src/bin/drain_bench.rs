//! `dns-counter-drain-bench [--quick]` (part "drain" of `cargo xtask bench`): what the end of an
//! interval costs at scale, and what the kernel maps cost in memory.
//!
//! - Batch against per-entry: one hash map like the counts maps, filled with the same N entries before each
//!   read, drained once with aya's per-entry calls (keys, then get and remove per key, as the
//!   daemon did) and once with `BPF_MAP_LOOKUP_AND_DELETE_BATCH` (`dns_counter::kernel::sys::batch`).
//! - The interval's end at 1k to 5M distinct names: the real program counts generated frames
//!   through BPF_PROG_TEST_RUN into its active map set, then the bench does what the daemon does
//!   at every interval end — flip + grace period + read of the idle set (`Drainer::flip_and_drain`),
//!   the report with its top-N (`daemon::report_of`), every format written (`sinks::files::write`) — timing
//!   each, then the clear of the idle set that follows the report (`Drainer::clear_idle`).
//! - Kernel memory per distinct name: the `memlock` the kernel charges for each of the program's
//!   maps (/proc/self/fdinfo), at the default `--max-names`, and what it would charge for the same
//!   maps with 64 possible CPUs (`map_memory::MapMemory::memlock_at`).

use std::{
    fmt::Write as _,
    fs,
    os::fd::AsFd as _,
    process::ExitCode,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, Result, bail, ensure};
use aya::{
    maps::{HashMap, IterableMap as _, MapData},
    programs::{TestRun as _, TestRunOptions, Xdp},
};
use clap::Parser as _;
use dns_counter::{
    cli::{Cli, Command},
    config::Config,
    daemon::report_of,
    kernel::{
        drain::Drainer,
        loader::{self, Loaded},
        sys::{batch::BatchMap, grace::GracePeriod},
    },
    sinks::files,
};
use dns_counter_common::maps::{
    COUNTS_MAPS, DEFAULT_MAX_NAMES, MAX_CLIENT_PREFIXES, QTYPES_MAP, QTYPES_SHARED_MAP,
};
use dns_counter_report::interval::Meta;
use dns_counter_tests::{
    bench::{
        Column, Machine, PartArgs, PartHeader, Section, Table, Target, figure, median, pin_to_cpu,
        publish as publish_part, targets_table, thousands, written_by,
    },
    map_memory::{MapMemory, program_maps},
    test_run::program,
};
use serde::Serialize;

const PART: &str = "drain";
const SCHEMA: &str = "dns-counter/bench/drain/v1";

/// The bench's "drain" part: flip + drain + top-N + every format at 1 k to 5 M names, batch
/// against per-entry map reads, kernel map memory per name. Needs root; `cargo xtask bench`
/// runs it.
#[derive(clap::Parser)]
#[command(name = "dns-counter-drain-bench")]
struct Args {
    #[command(flatten)]
    part: PartArgs,
}

/// The targets.
const BATCH_RATIO_LIMIT: f64 = 0.35;
const END_OF_INTERVAL_LIMIT_S: f64 = 1.0;
const END_OF_INTERVAL_AT: u64 = 1_000_000;
const BYTES_PER_NAME_LIMIT: f64 = 200.0;
/// The possible CPUs of a large resolver, for what the maps would cost there.
const MANY_CPUS: usize = 64;
/// Column headers are static text: the heading of the memory column at [`MANY_CPUS`].
const MANY_CPUS_HEADER: &str = "memlock bytes with 64 CPUs";
const _: () = assert!(MANY_CPUS == 64, "change MANY_CPUS_HEADER with MANY_CPUS");

/// Frames between two reads of the names ring buffer: ~100k records of ~56 bytes stay well
/// inside its 32 MiB.
const FRAMES_PER_READ: u64 = 100_000;
/// No fill runs longer than this; a size not reached in time is reported as what was reached.
const FILL_DEADLINE: Duration = Duration::from_secs(600);
/// The first names get more queries, so the top-N has an order to find (name i: 100 − i).
const HEAVY_NAMES: u64 = 100;
const XDP_PASS: u32 = 2;

struct Sizes {
    side_by_side: u32,
    rounds: usize,
    scale: &'static [u64],
}

const FULL: Sizes = Sizes {
    side_by_side: 1_000_000,
    rounds: 5,
    scale: &[1_000, 100_000, 1_000_000, 5_000_000],
};
const QUICK: Sizes = Sizes {
    side_by_side: 50_000,
    rounds: 3,
    scale: &[1_000, 20_000],
};

#[derive(Serialize)]
struct SideBySide {
    entries: u32,
    rounds: usize,
    per_entry_s: Vec<f64>,
    batch_s: Vec<f64>,
    per_entry_median_s: f64,
    batch_median_s: f64,
    /// batch / per-entry, from the medians.
    ratio: f64,
}

#[derive(Serialize)]
struct Scale {
    /// Distinct names asked for.
    names: u64,
    /// Distinct names the program counted (less than `names` only if the fill ran out of time).
    filled: u64,
    max_names: u32,
    queries: u64,
    fill_s: f64,
    /// Flip, grace period, last ring buffer records, batch read of counts, stats and qtypes.
    flip_drain_s: f64,
    /// Aggregation into names, domains and qtypes with the top-N cut and the report's checks.
    report_s: f64,
    /// Rendering and writing every format (json, csv, txt, prom) and latest.* into a temp dir.
    write_s: f64,
    /// Flip + drain + report + write: the end of the interval, up to the report written.
    total_s: f64,
    /// Deleting the idle set's entries after the report (`Drainer::clear_idle`), outside the total.
    clear_s: f64,
    /// Entries `clear_idle` deleted.
    cleared: usize,
    bytes_written: u64,
}

#[derive(Serialize)]
struct MapFigures {
    #[serde(flatten)]
    map: MapMemory,
    /// What the kernel would charge with `MANY_CPUS` possible CPUs (None: a type not modelled).
    memlock_bytes_many_cpus: Option<u64>,
}

#[derive(Serialize)]
struct Memory {
    max_names: u32,
    /// `--clients` loaded too: its two clients maps at their full size.
    clients: bool,
    maps: Vec<MapFigures>,
    total_bytes: u64,
    /// Everything over `max_names`: what each name of capacity costs the kernel.
    bytes_per_name: f64,
    /// The two counts maps alone over `max_names` (both sets).
    counts_bytes_per_name: f64,
    many_cpus: usize,
    /// As the kernel would charge on `many_cpus` possible CPUs; None if a map is not modelled.
    total_bytes_many_cpus: Option<u64>,
    bytes_per_name_many_cpus: Option<f64>,
}

#[derive(Serialize)]
struct Results {
    #[serde(flatten)]
    header: PartHeader,
    possible_cpus: usize,
    side_by_side: SideBySide,
    grace_period_s: f64,
    scale: Vec<Scale>,
    memory: Vec<Memory>,
}

fn main() -> ExitCode {
    dns_counter_tests::bench::main(|args: Args| bench(args.part.quick))
}

fn bench(quick: bool) -> Result<()> {
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    loader::raise_memlock_limit();
    let sizes = if quick { QUICK } else { FULL };
    let machine = Machine::this()?;
    let nr_cpus = aya::util::nr_cpus()
        .map_err(|(_, err)| err)
        .context("counting possible CPUs")?;

    // Memory first: nothing else of ours is open, so every map fd is the program's.
    let memory = vec![map_memory(false, nr_cpus)?, map_memory(true, nr_cpus)?];
    // Test runs and drains on one CPU, as the daemon's single thread would be.
    pin_to_cpu(0)?;
    eprintln!(
        "batch against per-entry at {} entries, {} rounds",
        thousands(sizes.side_by_side.into()),
        sizes.rounds
    );
    let side_by_side = side_by_side(sizes.side_by_side, sizes.rounds, nr_cpus)?;
    let grace = GracePeriod::new().context("creating the grace period maps")?;
    let mut grace_runs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        grace.wait().context("waiting for a grace period")?;
        grace_runs.push(started.elapsed().as_secs_f64());
    }
    let mut scale = Vec::new();
    for &names in sizes.scale {
        scale.push(end_of_interval(names)?);
    }

    let mut results = Results {
        header: PartHeader::new(SCHEMA, machine, quick),
        possible_cpus: nr_cpus,
        side_by_side,
        grace_period_s: median(&grace_runs),
        scale,
        memory,
    };
    results.header.targets = targets(&results);
    let section = render(&results);
    publish_part(PART, &section, &results, quick)
}

/// Scattered keys, as SipHash spreads names.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995
}

/// Per-entry and batch drains of the same `entries` in a hash map like the counts maps, `rounds` each.
fn side_by_side(entries: u32, rounds: usize, nr_cpus: usize) -> Result<SideBySide> {
    let mut map =
        HashMap::<MapData, u64, u64>::create(entries, 0).context("creating a hash map")?;
    let keys: Vec<u64> = (0..u64::from(entries)).map(key).collect();
    // Entry i holds i + 1, so a sum checks every value was read.
    let values: Vec<u64> = (1..=u64::from(entries)).collect();
    let want_sum: u64 = values.iter().sum();
    let (mut per_entry_s, mut batch_s) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for batch_first in [round % 2 == 1, round % 2 == 0] {
            {
                let fill = BatchMap::<u64, u64>::new(map.map().fd().as_fd(), nr_cpus)?;
                fill.update(&keys, &values, 0).context("filling the map")?;
            }
            let started = Instant::now();
            let (read, sum) = if batch_first {
                let batch = BatchMap::<u64, u64>::new(map.map().fd().as_fd(), nr_cpus)?;
                let drained: Vec<(u64, u64)> = batch.lookup_and_delete_all()?.sums().collect();
                (
                    drained.len(),
                    drained.iter().map(|(_, count)| count).sum::<u64>(),
                )
            } else {
                per_entry_drain(&mut map)?
            };
            let took = started.elapsed().as_secs_f64();
            ensure!(
                read == entries as usize && sum == want_sum,
                "a drain read {read} entries summing {sum}"
            );
            if batch_first {
                &mut batch_s
            } else {
                &mut per_entry_s
            }
            .push(took);
        }
    }
    let (per_entry_median_s, batch_median_s) = (median(&per_entry_s), median(&batch_s));
    Ok(SideBySide {
        entries,
        rounds,
        per_entry_s,
        batch_s,
        per_entry_median_s,
        batch_median_s,
        ratio: batch_median_s / per_entry_median_s,
    })
}

/// The daemon's drain before batches: every key, then one lookup and one delete per key.
fn per_entry_drain(map: &mut HashMap<MapData, u64, u64>) -> Result<(usize, u64)> {
    let keys: Vec<u64> = map.keys().collect::<Result<_, _>>()?;
    let mut drained = Vec::with_capacity(keys.len());
    for key in keys {
        let count = map.get(&key, 0)?;
        map.remove(&key)?;
        drained.push((key, count));
    }
    Ok((drained.len(), drained.iter().map(|(_, count)| count).sum()))
}

/// The daemon's configuration for `names` distinct names, writing every format into `out_dir`.
fn daemon_config(names: u64, out_dir: &std::path::Path) -> Result<Config> {
    let max_names = names.max(u64::from(DEFAULT_MAX_NAMES)).to_string();
    let argv = [
        "dns-counter",
        "run",
        "--iface",
        "lo",
        "--format",
        "json,csv,txt,prom",
        "--max-names",
        &max_names,
        "--out-dir",
    ];
    let cli = Cli::try_parse_from(
        argv.iter()
            .map(std::ffi::OsStr::new)
            .chain([out_dir.as_os_str()]),
    )
    .context("parsing the daemon's flags")?;
    let Command::Run(args) = cli.command else {
        bail!("not a run command")
    };
    Ok(Config::from_args(args)?)
}

/// Label of name `i`: `n` and eight digits, patched into one template frame.
const LABEL_DIGITS: usize = 8;

fn end_of_interval(names: u64) -> Result<Scale> {
    let out_dir = tempfile::tempdir().context("creating a temp out-dir")?;
    let config = daemon_config(names, out_dir.path())?;
    let counting = &config.counting;
    let mut loaded = loader::load(counting.max_names).context("loading the XDP program")?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;

    eprintln!("filling {} names …", thousands(names));
    let start = SystemTime::now();
    let (filled, queries, fill_s) = fill(&loaded, &mut drainer, names)?;

    let end = SystemTime::now();
    let started = Instant::now();
    let interval = drainer.flip_and_drain(start, end)?;
    let flip_drain_s = started.elapsed().as_secs_f64();
    ensure!(
        interval.names.len() as u64 == filled,
        "drained {} names of {filled}",
        interval.names.len()
    );
    let counted: u64 = interval.names.iter().map(|(_, count)| count).sum();
    ensure!(counted == queries, "drained {counted} queries of {queries}");

    let meta = Meta {
        host: "bench".to_owned(),
        interfaces: config.ifaces.clone(),
    };
    let options = counting.report_options();
    let started = Instant::now();
    let report = report_of(&interval, &meta, &options);
    let report_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let written = files::write(&report, counting.report_target()).context("writing the reports")?;
    let write_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let cleared = drainer.clear_idle()?;
    let clear_s = started.elapsed().as_secs_f64();
    ensure!(
        cleared as u64 == filled,
        "cleared {cleared} entries of {filled}"
    );
    let bytes_written = written
        .iter()
        .filter_map(|path| fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum();
    Ok(Scale {
        names,
        filled,
        max_names: counting.max_names,
        queries,
        fill_s,
        flip_drain_s,
        report_s,
        write_s,
        total_s: flip_drain_s + report_s + write_s,
        clear_s,
        cleared,
        bytes_written,
    })
}

/// Runs one query for each of `names` distinct names (more for the first `HEAVY_NAMES`) through
/// the program; returns the names and queries counted, and how long it took.
fn fill(loaded: &Loaded, drainer: &mut Drainer, names: u64) -> Result<(u64, u64, f64)> {
    let xdp: &Xdp = program(loaded);
    let mut frame = dns_counter_common::testing::query_frame(
        &format!("n{}.bench.example", "0".repeat(LABEL_DIGITS)),
        1,
    );
    let digits = frame
        .windows(LABEL_DIGITS + 1)
        .position(|window| window[0] == b'n' && window[1..].iter().all(|&b| b == b'0'))
        .context("no digits in the template frame")?
        + 1;
    let started = Instant::now();
    let (mut filled, mut queries) = (0, 0);
    while filled < names {
        if started.elapsed() > FILL_DEADLINE {
            eprintln!(
                "fill stopped at {} names after {FILL_DEADLINE:?}",
                thousands(filled)
            );
            break;
        }
        let mut n = filled;
        for place in (0..LABEL_DIGITS).rev() {
            frame[digits + place] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // Repeats of one test run each: `repeat` > 1 yields the CPU between runs, slow on a busy machine.
        let runs = if filled < HEAVY_NAMES {
            HEAVY_NAMES - filled
        } else {
            1
        };
        for _ in 0..runs {
            let result = xdp
                .test_run(TestRunOptions {
                    data_in: Some(&frame),
                    repeat: 1,
                    ..Default::default()
                })
                .context("BPF_PROG_TEST_RUN")?;
            ensure!(
                result.return_value == XDP_PASS,
                "verdict {} for a query",
                result.return_value
            );
        }
        queries += runs;
        filled += 1;
        if filled.is_multiple_of(FRAMES_PER_READ) {
            drainer.read_names();
        }
    }
    Ok((filled, queries, started.elapsed().as_secs_f64()))
}

/// The memlock of every map the program holds, loaded at the default `--max-names`, and what
/// the kernel would charge for them with `MANY_CPUS` possible CPUs.
fn map_memory(clients: bool, possible_cpus: usize) -> Result<Memory> {
    let max_names = DEFAULT_MAX_NAMES;
    let loaded = if clients {
        loader::load_sized(max_names, MAX_CLIENT_PREFIXES)
    } else {
        loader::load(max_names)
    }
    .context("loading the XDP program")?;
    let maps: Vec<MapFigures> = program_maps(&loaded)?
        .into_iter()
        .map(|map| MapFigures {
            memlock_bytes_many_cpus: map.memlock_at(possible_cpus, MANY_CPUS),
            map,
        })
        .collect();
    let total_bytes: u64 = maps.iter().map(|map| map.map.memlock_bytes).sum();
    let total_bytes_many_cpus: Option<u64> =
        maps.iter().map(|map| map.memlock_bytes_many_cpus).sum();
    let counts: u64 = maps
        .iter()
        .filter(|map| COUNTS_MAPS.contains(&map.map.name.as_str()))
        .map(|map| map.map.memlock_bytes)
        .sum();
    Ok(Memory {
        max_names,
        clients,
        maps,
        total_bytes,
        bytes_per_name: total_bytes as f64 / f64::from(max_names),
        counts_bytes_per_name: counts as f64 / f64::from(max_names),
        many_cpus: MANY_CPUS,
        total_bytes_many_cpus,
        bytes_per_name_many_cpus: total_bytes_many_cpus
            .map(|total| total as f64 / f64::from(max_names)),
    })
}

fn targets(results: &Results) -> Vec<Target> {
    let side = &results.side_by_side;
    let mut targets = vec![
        Target::at_most(
            "batch drain ≤ 0.35× per-entry",
            side.ratio,
            BATCH_RATIO_LIMIT,
            format!(
                "median {:.3} s batch / {:.3} s per-entry, {} entries",
                side.batch_median_s,
                side.per_entry_median_s,
                thousands(side.entries.into())
            ),
        )
        .if_missed("the kernel's per-bucket walk and copy dominate; larger chunks would help"),
    ];
    if let Some(at) = results
        .scale
        .iter()
        .find(|row| row.names == END_OF_INTERVAL_AT)
    {
        targets.push(
            Target::at_most(
                "flip + drain + top-N + all formats ≤ 1 s at 1M names",
                at.total_s,
                END_OF_INTERVAL_LIMIT_S,
                format!(
                    "s; drain {:.3} + report {:.3} + write {:.3}; the clear after it {:.3}",
                    at.flip_drain_s, at.report_s, at.write_s, at.clear_s
                ),
            )
            .if_missed(interval_miss(at)),
        );
    }
    if let Some(memory) = results.memory.iter().find(|memory| !memory.clients) {
        targets.push(
            Target::at_most(
                "kernel map memory ≤ 200 B per distinct name",
                memory.bytes_per_name,
                BYTES_PER_NAME_LIMIT,
                format!(
                    "B; {} B memlock over {} names, {} possible CPUs ({} B per name with {}); counts \
                     maps {:.0} B of it",
                    thousands(memory.total_bytes),
                    thousands(memory.max_names.into()),
                    results.possible_cpus,
                    memory
                        .bytes_per_name_many_cpus
                        .map_or_else(|| "?".to_owned(), |bytes| format!("{bytes:.1}")),
                    memory.many_cpus,
                    memory.counts_bytes_per_name
                ),
            )
            .if_missed(memory_miss(memory, results.possible_cpus)),
        );
    }
    targets
}

/// Why the end-of-interval target is missed: the stages over a third of the limit, and why each
/// costs what it does.
fn interval_miss(at: &Scale) -> String {
    let mut why = Vec::new();
    if at.report_s > END_OF_INTERVAL_LIMIT_S / 3.0 {
        why.push(format!(
            "the report ({:.2} s): every name is rendered to presentation form, checked for repeats and \
             grouped by PSL; grouping by wire-name suffix and presenting only the listed names would cut it",
            at.report_s
        ));
    }
    if at.flip_drain_s > END_OF_INTERVAL_LIMIT_S / 3.0 {
        why.push(format!(
            "the drain ({:.2} s): the kernel's lookup batch visits every one of the 2^20 buckets and copies \
             each entry (the delete is already deferred to after the report); reading the buckets in \
             parallel from several threads would cut it",
            at.flip_drain_s
        ));
    }
    if at.write_s > END_OF_INTERVAL_LIMIT_S / 3.0 {
        why.push(format!("writing the formats ({:.2} s)", at.write_s));
    }
    if why.is_empty() {
        why.push("no one stage: the sum of all".to_owned());
    }
    why.join("; ")
}

/// Why the memory target is missed, from the breakdown.
fn memory_miss(memory: &Memory, cpus: usize) -> String {
    let per_name = |name: &str| {
        memory
            .maps
            .iter()
            .find(|map| map.map.name == name)
            .map_or(0.0, |map| {
                map.map.memlock_bytes as f64 / f64::from(memory.max_names)
            })
    };
    format!(
        "the two preallocated counts maps take {:.1} B per name (each entry: a 64-byte hash element with \
         its key and value, and a 16-byte bucket per power-of-two slot), the 32 MiB names ring {:.1} B, \
         the qtype maps {:.1} B (1 MiB shared, 4 KiB per CPU over {cpus} CPUs). BPF_F_NO_PREALLOC charges more per entry when a set is \
         full and allocates on the new-name path; a smaller ring would overflow while the daemon drains; \
         one map for both sets would need twice the entries, so as many buckets",
        per_name(COUNTS_MAPS[0]) + per_name(COUNTS_MAPS[1]),
        per_name("NAMES"),
        per_name(QTYPES_MAP) + per_name(QTYPES_SHARED_MAP),
    )
}

fn render(results: &Results) -> Section {
    let header = &results.header;
    let side = &results.side_by_side;
    let mut out = Section::new();
    let _ = writeln!(out, "## Drain, memory (part `drain`)\n");
    let _ = writeln!(
        out,
        "{}. `dns-counter-drain-bench` pins itself to CPU 0. {}\n",
        header.provenance(),
        written_by(PART)
    );
    let _ = writeln!(
        out,
        "**Batch against per-entry.** One hash map like the counts maps ({} possible CPUs) filled with the same {} \
         entries before each drain, drained with aya's per-entry calls (keys, then a lookup and a delete \
         per key, as the daemon used to) and with `BPF_MAP_LOOKUP_AND_DELETE_BATCH` (`dns_counter::kernel::sys::batch`); \
         {} rounds each, alternating which goes first, medians.\n",
        results.possible_cpus,
        thousands(side.entries.into()),
        side.rounds
    );
    let runs = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut table = Table::new([
        Column::left("drain"),
        Column::right("median s"),
        Column::left("runs s"),
    ]);
    table
        .row([
            "per-entry (keys + get + remove)".to_owned(),
            format!("{:.3}", side.per_entry_median_s),
            runs(&side.per_entry_s),
        ])
        .row([
            "lookup-and-delete batch".to_owned(),
            format!("{:.3}", side.batch_median_s),
            runs(&side.batch_s),
        ])
        .row([
            "**ratio**".to_owned(),
            format!("**{}**", figure(side.ratio)),
            String::new(),
        ]);
    out.table(&table);
    let _ = writeln!(out);

    let _ = write!(
        out,
        "**End of an interval at scale.** The real program counts one generated query per distinct name \
         (the first 100 names more, so the top-N has an order) through BPF_PROG_TEST_RUN into its active \
         set, `--max-names` raised where needed; then the daemon's own calls: `Drainer::flip_and_drain` \
         (flip, RCU grace period, last names from the ring, batch read of counts, stats and qtypes), \
         `daemon::report_of` (names, domains by PSL, qtypes, top 50, checks) and `sinks::files::write` (json, csv, \
         txt, prom and latest.* into a temp dir) — the total, the interval's end up to its report written. \
         Then `Drainer::clear_idle` deletes the read entries from the idle set (a lookup-and-delete \
         batch), which the daemon does after the report, well before the next flip.\n\n",
    );
    let mut table = Table::new([
        Column::right("distinct names"),
        Column::right("--max-names"),
        Column::right("flip + drain s"),
        Column::right("report s"),
        Column::right("write s"),
        Column::right("**total s**"),
        Column::right("clear after s"),
        Column::right("written"),
        Column::right("fill s"),
    ]);
    for row in &results.scale {
        let names = if row.filled == row.names {
            thousands(row.names)
        } else {
            format!("{} (of {})", thousands(row.filled), thousands(row.names))
        };
        table.row([
            names,
            thousands(row.max_names.into()),
            format!("{:.3}", row.flip_drain_s),
            format!("{:.3}", row.report_s),
            format!("{:.3}", row.write_s),
            format!("**{:.3}**", row.total_s),
            format!("{:.3}", row.clear_s),
            format!("{} KiB", thousands(row.bytes_written / 1024)),
            format!("{:.1}", row.fill_s),
        ]);
    }
    out.table(&table);
    let _ = writeln!(
        out,
        "\nThe grace period alone (one map-of-maps update) took {:.4} s (median of 5).\n",
        results.grace_period_s
    );

    let _ = write!(
        out,
        "**Kernel map memory.** The `memlock` the kernel charges for each of the program's maps \
         (/proc/self/fdinfo), loaded at the default `--max-names`; per name = total over `--max-names`. \
         Both map sets (`COUNTS_0`/`COUNTS_1`, `CLIENTS_0`/`CLIENTS_1`, and the two halves of `STATS`, \
         `QTYPES` and `QTYPES_SHARED`) are counted: the daemon drains one set while the program fills \
         the other. Beside it, what the kernel would charge for the same maps with {} possible CPUs: \
         the measured figure with the terms of the kernel's accounting that grow with the CPUs \
         (per-CPU values, per-CPU spares and locks of hash maps) taken to that count.\n\n",
        MANY_CPUS
    );
    for memory in &results.memory {
        let _ = writeln!(
            out,
            "{}: {} B in all, **{:.1} B per name** (counts maps {:.1} B per name, {:.1} B per name and set); \
             with {} possible CPUs {} B, {} B per name.\n",
            if memory.clients {
                "With `--clients` (65,536 prefixes per set)"
            } else {
                "Without `--clients`"
            },
            thousands(memory.total_bytes),
            memory.bytes_per_name,
            memory.counts_bytes_per_name,
            memory.counts_bytes_per_name / 2.0,
            memory.many_cpus,
            memory
                .total_bytes_many_cpus
                .map_or_else(|| "?".to_owned(), thousands),
            memory
                .bytes_per_name_many_cpus
                .map_or_else(|| "?".to_owned(), |bytes| format!("{bytes:.1}")),
        );
        let mut table = Table::new([
            Column::left("map"),
            Column::left("type"),
            Column::right("max entries"),
            Column::right("memlock bytes"),
            Column::right("per name"),
            Column::right(MANY_CPUS_HEADER),
            Column::right("per name"),
        ]);
        for MapFigures {
            map,
            memlock_bytes_many_cpus: many,
        } in &memory.maps
        {
            let per_name = |bytes: u64| bytes as f64 / f64::from(memory.max_names);
            table.row([
                map.name.clone(),
                map.map_type.clone(),
                thousands(map.max_entries.into()),
                thousands(map.memlock_bytes),
                format!("{:.1}", per_name(map.memlock_bytes)),
                many.map_or_else(|| "?".to_owned(), thousands),
                many.map_or_else(|| "?".to_owned(), |bytes| format!("{:.1}", per_name(bytes))),
            ]);
        }
        out.table(&table);
        let _ = writeln!(out);
    }
    out.table(&targets_table(&header.targets));
    out
}
