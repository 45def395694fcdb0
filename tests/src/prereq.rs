//! What a privileged test needs before it can run, and the skip-or-fail policy when it is missing.

use std::env;
use std::path::{Path, PathBuf};

/// Programs the lab runs, looked up on PATH (plus the sbin directories a non-login root shell may
/// lack).
const REQUIRED_PROGRAMS: [&str; 3] = ["ip", "unbound", "dnsperf"];
const EXTRA_SEARCH_DIRS: [&str; 4] = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin"];

/// Everything a full test needs: the lab prerequisites plus the daemon under test.
#[derive(Debug, Clone)]
pub struct Privileges {
    /// The `dns-counter` binary to run.
    pub dns_counter: PathBuf,
}

/// Checks root, `ip`, `unbound`, `dnsperf` and the `dns-counter` binary. Outside CI a missing piece
/// prints `skipping: <reason>` and returns `None` (the test returns early); under CI (`CI=true`)
/// it panics, because a skipped test there would hide a broken machine.
pub fn require_privileges() -> Option<Privileges> {
    skip_unless(check_privileges())
}

/// tcpdump's DNS captures: `DNS_COUNTER_CORPUS`, else the copy in `tests/corpus/tcpdump-dns`.
/// Missing, the test skips, except under CI.
pub fn require_corpus() -> Option<PathBuf> {
    let dir = env::var_os("DNS_COUNTER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("tests/corpus/tcpdump-dns"));
    let found = if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "no tcpdump corpus at {} (set DNS_COUNTER_CORPUS)",
            dir.display()
        ))
    };
    skip_unless(found)
}

/// libfaketime (Debian `faketime`, which `cargo xtask test` installs), preloaded to give one
/// process a wall clock the test steps.
pub fn require_faketime() -> Option<PathBuf> {
    const LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
    let library = PathBuf::from(LIBRARY);
    skip_unless(if library.is_file() {
        Ok(library)
    } else {
        Err(format!(
            "no libfaketime at {LIBRARY} (apt-get install faketime)"
        ))
    })
}

/// Where the program `name` (from the Debian package `package`) is installed; missing, the test
/// skips, except under CI.
pub fn require_program(name: &str, package: &str) -> Option<PathBuf> {
    skip_unless(
        find_program(name)
            .ok_or_else(|| format!("`{name}` is not installed (apt-get install {package})")),
    )
}

/// Root alone, for tests that load the XDP program themselves and run it with BPF_PROG_TEST_RUN.
pub fn require_root() -> Option<()> {
    skip_unless(check_root())
}

/// The CPUs this process may run on (1 if that cannot be read).
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Root and at least `cpus` online CPUs, for tests that run the program on several CPUs at once.
pub fn require_root_and_cpus(cpus: usize) -> Option<()> {
    let online = online_cpus();
    skip_unless(check_root().and_then(|()| {
        if online >= cpus {
            Ok(())
        } else {
            Err(format!("needs {cpus} CPUs, this machine has {online}"))
        }
    }))
}

/// Like [`require_privileges`], for tests of the lab itself that do not run the daemon.
pub fn require_lab_tools() -> Option<()> {
    skip_unless(check_lab_tools())
}

/// The checks behind [`require_privileges`], as a `Result` for callers that are not tests.
pub fn check_privileges() -> Result<Privileges, String> {
    check_lab_tools()?;
    Ok(Privileges {
        dns_counter: find_dns_counter()?,
    })
}

fn check_root() -> Result<(), String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespaces, veth, XDP)".to_owned());
    }
    Ok(())
}

fn check_lab_tools() -> Result<(), String> {
    check_root()?;
    for program in REQUIRED_PROGRAMS {
        if find_program(program).is_none() {
            return Err(format!(
                "`{program}` is not installed (apt-get install iproute2 unbound dnsperf)"
            ));
        }
    }
    Ok(())
}

/// `DNS_COUNTER_BIN` (set by `cargo xtask test`), else the workspace's release build.
fn find_dns_counter() -> Result<PathBuf, String> {
    if let Some(path) = env::var_os("DNS_COUNTER_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("DNS_COUNTER_BIN={} does not exist", path.display()))
        };
    }
    let fallback = target_dir().join("release").join("dns-counter");
    if fallback.is_file() {
        Ok(fallback)
    } else {
        Err(format!(
            "no dns-counter binary: set DNS_COUNTER_BIN or build {} (cargo build --release -p dns-counter)",
            fallback.display()
        ))
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set (a relative one is taken from the
/// workspace root, where `cargo xtask` runs), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Where `name` is installed, or the bare name (for a PATH lookup at spawn time) if not found.
pub fn program_path(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| PathBuf::from(name))
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path_dirs = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_SEARCH_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn in_ci() -> bool {
    env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

fn skip_unless<T>(check: Result<T, String>) -> Option<T> {
    match check {
        Ok(value) => Some(value),
        Err(reason) if in_ci() => panic!("CI=true, so this privileged test may not skip: {reason}"),
        Err(reason) => {
            eprintln!("skipping: {reason}");
            None
        }
    }
}
