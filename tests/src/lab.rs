//! The lab: a client namespace and a resolver namespace joined by a veth pair, with unbound
//! answering in the resolver namespace. Everything is torn down on drop, also during a panic.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::dnsperf::Dnsperf;
use crate::prereq::program_path;
use crate::process::{ChildGuard, run_checked};

pub const RESOLVER_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 53, 1));
pub const CLIENT_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 53, 2));
pub const RESOLVER_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, 1));
pub const CLIENT_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, 2));
const PREFIX_V4: u8 = 24;
const PREFIX_V6: u8 = 64;

/// Interface names only exist inside the lab's own namespaces, so fixed names cannot collide
/// with another lab or with the host.
pub const RESOLVER_IFACE: &str = "vres";
pub const CLIENT_IFACE: &str = "vcli";

/// Bound on each `ip` invocation.
const IP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long unbound may take from spawn to answering over both address families.
const UNBOUND_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Makes namespace names unique within this process; the pid makes them unique across processes.
static NEXT_LAB_ID: AtomicU32 = AtomicU32::new(0);

/// A named network namespace, deleted on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn create(name: String) -> anyhow::Result<Self> {
        ip(&["netns", "add", &name])?;
        Ok(Self { name })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(err) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: deleting network namespace {}: {err:#}", self.name);
        }
    }
}

/// Two namespaces, a veth pair and a running unbound. Fields drop in declaration order: unbound
/// is stopped before its namespace is deleted.
pub struct Lab {
    unbound: ChildGuard,
    work_dir: TempDir,
    client: NetNs,
    resolver: NetNs,
}

impl Lab {
    /// Builds the namespaces and the link, starts unbound and returns once it answers over IPv4
    /// and IPv6.
    pub fn new() -> anyhow::Result<Self> {
        let lab_id = NEXT_LAB_ID.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("dnsc-{}-{lab_id}", std::process::id());
        // Locals drop in reverse order, so a failure below still removes what was made so far.
        let resolver = NetNs::create(format!("{prefix}-res"))?;
        let client = NetNs::create(format!("{prefix}-cli"))?;
        connect(&resolver, &client)?;

        let work_dir = tempfile::Builder::new()
            .prefix("dns-counter-lab-")
            .tempdir()?;
        let unbound = start_unbound(&resolver, work_dir.path())?;
        let mut lab = Self {
            unbound,
            work_dir,
            client,
            resolver,
        };
        lab.wait_until_answering()?;
        Ok(lab)
    }

    pub fn resolver_ns(&self) -> &str {
        &self.resolver.name
    }

    pub fn client_ns(&self) -> &str {
        &self.client.name
    }

