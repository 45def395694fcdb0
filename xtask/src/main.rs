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
    let nightly = bootstrap::pinned_nightly()?;
    bootstrap::bpf_linker(nightly)?;
    match task {
        Task::Test { .. } | Task::Demo { .. } => {
            bootstrap::debian_packages(bootstrap::LAB_PACKAGES, "the lab")?
        }
        Task::Bench { .. } => bootstrap::debian_packages(bootstrap::BENCH_PACKAGES, "the bench")?,
        Task::Build | Task::Run { .. } => {}
        Task::Fuzz(args) => return fuzz::run_targets(&args, nightly),
    }
    let dns_counter = build()?;
    match task {
        Task::Build => Ok(()),
        Task::Run { args } => run_dns_counter(&dns_counter, &args),
        Task::Test { filters } => test(&dns_counter, nightly, &filters),
        Task::Bench { quick, parts } => bench::run_parts(&dns_counter, &parts, quick),
        Task::Demo { args } => run_tests_bin(&dns_counter, "dns-counter-demo", &args),
        Task::Fuzz(_) => unreachable!("fuzzing returned above, before the build"),
    }
}

/// The nested cargo of dns-counter/build.rs finds bpf-linker on PATH, and `cargo install` may just
/// have put it in a directory that the caller's PATH lacks (CI shells often do not source
/// ~/.cargo/env).
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
    workspace_metadata()?["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` has no target_directory")
}

/// `cargo metadata` of the workspace's own packages.
fn workspace_metadata() -> Result<serde_json::Value> {
    let metadata = read(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    serde_json::from_str(&metadata).context("`cargo metadata` printed something other than JSON")
}

/// Becomes `dns-counter run ARGS...`; exec keeps its signals and exit code.
fn run_dns_counter(dns_counter: &Path, args: &[OsString]) -> Result<()> {
    // Attaching XDP needs root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN).
    let mut cmd = if is_root()? {
        Command::new(dns_counter)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("-E").arg(dns_counter);
        sudo
    };
    Err(exec(cmd.arg("run").args(args)))
}

/// Clippy on the XDP program as built, for the BPF target with the pinned `nightly`: the host
/// workspace's clippy sees only the eBPF crate's empty host stub, and dns-counter/build.rs shows
/// the program's compiler warnings only when its build fails.
fn lint_ebpf(nightly: &str) -> Result<()> {
    println!("xtask: linting the XDP program for bpfel-unknown-none");
    run(cargo()
        .arg(format!("+{nightly}"))
        .args(["clippy", "-p", "dns-counter-ebpf"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .args(["--", "-D", "warnings"]))
}

/// [`lint_ebpf`], the host tests, then the lab tests one at a time (each sets up its own namespaces
/// and peers); each runs even when one before it fails, and cargo goes on past a failing test
/// binary, so one CI run reports everything.
fn test(dns_counter: &Path, nightly: &str, filters: &[String]) -> Result<()> {
    let mut tally = Tally::default();
    let ebpf_lint = lint_ebpf(nightly);
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
    let fuzz = fuzz::test_targets(filters, nightly, &mut tally);
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

    let failed: Vec<String> = [
        ("eBPF clippy", ebpf_lint),
        ("host tests", host),
        ("fuzz", fuzz),
        ("lab tests", lab),
    ]
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Each binary name that more than one target of `cargo metadata` uses, with the packages
    /// that use it: cargo would put them all at the same `target/<profile>/<name>`.
    fn shared_binary_names(metadata: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
        let mut packages_by_bin: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for package in metadata["packages"].as_array().into_iter().flatten() {
            for target in package["targets"].as_array().into_iter().flatten() {
                let is_bin = target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"));
                if let (true, Some(name)) = (is_bin, target["name"].as_str()) {
                    packages_by_bin
                        .entry(name.to_owned())
                        .or_default()
                        .push(package["name"].as_str().unwrap_or("?").to_owned());
                }
            }
        }
        packages_by_bin.retain(|_, packages| packages.len() > 1);
        packages_by_bin
    }

    /// The eBPF crate's binary was once also called `dns-counter`, so `cargo build --workspace`
    /// warned of an output filename collision and target/release/dns-counter could be its stub.
    #[test]
    fn workspace_binaries_have_distinct_names() {
        let metadata = workspace_metadata().expect("cargo metadata");
        assert_eq!(shared_binary_names(&metadata), BTreeMap::new());
    }

    /// dns-counter/build.rs once passed the nested eBPF build's ~48 lines of output on as
    /// `cargo:warning`s, and cargo shows those again on every build, even one with nothing to do.
    /// The release build is the one `cargo xtask` makes, so under `cargo xtask test` this is quick.
    #[test]
    fn fresh_build_prints_no_ebpf_build_output() {
        for _ in 0..2 {
            let output = cargo()
                .args(["build", "--release", "-p", "dns-counter"])
                .output()
                .expect("cargo build");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "cargo build failed:\n{stderr}");
            let warnings: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("warning: dns-counter@"))
                .collect();
            assert!(warnings.is_empty(), "{}", warnings.join("\n"));
        }
    }

    #[test]
    fn shared_binary_names_finds_a_collision() {
        let metadata = serde_json::json!({"packages": [
            {"name": "dns-counter", "targets": [
                {"name": "dns_counter", "kind": ["lib"]},
                {"name": "dns-counter", "kind": ["bin"]},
            ]},
            {"name": "dns-counter-ebpf", "targets": [{"name": "dns-counter", "kind": ["bin"]}]},
            {"name": "xtask", "targets": [{"name": "xtask", "kind": ["bin"]}]},
        ]});
        assert_eq!(
            shared_binary_names(&metadata),
            BTreeMap::from([(
                "dns-counter".to_owned(),
                vec!["dns-counter".to_owned(), "dns-counter-ebpf".to_owned()]
            )])
        );
    }
}
