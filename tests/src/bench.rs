//! What every part of `cargo xtask bench` shares: its `main` and arguments, the machine and
//! source a figure belongs to, targets judged the same way, loads sized from measured rates, its
//! tables, the JSON file each part writes under `<target>/bench/`, and the part's own section of
//! BENCHMARKS.md between `<!-- PART:begin -->` and `<!-- PART:end -->`. The bench summary
//! (`dns-counter-bench-summary`) reads every part's JSON and prints one table.

use std::{
    fmt, fs,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use crate::prereq::{target_dir, workspace_root};

/// The `main` of every bench binary: its arguments `A` from the command line (clap: `--help`
/// prints the binary's doc, a bad argument exits 2 with the usage), then `run(args)`. A failed
/// run exits 1 with its error.
pub fn main<A: clap::Parser>(run: impl FnOnce(A) -> Result<()>) -> ExitCode {
    match run(A::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments of every part's binary (`cargo xtask bench` passes them), flattened into each
/// binary's own.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct PartArgs {
    /// A smoke run with small sizes: checks the plumbing; writes the part's JSON, never
    /// BENCHMARKS.md (its figures mean nothing)
    #[arg(long)]
    pub quick: bool,
}

/// Where the machine's figures came from; stated next to every table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
}

impl Machine {
    /// Reads the CPU model, CPU count and kernel release. Call before pinning any thread, which
    /// would make the count 1.
    pub fn this() -> Result<Self> {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cpus = crate::prereq::online_cpus();
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .context("reading the kernel release")?;
        Ok(Self {
            cpu,
            cpus,
            kernel: kernel.trim().to_owned(),
        })
    }

    /// `AMD EPYC (2 CPUs), Linux 6.18.44`
    pub fn describe(&self) -> String {
        format!("{} ({} CPUs), Linux {}", self.cpu, self.cpus, self.kernel)
    }
}

/// Which source the figures belong to (`git describe --always --dirty`); a figure without it
/// cannot be compared later. Optional: a tree without git still gets measured.
pub fn revision() -> Option<String> {
    let output = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(workspace_root())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let revision = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !revision.is_empty()).then_some(revision)
}

/// Now as RFC 3339 UTC to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// One of an issue's targets, judged from figures of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// The target as the issue words it, e.g. `dns-counter ≥ 0.9× count-only`.
    pub what: String,
    pub figure: f64,
    pub limit: f64,
    /// `true`: met when `figure ≥ limit`; `false`: met when `figure ≤ limit`.
    pub at_least: bool,
    pub met: bool,
    /// How the figure was computed, with the figures it came from and their units.
    pub detail: String,
    /// For a missed target: why, and what would fix it. Empty when met.
    pub miss: String,
}

impl Target {
    /// Met when `figure ≤ limit`.
    pub fn at_most(
        what: impl Into<String>,
        figure: f64,
        limit: f64,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(what.into(), figure, limit, false, detail.into())
    }

    /// Met when `figure ≥ limit`.
    pub fn at_least(
        what: impl Into<String>,
        figure: f64,
        limit: f64,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(what.into(), figure, limit, true, detail.into())
    }

    fn new(what: String, figure: f64, limit: f64, at_least: bool, detail: String) -> Self {
        let met = if at_least {
            figure >= limit
        } else {
            figure <= limit
        };
        Self {
            what,
            figure,
            limit,
            at_least,
            met,
            detail,
            miss: String::new(),
        }
    }

    /// Says why a missed target was missed and what would fix it; ignored when met.
    pub fn if_missed(mut self, why: impl Into<String>) -> Self {
        if !self.met {
            self.miss = why.into();
        }
        self
    }

    pub fn verdict(&self) -> &'static str {
        if self.met { "met" } else { "**missed**" }
    }
}

/// The columns of a targets table: target, figure (with its detail), verdict, why a miss.
pub const TARGET_COLUMNS: [Column; 4] = [
    Column::left("target"),
    Column::left("figure"),
    Column::left(""),
    Column::left("why missed, what would fix it"),
];

impl Target {
    /// Its row of a targets table ([`TARGET_COLUMNS`]).
    pub fn cells(&self) -> [String; 4] {
        [
            self.what.clone(),
            format!("{} ({})", figure(self.figure), self.detail),
            self.verdict().to_owned(),
            self.miss.clone(),
        ]
    }
}