    /// The interface the counter attaches to: the resolver's end of the veth pair.
    pub fn resolver_iface(&self) -> &'static str {
        RESOLVER_IFACE
    }

    pub fn unbound_pid(&self) -> u32 {
        self.unbound.id()
    }

    /// A directory that lives as long as the lab (config, logs, datafiles).
    pub fn work_dir(&self) -> &Path {
        self.work_dir.path()
    }

    /// `ip netns exec <namespace> <program>`, ready for arguments.
    pub fn netns_command(namespace: &str, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program_path("ip"));
        command.args(["netns", "exec", namespace]).arg(program);
        command
    }

    /// Sends one query per address family until both are answered (unbound needs a moment to
    /// bind), failing if unbound exits or the deadline passes.
    fn wait_until_answering(&mut self) -> anyhow::Result<()> {
        let probe = self.work_dir().join("probe.queries");
        fs::write(&probe, "probe.lab.test A\n")?;
        let deadline = Instant::now() + UNBOUND_READY_TIMEOUT;
        let mut pending = vec![RESOLVER_V4, RESOLVER_V6];
        while !pending.is_empty() {
            if self.unbound.has_exited() {
                bail!(
                    "unbound exited during startup; {}",
                    self.unbound_diagnostics()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "unbound did not answer on {pending:?} within {UNBOUND_READY_TIMEOUT:?}; {}",
                    self.unbound_diagnostics()
                );
            }
            let mut still_pending = Vec::new();
            for server in pending {
                let summary = Dnsperf::new(server, &probe)
                    .query_timeout(Duration::from_secs(1))
                    .time_limit(Duration::from_secs(1))
                    .run(self)?;
                if summary.completed != 1 {
                    still_pending.push(server);
                }
            }
            pending = still_pending;
            if !pending.is_empty() {
                thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    fn unbound_diagnostics(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.work_dir().join(name)).unwrap_or_default();
        format!(
            "unbound stderr: {:?}; unbound log: {:?}",
            read(UNBOUND_STDERR).trim(),
            read(UNBOUND_LOG).trim()
        )
    }
}

const UNBOUND_CONF: &str = "unbound.conf";
const UNBOUND_LOG: &str = "unbound.log";
const UNBOUND_STDERR: &str = "unbound.stderr";

fn ip(args: &[&str]) -> anyhow::Result<String> {
    run_checked(&program_path("ip").to_string_lossy(), args, IP_TIMEOUT)
}

/// Creates the veth pair directly inside the namespaces (it never appears on the host), adds the
/// addresses and brings every link up. `nodad` makes the IPv6 addresses usable at once, so
/// unbound can bind them without waiting for duplicate address detection.
fn connect(resolver: &NetNs, client: &NetNs) -> anyhow::Result<()> {
    let (res, cli) = (resolver.name.as_str(), client.name.as_str());
    ip(&[
        "-n",
        res,
        "link",
        "add",
        RESOLVER_IFACE,
        "type",
        "veth",
        "peer",
        "name",
        CLIENT_IFACE,
        "netns",
        cli,
    ])?;
    for (ns, iface, v4, v6) in [
        (res, RESOLVER_IFACE, RESOLVER_V4, RESOLVER_V6),
        (cli, CLIENT_IFACE, CLIENT_V4, CLIENT_V6),
    ] {
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{v4}/{PREFIX_V4}"),
            "dev",
            iface,
        ])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{v6}/{PREFIX_V6}"),
            "dev",
            iface,
            "nodad",
        ])?;
        ip(&["-n", ns, "link", "set", iface, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

fn start_unbound(resolver: &NetNs, work_dir: &Path) -> anyhow::Result<ChildGuard> {
    let conf_path = work_dir.join(UNBOUND_CONF);
    fs::write(&conf_path, unbound_config(work_dir))?;
    let stderr = File::create(work_dir.join(UNBOUND_STDERR))?;
    // `ip netns exec` execs unbound in place, so the child pid is unbound's own.
    let child = Lab::netns_command(&resolver.name, program_path("unbound"))
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .context("spawning unbound")?;
    Ok(ChildGuard::new(child, "unbound"))
}

/// An unbound that serves only the lab's addresses and answers NXDOMAIN for everything from a
/// static root zone, so it never needs (or tries) to reach the internet.
fn unbound_config(work_dir: &Path) -> String {
    let dir = quoted(work_dir);
    let pidfile = quoted(&work_dir.join("unbound.pid"));
    let logfile = quoted(&work_dir.join(UNBOUND_LOG));
    format!(
        r#"server:
    interface: {RESOLVER_V4}
    interface: {RESOLVER_V6}
    port: 53
    access-control: 169.254.53.0/24 allow
    access-control: fd53::/64 allow
    local-zone: "." static
    module-config: "iterator"
    do-daemonize: no
    username: ""
    chroot: ""
    directory: {dir}
    pidfile: {pidfile}
    num-threads: 1
    use-syslog: no
    logfile: {logfile}
    verbosity: 0
remote-control:
    control-enable: no
"#
    )
}

fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// Names of all network namespaces (`ip netns list`), for cleanup checks.
pub fn list_netns() -> anyhow::Result<Vec<String>> {
    let listing = ip(&["netns", "list"])?;
    // Lines look like `name` or `name (id: 3)`.
    Ok(listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Whether a process with `pid` exists and runs `program` (guards against pid reuse).
pub fn process_is_running(pid: u32, program: &str) -> bool {
    let comm_path = PathBuf::from(format!("/proc/{pid}/comm"));
    fs::read_to_string(comm_path).is_ok_and(|comm| comm.trim() == program)
}
