//! `dns-counter-bench-summary [--write]` (run last by `cargo xtask bench`): reads every bench
//! part's `<target>/bench/<part>.json` and prints one table of all their targets, each with its
//! figure, verdict and the run it came from, into `<target>/bench/summary.json`. With `--write`
//! (a full run) it also writes that table into BENCHMARKS.md's summary section.

use std::{fmt::Write as _, fs, process::ExitCode};

use anyhow::{Context as _, Result};
use dns_counter_tests::bench::{
    self, Column, Machine, PartHeader, Section, TARGET_COLUMNS, Table, Target,
};
use serde::Serialize;

/// Every part, in the order `cargo xtask bench` runs them.
const PARTS: [&str; 4] = ["kernel-path", "drain", "veth", "peers"];
const PART: &str = "summary";
const JSON_SCHEMA: &str = "dns-counter/bench/summary/v1";
/// Reads every bench part's `<target>/bench/<part>.json` and prints one table of all their
/// targets; `cargo xtask bench` runs it last.
#[derive(clap::Parser)]
#[command(name = "dns-counter-bench-summary")]
struct Args {
    /// Also write the table into BENCHMARKS.md's summary section (a full run does, a `--quick`
    /// one does not)
    #[arg(long)]
    write: bool,
}

fn main() -> ExitCode {
    bench::main(|args: Args| summarize(args.write))
}

/// One part as its JSON left it, or why it is missing.
struct PartResult {
    part: &'static str,
    header: Option<PartHeader>,
    problem: Option<String>,
}

#[derive(Serialize)]
struct Summary {
    schema: &'static str,
    date: String,
    revision: Option<String>,
    machine: Machine,
    quick: bool,
    /// Every part's targets, as `<part>: <target>`.
    targets: Vec<Target>,
    /// Parts with no usable JSON, and why.
    missing: Vec<String>,
}

fn read_part(part: &'static str) -> PartResult {
    let path = bench::json_path(part);
    let header = fs::read_to_string(&path)
        .map_err(|err| format!("no results ({}: {err})", path.display()))
        .and_then(|text| {
            serde_json::from_str::<PartHeader>(&text)
                .map_err(|err| format!("unreadable results ({}: {err})", path.display()))
        });
    match header {
        Ok(header) => PartResult {
            part,
            header: Some(header),
            problem: None,
        },
        Err(problem) => PartResult {
            part,
            header: None,
            problem: Some(problem),
        },
    }
}

fn summarize(write: bool) -> Result<()> {
    let parts: Vec<PartResult> = PARTS.iter().map(|&part| read_part(part)).collect();
    let section = render(&parts);
    let targets: Vec<Target> = parts
        .iter()
        .filter_map(|part| Some((part.part, part.header.as_ref()?)))
        .flat_map(|(part, header)| {
            header.targets.iter().map(move |target| Target {
                what: format!("{part}: {}", target.what),
                ..target.clone()
            })
        })
        .collect();
    let summary = Summary {
        schema: JSON_SCHEMA,
        date: bench::now(),
        revision: bench::revision(),
        machine: Machine::this()?,
        quick: parts
            .iter()
            .any(|part| part.header.as_ref().is_some_and(|h| h.quick)),
        targets,
        missing: parts
            .iter()
            .filter_map(|part| part.problem.clone())
            .collect(),
    };
    // The summary is never a measurement of its own: `--write` only decides whether BENCHMARKS.md
    // gets the table.
    bench::publish(PART, &section, &summary, !write).context("publishing the summary")
}

fn render(parts: &[PartResult]) -> Section {
    let mut out = Section::new();
    let _ = writeln!(out, "### Every target, from the latest run of each part\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench` from `<target dir>/bench/<part>.json`; each part's own \
         section below has the figures behind its targets.\n"
    );
    let mut runs = Table::new([
        Column::left("part"),
        Column::left("latest run"),
        Column::left("source"),
    ]);
    for part in parts {
        runs.row(match &part.header {
            Some(header) => [
                part.part.to_owned(),
                format!(
                    "{}{}",
                    header.date,
                    if header.quick {
                        ", **--quick smoke run**"
                    } else {
                        ""
                    }
                ),
                format!("`{}`", header.revision.as_deref().unwrap_or("unknown")),
            ],
            None => [
                part.part.to_owned(),
                format!(
                    "**not measured**: {}",
                    part.problem.as_deref().unwrap_or("")
                ),
                String::new(),
            ],
        });
    }
    out.table(&runs);
    let _ = writeln!(out);
    let [target, figure, verdict, miss] = TARGET_COLUMNS;
    let mut targets = Table::new([Column::left("part"), target, figure, verdict, miss]);
    let (mut met, mut missed) = (0, 0);
    for (part, header) in parts
        .iter()
        .filter_map(|part| Some((part.part, part.header.as_ref()?)))
    {
        for target in &header.targets {
            if target.met {
                met += 1;
            } else {
                missed += 1;
            }
            let [what, figure, verdict, miss] = target.cells();
            targets.row([part.to_owned(), what, figure, verdict, miss]);
        }
    }
    out.table(&targets);
    let machines: Vec<String> = {
        let mut machines: Vec<String> = parts
            .iter()
            .filter_map(|part| Some(part.header.as_ref()?.machine.describe()))
            .collect();
        machines.dedup();
        machines
    };
    let _ = writeln!(
        out,
        "\n{met} targets met, {missed} missed. Machine: {}.",
        if machines.is_empty() {
            "none measured".to_owned()
        } else {
            machines.join("; ")
        }
    );
    out
}