/// A table of targets, one a row.
pub fn targets_table(targets: &[Target]) -> Table<4> {
    let mut table = Table::new(TARGET_COLUMNS);
    for target in targets {
        table.row(target.cells());
    }
    table
}

/// How a column's cells line up: text to the left, figures to the right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table's column: its header and how its cells line up.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub header: &'static str,
    pub align: Align,
}

impl Column {
    pub const fn left(header: &'static str) -> Self {
        Self {
            header,
            align: Align::Left,
        }
    }

    pub const fn right(header: &'static str) -> Self {
        Self {
            header,
            align: Align::Right,
        }
    }
}

/// The widest a cell is in the terminal before it wraps onto more lines.
const TERMINAL_CELL_WIDTH: usize = 40;

/// A table of `N` columns, row by row, as Markdown (BENCHMARKS.md) or lined up as plain text (the
/// terminal). Cells are Markdown (`**bold**`, `` `code` ``); the terminal shows them without the
/// bold marks.
#[derive(Clone, Debug)]
pub struct Table<const N: usize> {
    columns: [Column; N],
    rows: Vec<[String; N]>,
}

impl<const N: usize> Table<N> {
    pub fn new(columns: [Column; N]) -> Self {
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: [String; N]) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// `| a | b |`, the alignment row (`---`, `---:`), one line a row.
    pub fn markdown(&self) -> String {
        let line = |cells: [&str; N]| {
            let mut line = String::from("|");
            for cell in cells {
                let cell = cell.replace('|', "\\|").replace('\n', " ");
                if cell.is_empty() {
                    line.push_str(" |");
                } else {
                    line.push_str(&format!(" {cell} |"));
                }
            }
            line + "\n"
        };
        let mut out = line(self.columns.map(|column| column.header));
        out.push('|');
        for column in &self.columns {
            out.push_str(match column.align {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
        out
    }

    /// Columns padded to line up, two spaces apart, a dashed line under the headers; a cell
    /// wider than [`TERMINAL_CELL_WIDTH`] wraps, and then a blank line parts the rows.
    pub fn terminal(&self) -> String {
        let plain = |cell: &str| cell.replace("**", "");
        let headers = self.columns.map(|column| plain(column.header));
        let wrapped: Vec<[Vec<String>; N]> = self
            .rows
            .iter()
            .map(|row| row.each_ref().map(|cell| wrap(&plain(cell))))
            .collect();
        let mut widths = headers.each_ref().map(|header| header.chars().count());
        for row in &wrapped {
            for (width, lines) in widths.iter_mut().zip(row) {
                for line in lines {
                    *width = (*width).max(line.chars().count());
                }
            }
        }
        let line = |cells: [&str; N]| {
            let mut line = String::new();
            for ((cell, width), column) in cells.iter().zip(widths).zip(&self.columns) {
                let pad = " ".repeat(width - cell.chars().count());
                match column.align {
                    Align::Left => line.push_str(&format!("{cell}{pad}  ")),
                    Align::Right => line.push_str(&format!("{pad}{cell}  ")),
                }
            }
            line.trim_end().to_owned() + "\n"
        };
        let mut out = line(headers.each_ref().map(String::as_str));
        let rules = widths.map(|width| "-".repeat(width));
        out.push_str(&line(rules.each_ref().map(String::as_str)));
        let parted = wrapped
            .iter()
            .any(|row| row.iter().any(|lines| lines.len() > 1));
        for (index, row) in wrapped.iter().enumerate() {
            if parted && index > 0 {
                out.push('\n');
            }
            let height = row.iter().map(Vec::len).max().unwrap_or(1);
            for at in 0..height {
                out.push_str(&line(
                    row.each_ref()
                        .map(|lines| lines.get(at).map_or("", String::as_str)),
                ));
            }
        }
        out
    }
}

/// `text` in lines of at most [`TERMINAL_CELL_WIDTH`] characters, broken between words (a longer
/// word gets a line of its own); at least one line.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("never empty");
        if last.is_empty() {
            last.push_str(word);
        } else if last.chars().count() + 1 + word.chars().count() <= TERMINAL_CELL_WIDTH {
            last.push(' ');
            last.push_str(word);
        } else {
            lines.push(word.to_owned());
        }
    }
    lines
}

/// A part's output: Markdown prose, written with `write!`, and [`Table`]s. Its Markdown goes into
/// BENCHMARKS.md; the terminal gets the same prose with the tables lined up.
#[derive(Clone, Debug, Default)]
pub struct Section {
    blocks: Vec<Block>,
}

#[derive(Clone, Debug)]
enum Block {
    Text(String),
    Table { markdown: String, terminal: String },
}

impl Section {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn table<const N: usize>(&mut self, table: &Table<N>) -> &mut Self {
        self.blocks.push(Block::Table {
            markdown: table.markdown(),
            terminal: table.terminal(),
        });
        self
    }

