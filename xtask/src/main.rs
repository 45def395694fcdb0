//! `cargo xtask`: builds, runs, tests and demonstrates dns-counter, first installing what that
//! needs on a fresh Debian 12 machine (nightly with rust-src, bpf-linker, the lab's packages).

mod bench;
mod bootstrap;
mod command;
mod fuzz;

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

use crate::command::{
    Tally, cargo, cargo_bin_dir, exec, is_root, read, run, run_tests, run_tests_bin,
};

/// Builds, runs and tests dns-counter, first installing what that needs: nightly with rust-src,
/// bpf-linker, and for the lab (test, demo) iproute2, unbound and dnsperf; for the bench also
/// tcpdump and dnstop.
#[derive(Parser)]
#[command(bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build dns-counter and its XDP program (release).
    Build,
    /// Build, then run `dns-counter run ARGS...` (through `sudo -E` when not root).
    Run {
        /// Arguments for `dns-counter run`, e.g. `cargo xtask run -- --iface eth0 --interval 60s`.
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Build, then run the host tests, each fuzz target briefly, and the privileged lab tests
    /// (root, network namespaces).
    Test {
        /// Test name filters for both test runs, e.g. `cargo xtask test -- exact_count`.
        #[arg(last = true)]
        filters: Vec<String>,
    },
    /// Build, then run the lab demo (root, network namespaces).
    Demo {
        /// Arguments for the demo.
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Build, then run the benchmarks (root, network namespaces, tcpdump, dnstop).
    ///
    /// Each part prints its table and writes <target dir>/bench/PART.json and, unless --quick,
    /// its section of BENCHMARKS.md; one table of every target comes last.
    Bench {
        /// A short smoke run: small sizes, noisy figures, BENCHMARKS.md left as it is.
        #[arg(long)]
        quick: bool,
        /// Run only this part (repeatable); all parts when absent.
        #[arg(long = "part", value_enum)]
        parts: Vec<bench::Part>,
    },
    /// Run the cargo-fuzz targets in fuzz/ (nightly, libFuzzer; installs cargo-fuzz).
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_task(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_task(task: Task) -> Result<()> {
    put_cargo_bin_on_path()?;
    bootstrap::nightly_with_rust_src()?;
    bootstrap::bpf_linker()?;
    match task {
        Task::Test { .. } | Task::Demo { .. } => {
            bootstrap::debian_packages(bootstrap::LAB_PACKAGES, "the lab")?
        }
        Task::Bench { .. } => bootstrap::debian_packages(bootstrap::BENCH_PACKAGES, "the bench")?,
        Task::Build | Task::Run { .. } => {}
        Task::Fuzz(args) => return fuzz::run_targets(&args),
    }
    let dns_counter = build()?;
    match task {
        Task::Build => Ok(()),
        Task::Run { args } => run_dns_counter(&dns_counter, &args),
        Task::Test { filters } => test(&dns_counter, &filters),
        Task::Bench { quick, parts } => bench::run_parts(&dns_counter, &parts, quick),
        Task::Demo { args } => run_tests_bin(&dns_counter, "dns-counter-demo", &args),
        Task::Fuzz(_) => unreachable!("fuzzing returned above, before the build"),
    }
}

/// aya-build's nested cargo finds bpf-linker on PATH, and `cargo install` may just have put it in
/// a directory that the caller's PATH lacks (CI shells often do not source ~/.cargo/env).
fn put_cargo_bin_on_path() -> Result<()> {
    let bin_dir = cargo_bin_dir()?;
    let path = env::var_os("PATH").unwrap_or_default();
    if env::split_paths(&path).any(|dir| dir == bin_dir) {
        return Ok(());
    }
    let path = env::join_paths(std::iter::once(bin_dir).chain(env::split_paths(&path)))
        .context("cargo's bin directory cannot go on PATH (does it contain ':'?)")?;
    // SAFETY: xtask has started no threads, so nothing reads the environment concurrently.
    unsafe { env::set_var("PATH", path) };
    Ok(())
}

/// Builds dns-counter (its build.rs builds the XDP program) and returns the binary's absolute path.
fn build() -> Result<PathBuf> {
    println!("xtask: building dns-counter and its XDP program");
    run(cargo().args(["build", "--release", "-p", "dns-counter"]))?;
    let dns_counter = target_dir()?.join("release/dns-counter");
    println!("xtask: built {}", dns_counter.display());
    Ok(dns_counter)
}

/// cargo's own answer, so CARGO_TARGET_DIR and `build.target-dir` are respected.
fn target_dir() -> Result<PathBuf> {
    let metadata = read(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata)
        .context("`cargo metadata` printed something other than JSON")?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` has no target_directory")
}

/// Becomes `dns-counter run ARGS...`; exec keeps its signals and exit code.
fn run_dns_counter(dns_counter: &Path, args: &[OsString]) -> Result<()> {
    // Attaching XDP needs root (CAP_BPF and CAP_NET_ADMIN).
    let mut cmd = if is_root()? {
        Command::new(dns_counter)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("-E").arg(dns_counter);
        sudo
    };
    Err(exec(cmd.arg("run").args(args)))
}

/// The host tests, then the lab tests one at a time (each sets up its own namespaces and peers);
/// both run even when the first fails, and cargo goes on past a failing test binary, so one CI
/// run reports everything.
fn test(dns_counter: &Path, filters: &[String]) -> Result<()> {
    let mut tally = Tally::default();
    println!("xtask: running the host tests");
    let host = run_tests(
        cargo()
            .args([
                "test",
                "--no-fail-fast",
                "--workspace",
                "--exclude",
                "dns-counter-tests",
                "--",
            ])
            .args(filters),
        &mut tally,
    );
    println!("xtask: running each fuzz target for {:?}", fuzz::TEST_TIME);
    let fuzz = fuzz::test_targets(filters, &mut tally);
    println!("xtask: running the lab tests (root, network namespaces, unbound, dnsperf)");
    let lab = run_tests(
        cargo()
            .env("DNS_COUNTER_BIN", dns_counter)
            .args([
                "test",
                "--no-fail-fast",
                "-p",
                "dns-counter-tests",
                "--",
                "--test-threads=1",
            ])
            .args(filters),
        &mut tally,
    );

    let failed: Vec<String> = [("host tests", host), ("fuzz", fuzz), ("lab tests", lab)]
        .into_iter()
        .filter_map(|(name, result)| result.err().map(|err| format!("{name}: {err:#}")))
        .collect();
    // One closing line for every test run above, as CI reads it.
    println!("xtask: {} passed, {} failed", tally.passed, tally.failed);
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}
