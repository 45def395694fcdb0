//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/` (nightly, libFuzzer), each on its own
//! corpus, `fuzz/corpus/TARGET` (kept between runs, not committed), seeded from the files the
//! repository already has; and the short bounded run of every target that `cargo xtask test` makes.

use std::{fs, path::Path, time::Duration};

use anyhow::{Context as _, Result, bail};

use crate::command::{Tally, cargo, read, run, workspace_root};

/// How long `cargo xtask test` runs each target: enough to pass the seeds through every branch
/// the target has, and to catch a change that panics on the first mutations.
pub const TEST_TIME: Duration = Duration::from_secs(20);

/// One fuzz target: its name in `fuzz/Cargo.toml` and where its seeds are.
struct Target {
    name: &'static str,
    /// Directories of seed inputs, from the workspace root; libFuzzer reads them but writes only
    /// to the target's own corpus.
    seeds: &'static [&'static str],
    /// libFuzzer's `-max_len`, where the largest seed is not the right bound.
    max_len: Option<usize>,
}

const TARGETS: &[Target] = &[
    // Frames: a jumbo frame is the most a packet can be; the walk reads only its headers.
    Target {
        name: "walk",
        seeds: &["fuzz/seeds/walk"],
        max_len: Some(1600),
    },
    // Wire names are at most 255 bytes, their presentation form at most 4 times that.
    Target {
        name: "names",
        seeds: &["fuzz/seeds/names"],
        max_len: Some(1100),
    },
    Target {
        name: "capture",
        seeds: &["tests/corpus/tcpdump-dns", "fuzz/seeds/capture"],
        max_len: None,
    },
    // Plus a generated pair of the golden reports (see `seed_corpus`).
    Target {
        name: "report",
        seeds: &["dns-counter-report/tests/data"],
        max_len: None,
    },
];

/// The `report` target reads two reports separated by a NUL byte; the seed it starts from is
/// these two golden files so joined.
const REPORT_PAIR: [&str; 2] = [
    "dns-counter-report/tests/data/report.golden.json",
    "dns-counter-report/tests/data/merged.golden.json",
];

/// `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct Args {
    /// How long to run each target (`60s`, `10m`); without it, one target runs until it finds a
    /// crash or is interrupted.
    #[arg(long, value_parser = humantime::parse_duration)]
    time: Option<Duration>,
    /// The targets to run (walk, names, capture, report); all of them when none is named.
    targets: Vec<String>,
}

/// Runs the targets `args` names, one after the other, each for `args.time`, built with
/// `toolchain` (the pinned nightly the eBPF program builds with: libFuzzer's instrumentation needs
/// `-Z` flags, and one nightly is enough to keep).
pub fn run_targets(args: &Args, toolchain: &str) -> Result<()> {
    let targets = chosen(&args.targets)?;
    if args.time.is_none() && targets.len() > 1 {
        bail!(
            "give --time to run more than one target (or name one target to run it until it fails)"
        );
    }
    cargo_fuzz()?;
    for target in targets {
        fuzz(target, args.time, toolchain)?;
    }
    Ok(())
}

/// `cargo xtask test`'s step: every target whose name a filter matches (all of them without
/// filters, as libtest does) for [`TEST_TIME`], each counted in `tally` as a test that passed or
/// failed. Goes on past a failing target, so one run reports them all.
pub fn test_targets(filters: &[String], toolchain: &str, tally: &mut Tally) -> Result<()> {
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|target| filters.is_empty() || filters.iter().any(|f| target.name.contains(f)))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    cargo_fuzz()?;
    let mut failed = Vec::new();
    for target in targets {
        match fuzz(target, Some(TEST_TIME), toolchain) {
            Ok(()) => tally.passed += 1,
            Err(err) => {
                println!("xtask: {err:#}");
                tally.failed += 1;
                failed.push(target.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets {} failed; each one's output above shows the input and how to run it again",
            failed.join(", ")
        );
    }
    Ok(())
}

fn chosen(names: &[String]) -> Result<Vec<&'static Target>> {
    if names.is_empty() {
        return Ok(TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            TARGETS
                .iter()
                .find(|target| target.name == name)
                .with_context(|| {
                    let known: Vec<&str> = TARGETS.iter().map(|target| target.name).collect();
                    format!(
                        "no fuzz target {name:?}; the targets are {}",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// cargo-fuzz, installed with `cargo install` when missing.
fn cargo_fuzz() -> Result<()> {
    if read(cargo().args(["fuzz", "--version"])).is_ok() {
        println!("xtask: cargo-fuzz ok");
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz (about a minute)");
    run(cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// `cargo +TOOLCHAIN fuzz run TARGET CORPUS SEEDS... -- OPTIONS`, for `time` if given.
fn fuzz(target: &Target, time: Option<Duration>, toolchain: &str) -> Result<()> {
    let root = workspace_root();
    let corpus = seed_corpus(&root, target)?;
    let mut cmd = cargo();
    cmd.args([&format!("+{toolchain}"), "fuzz", "run", target.name])
        .arg(&corpus)
        .args(target.seeds.iter().map(|seeds| root.join(seeds)))
        .arg("--");
    if let Some(time) = time {
        // Whole seconds, at least one: libFuzzer takes no fractions, and 0 means no limit.
        cmd.arg(format!("-max_total_time={}", time.as_secs().max(1)));
    }
    if let Some(max_len) = target.max_len {
        cmd.arg(format!("-max_len={max_len}"));
    }
    run(&mut cmd).with_context(|| format!("fuzz target {} failed", target.name))
}

/// `fuzz/corpus/TARGET`, made if missing, with the seeds that are generated rather than kept.
fn seed_corpus(root: &Path, target: &Target) -> Result<std::path::PathBuf> {
    let corpus = root.join("fuzz/corpus").join(target.name);
    fs::create_dir_all(&corpus)
        .with_context(|| format!("could not create {}", corpus.display()))?;
    if target.name == "report" {
        let mut pair = Vec::new();
        for (i, file) in REPORT_PAIR.iter().enumerate() {
            if i > 0 {
                pair.push(0);
            }
            let path = root.join(file);
            pair.extend(
                fs::read(&path).with_context(|| format!("could not read {}", path.display()))?,
            );
        }
        let seed = corpus.join("golden-pair");
        fs::write(&seed, pair).with_context(|| format!("could not write {}", seed.display()))?;
    }
    Ok(corpus)
}