    pub fn markdown(&self) -> String {
        self.render(|markdown, _| markdown)
    }

    pub fn terminal(&self) -> String {
        self.render(|_, terminal| terminal)
    }

    fn render(&self, pick: impl for<'a> Fn(&'a str, &'a str) -> &'a str) -> String {
        self.blocks
            .iter()
            .map(|block| match block {
                Block::Text(text) => text.as_str(),
                Block::Table { markdown, terminal } => pick(markdown, terminal),
            })
            .collect()
    }
}

impl fmt::Write for Section {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        match self.blocks.last_mut() {
            Some(Block::Text(last)) => last.push_str(text),
            _ => self.blocks.push(Block::Text(text.to_owned())),
        }
        Ok(())
    }
}

/// A figure with as many decimals as it needs to read well: 0.93, 12.4, 1,234.
pub fn figure(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        thousands(value.round() as u64)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// `1000000` as `1,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.is_empty() {
        f64::NAN
    } else if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// How far a load may stray from the rate it was sized by: a 2-core machine shared with other
/// work runs the same load several times faster or slower from one minute to the next.
pub const RATE_HEADROOM: f64 = 4.0;
/// What every time bound gets on top of its headroom: a thread starting, a slow first batch.
pub const TIME_SLACK: Duration = Duration::from_secs(10);

/// The count bound of a load meant to end at its time limit (dnsperf's runs through its
/// datafile, a timed send): what `per_second` (measured on this machine) does in `duration`,
/// [`RATE_HEADROOM`] times over, at least 1. The load's time limit, not this, ends it.
pub fn count_bound(per_second: f64, duration: Duration) -> Result<u64> {
    check_rate(per_second)?;
    // A float-to-integer cast saturates: an absurd rate gives u64::MAX, still a bound.
    Ok(((per_second * duration.as_secs_f64() * RATE_HEADROOM).ceil() as u64).max(1))
}

/// The time bound of a load meant to end at its count (every frame of a workload sent): how
/// long `count` takes at `per_second` (measured on this machine), [`RATE_HEADROOM`] times over,
/// plus [`TIME_SLACK`]. The count, not this, ends it.
pub fn time_bound(count: u64, per_second: f64) -> Result<Duration> {
    check_rate(per_second)?;
    let expected = count as f64 / per_second;
    Duration::try_from_secs_f64(expected * RATE_HEADROOM)
        .map(|time| time + TIME_SLACK)
        .with_context(|| format!("{count} at {per_second} per second takes too long to bound"))
}

fn check_rate(per_second: f64) -> Result<()> {
    ensure!(
        per_second.is_finite() && per_second > 0.0,
        "a measured rate of {per_second} per second cannot size a load"
    );
    Ok(())
}

/// Pins the calling thread to `cpu`, so per-CPU maps and caches stay put between runs.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in range for cpu < 1024.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot pin a thread to CPU {cpu}"));
    }
    Ok(())
}

/// `<target dir>/bench/<part>.json`, where part `part` writes its results.
pub fn json_path(part: &str) -> PathBuf {
    target_dir().join("bench").join(format!("{part}.json"))
}

/// Writes `results` as pretty JSON to `path`, creating its directory.
pub fn write_json(path: &Path, results: &impl Serialize) -> Result<()> {
    let dir = path.parent().context("the JSON path has no directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(results).context("encoding the results")?;
    fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
}

/// What every part's JSON holds at the top, so the summary can read any of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartHeader {
    /// `dns-counter/bench/<part>/v1`
    pub schema: String,
    pub date: String,
    pub revision: Option<String>,
    pub machine: Machine,
    pub quick: bool,
    pub targets: Vec<Target>,
}

impl PartHeader {
    /// A header for a run made now from this tree, its targets still to judge.
    pub fn new(schema: &str, machine: Machine, quick: bool) -> Self {
        Self {
            schema: schema.to_owned(),
            date: now(),
            revision: revision(),
            machine,
            quick,
            targets: Vec::new(),
        }
    }

