//! Running other programs: every command is echoed before it runs, and every failure names the
//! command and says what to do.

use std::{
    env,
    ffi::{OsStr, OsString},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// Runs `cmd` with the terminal as its stdio, so its output streams; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    println!("xtask: $ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`; is it installed and on PATH?"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status}); its output above says why");
    }
    Ok(())
}

/// Passed and failed test counts, summed from libtest's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
}

impl Tally {
    /// Adds the counts of one `test result: ok. 3 passed; 0 failed; ...` line, if it is one.
    fn add_line(&mut self, line: &str) {
        let Some(summary) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in summary.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                _ => {}
            }
        }
    }
}

/// Runs a `cargo test` command, echoing its output, and counts its tests.
pub fn run_tests(cmd: &mut Command, tally: &mut Tally) -> Result<()> {
    let shown = display(cmd);
    println!("xtask: $ {shown}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{shown}`; is it installed and on PATH?"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line.context("reading test output")?;
        println!("{line}");
        tally.add_line(&line);
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status}); its output above says why");
    }
    Ok(())
}

/// Replaces xtask with `cmd`, so signals and the exit code are `cmd`'s own; returns only on failure.
pub fn exec(cmd: &mut Command) -> anyhow::Error {
    let shown = display(cmd);
    println!("xtask: $ {shown}");
    let err = cmd.exec();
    anyhow::Error::new(err).context(format!("could not start `{shown}`"))
}

/// Runs `cmd` quietly and returns its stdout: for the checks that decide what to install.
pub fn read(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{shown}`; is it installed and on PATH?"))?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("`{shown}` printed invalid UTF-8"))
}

/// `cargo` (rustup's proxy, which keeps the toolchain xtask itself runs with), in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root());
    cmd
}

/// `cargo run --release` of a binary of the tests crate (the demo, a bench part), pointed at the
/// daemon just built.
pub fn run_tests_bin(dns_counter: &Path, bin: &str, args: &[OsString]) -> Result<()> {
    run(cargo()
        .env("DNS_COUNTER_BIN", dns_counter)
        .args([
            "run",
            "--release",
            "-p",
            "dns-counter-tests",
            "--bin",
            bin,
            "--",
        ])
        .args(args))
}

pub fn workspace_root() -> PathBuf {
    let xtask_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().map_or(xtask_dir.clone(), PathBuf::from)
}

/// Where `cargo install` puts binaries, looked up in the order cargo itself uses.
pub fn cargo_bin_dir() -> Result<PathBuf> {
    let root = match non_empty_var("CARGO_INSTALL_ROOT").or_else(|| non_empty_var("CARGO_HOME")) {
        Some(root) => root,
        None => home_dir()?.join(".cargo"),
    };
    Ok(root.join("bin"))
}

pub fn home_dir() -> Result<PathBuf> {
    non_empty_var("HOME").context("HOME is not set; set it to your home directory and try again")
}

pub fn non_empty_var(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

pub fn is_root() -> Result<bool> {
    Ok(read(Command::new("id").arg("-u"))?.trim() == "0")
}

/// `NAME=value program arg...`, close enough to shell syntax to copy and paste.
fn display(cmd: &Command) -> String {
    let envs = cmd.get_envs().filter_map(|(name, value)| {
        value.map(|value| format!("{}={}", name.display(), quote(value)))
    });
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote);
    envs.chain(words).collect::<Vec<_>>().join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    if word.is_empty() || word.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
        format!("'{}'", word.replace('\'', r"'\''"))
    } else {
        word.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn tally_sums_libtest_summaries_and_ignores_other_lines() {
        let mut tally = Tally::default();
        tally.add_line("test result: ok. 58 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.57s");
        tally.add_line(
            "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        tally.add_line("test something ... ok");
        assert_eq!(
            tally,
            Tally {
                passed: 60,
                failed: 1
            }
        );
    }
}