    /// What every part's section says first: `<date>, source `<revision>`, <machine>`, and
    /// whether it was a smoke run.
    pub fn provenance(&self) -> String {
        format!(
            "{}, source `{}`, {}{}",
            self.date,
            self.revision.as_deref().unwrap_or("unknown"),
            self.machine.describe(),
            if self.quick {
                ", **--quick smoke run**"
            } else {
                ""
            }
        )
    }
}

/// Where part `part`'s section and its JSON come from, as the section says it.
pub fn written_by(part: &str) -> String {
    format!("Written by `cargo xtask bench`, with the JSON in `<target dir>/bench/{part}.json`.")
}

/// Replaces part `part`'s section of BENCHMARKS.md (appending the markers if missing).
pub fn replace_section(part: &str, section: &str) -> Result<()> {
    let path = workspace_root().join("BENCHMARKS.md");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let updated = with_section(&text, part, section)
        .with_context(|| format!("updating {}", path.display()))?;
    fs::write(&path, updated).with_context(|| format!("writing {}", path.display()))
}

/// `text` with `section` between part `part`'s markers, which are appended if `text` has none.
pub fn with_section(text: &str, part: &str, section: &str) -> Result<String> {
    let begin_marker = format!("<!-- {part}:begin -->");
    let end_marker = format!("<!-- {part}:end -->");
    let block = format!("{begin_marker}\n{section}{end_marker}");
    match (text.find(&begin_marker), text.find(&end_marker)) {
        (Some(begin), Some(end)) if begin < end => Ok(format!(
            "{}{block}{}",
            &text[..begin],
            &text[end + end_marker.len()..]
        )),
        (None, None) => Ok(format!("{}\n\n{block}\n", text.trim_end())),
        _ => bail!("a broken {begin_marker} … {end_marker} pair; fix it by hand"),
    }
}

/// Finishes a part: prints `section` for the terminal, writes `results` to its JSON and, unless
/// `quick`, the section's Markdown into BENCHMARKS.md (a smoke run is not a measurement).
pub fn publish(part: &str, section: &Section, results: &impl Serialize, quick: bool) -> Result<()> {
    println!("{}", section.terminal());
    let path = json_path(part);
    write_json(&path, results)?;
    println!("wrote {}", path.display());
    if quick {
        println!("--quick: BENCHMARKS.md left as it is (a smoke run is not a measurement)");
    } else {
        replace_section(part, &section.markdown())?;
        println!("updated BENCHMARKS.md ({part} section)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_bound_feeds_a_machine_faster_than_the_old_fixed_datafile() {
        // The veth part's old datafile: 250,000 lines per second of dnsperf's run, sent once.
        // A machine that sends 300,000 queries a second used it up before the time limit.
        let (rate, run) = (300_000.0, Duration::from_secs(10));
        let old_fixed = 250_000 * run.as_secs();
        let bound = count_bound(rate, run).unwrap();
        assert!(bound > old_fixed, "{bound} queries");
        assert!(bound as f64 >= rate * run.as_secs_f64() * RATE_HEADROOM);
        assert_eq!(count_bound(1e-9, Duration::from_millis(1)).unwrap(), 1);
    }

    #[test]
    fn time_bound_outlasts_a_sender_slower_than_the_old_fixed_limit() {
        // The peers part's old bound for an unpaced send: 10 s × 10 + 30 s, whatever the count.
        // A sender of 5,000 frames a second needs 250 s for the seeds' 1.25 M frames.
        let (count, rate) = (1_250_000, 5_000.0);
        let old_fixed = Duration::from_secs(130);
        let bound = time_bound(count, rate).unwrap();
        assert!(bound > old_fixed, "{bound:?}");
        assert!(bound >= Duration::from_secs_f64(count as f64 / rate * RATE_HEADROOM));
        assert_eq!(time_bound(0, 1.0).unwrap(), TIME_SLACK);
    }

    #[test]
    fn a_rate_that_was_not_measured_sizes_nothing() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(count_bound(rate, Duration::from_secs(1)).is_err(), "{rate}");
            assert!(time_bound(1, rate).is_err(), "{rate}");
        }
        assert!(time_bound(u64::MAX, 1e-300).is_err());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[30.0, 10.0, 20.0]), 20.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn targets_judge_both_directions() {
        assert!(Target::at_most("x", 0.3, 0.35, "").met);
        assert!(!Target::at_most("x", 0.4, 0.35, "").met);
        assert!(Target::at_least("x", 0.95, 0.9, "").met);
        assert!(!Target::at_least("x", 0.85, 0.9, "").met);
        assert_eq!(
            Target::at_least("x", 1.0, 0.9, "").if_missed("slow").miss,
            ""
        );
        assert_eq!(
            Target::at_least("x", 0.5, 0.9, "").if_missed("slow").miss,
            "slow"
        );
    }

    fn sample_table() -> Table<3> {
        let mut table = Table::new([
            Column::left("packet"),
            Column::right("**ns**"),
            Column::left("note"),
        ]);
        table
            .row(["typical".to_owned(), "59.0".to_owned(), String::new()])
            .row(["a | b".to_owned(), "**1,234**".to_owned(), "x".to_owned()]);
        table
    }

    #[test]
    fn tables_render_as_markdown_with_alignment_and_escaped_pipes() {
        assert_eq!(
            sample_table().markdown(),
            "| packet | **ns** | note |\n|---|---:|---|\n| typical | 59.0 | |\n| a \\| b | **1,234** | x |\n"
        );
    }

    #[test]
    fn tables_line_up_in_the_terminal() {
        assert_eq!(
            sample_table().terminal(),
            "packet      ns  note\n\
             -------  -----  ----\n\
             typical   59.0\n\
             a | b    1,234  x\n"
        );
    }

    #[test]
    fn long_cells_wrap_in_the_terminal_and_part_the_rows() {
        let long = "word ".repeat(20);
        let mut table = Table::new([Column::left("a"), Column::left("b")]);
        table
            .row(["1".to_owned(), long.clone()])
            .row(["2".to_owned(), "short".to_owned()]);
        let text = table.terminal();
        assert!(
            text.lines()
                .all(|line| line.chars().count() <= 3 + TERMINAL_CELL_WIDTH)
        );
        assert_eq!(text.matches("word").count(), 20);
        assert!(text.contains("\n\n2  short\n"), "{text}");
        assert_eq!(wrap(""), vec![String::new()]);
        let unbroken = "x".repeat(TERMINAL_CELL_WIDTH + 5);
        assert_eq!(
            wrap(&format!("a {unbroken}")),
            vec!["a".to_owned(), unbroken]
        );
    }

    #[test]
    fn a_section_keeps_prose_and_renders_tables_either_way() {
        use std::fmt::Write as _;
        let mut section = Section::new();
        let _ = writeln!(section, "intro\n");
        section.table(&sample_table());
        let _ = write!(section, "\nend");
        let _ = writeln!(section, " of it");
        let markdown = section.markdown();
        assert!(markdown.starts_with("intro\n\n| packet | **ns** | note |\n"));
        assert!(markdown.ends_with("| x |\n\nend of it\n"));
        let terminal = section.terminal();
        assert!(terminal.starts_with("intro\n\npacket "));
        assert!(terminal.ends_with("1,234  x\n\nend of it\n"));
    }

    #[test]
    fn section_is_replaced_in_place_and_the_rest_kept() {
        let text = "# B\nintro\n<!-- p:begin -->\nold\n<!-- p:end -->\ntail\n";
        let updated = with_section(text, "p", "new\n").unwrap();
        assert_eq!(
            updated,
            "# B\nintro\n<!-- p:begin -->\nnew\n<!-- p:end -->\ntail\n"
        );
        assert_eq!(
            with_section(&updated, "p", "new\n").unwrap(),
            updated,
            "idempotent"
        );
        // Another part's markers are left alone.
        let two = with_section(&updated, "q", "q\n").unwrap();
        assert!(two.contains("<!-- p:begin -->\nnew\n<!-- p:end -->"));
        assert!(two.ends_with("<!-- q:begin -->\nq\n<!-- q:end -->\n"));
    }

    #[test]
    fn section_is_appended_when_missing_and_a_broken_pair_is_an_error() {
        let appended = with_section("# B\n", "p", "x\n").unwrap();
        assert_eq!(appended, "# B\n\n<!-- p:begin -->\nx\n<!-- p:end -->\n");
        assert!(with_section("<!-- p:end -->\n<!-- p:begin -->\n", "p", "x\n").is_err());
        assert!(with_section("<!-- p:begin -->\n", "p", "x\n").is_err());
    }
}
